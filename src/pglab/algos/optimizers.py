"""The optimizers of pglab's algorithms: torch's `Adam(fused=True)` and `RMSprop(foreach=True)`, whose plain steps
call torch's kernels directly.

Why by hand: a CartPole PPO gradient step of a 64x64 actor-critic costs about 1.3 ms on the CPU, and
`torch.optim.Adam.step` spends about 0.1 ms of it in Python bookkeeping around its one fused kernel (collecting the
parameters with gradients, initializing state, grouping the tensors by device and dtype, checking its options).
`Adam.step` and `RMSprop.step` here skip that bookkeeping where nothing needs it: every parameter of every group has
a dense gradient, all of one device and dtype, the state exists (torch's own step creates it, on the first step and
after a parameter gains its first gradient), and the options are the plain ones pglab uses (no AMP grad scaler, no
closure, no weight decay, AMSGrad, momentum, centering, maximization, capturable or differentiable mode). Then they
run the kernel sequence torch's step runs (`fused_adam_step`, `foreach_rmsprop_step`: the population optimizers
apply the same functions to each member's rows), so parameters, moments and step counts come out bit for bit as
torch's optimizers leave them, which the tests check; any other step is torch's own. Hooks, `state_dict`,
`load_state_dict` and the param groups are torch's: the state read at every step is whatever is loaded.
"""

import torch
from torch import Tensor
from torch.optim.optimizer import _global_optimizer_post_hooks, _global_optimizer_pre_hooks


def fused_adam_step(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    steps: list[Tensor],
    lr: float,
    betas: tuple[float, float],
    eps: float,
    step_rows: Tensor | None = None,
) -> None:
    """One step of `torch.optim.Adam(fused=True)` (no weight decay, AMSGrad or grad scaling) on tensors of one
    device and dtype: the step counts (float32 tensors) are incremented first, as torch does before its kernel
    (in one operation where they are the rows of `step_rows`: `shared_step_counts`)."""
    if step_rows is not None:
        step_rows.add_(1)
    else:
        torch._foreach_add_(steps, 1)
    torch._fused_adam_(
        params,
        grads,
        exp_avgs,
        exp_avg_sqs,
        [],
        steps,
        amsgrad=False,
        lr=lr,
        beta1=betas[0],
        beta2=betas[1],
        weight_decay=0.0,
        eps=eps,
        maximize=False,
        grad_scale=None,
        found_inf=None,
    )


def foreach_rmsprop_step(
    params: list[Tensor],
    grads: list[Tensor],
    square_avgs: list[Tensor],
    steps: list[Tensor],
    lr: float,
    alpha: float,
    eps: float,
    step_rows: Tensor | None = None,
) -> None:
    """One step of `torch.optim.RMSprop(foreach=True)` (no momentum, centering or weight decay) on real tensors of
    one device and dtype: torch's sequence of `torch._foreach_*` calls (the step counts incremented in one operation
    where they are the rows of `step_rows`: `shared_step_counts`)."""
    if step_rows is not None:
        step_rows.add_(1)
    elif steps[0].is_cpu:  # as torch adds to CPU step counts (its overload with a wrapped 1.0)
        torch._foreach_add_(steps, torch.tensor(1.0), alpha=1.0)
    else:
        torch._foreach_add_(steps, 1)
    torch._foreach_mul_(square_avgs, alpha)
    torch._foreach_addcmul_(square_avgs, grads, grads, value=1 - alpha)
    avg = torch._foreach_sqrt(square_avgs)
    torch._foreach_add_(avg, eps)
    torch._foreach_addcdiv_(params, grads, avg, value=-lr)


def shared_step_counts(states: list[dict]) -> Tensor | None:
    """A `(P,)` tensor whose rows are the step counts of `states` (P optimizer states, in order), so that one `add_`
    increments them all: on a CPU, `torch._foreach_add_` adds a number to each tensor in turn, with a conversion of the
    number each time (a 64x64 actor-critic's 12 counts: about 40 us of a 120 us fused Adam step). The counts become
    views of one tensor the first time (and again after `load_state_dict` gives them new tensors); None where they
    differ (a parameter that got its first gradient later), which the plain per-tensor increment then handles."""
    steps = [state["step"] for state in states]
    rows = steps[0]._base
    if rows is not None and rows.shape == (len(steps),) and all(step._base is rows for step in steps):
        return rows
    if any(step.shape != () or not torch.equal(step, steps[0]) for step in steps):
        return None
    rows = torch.stack(steps)
    for k, state in enumerate(states):
        state["step"] = rows[k]
    return rows


def _plain_gradients(optimizer: torch.optim.Optimizer) -> list[list[Tensor]] | None:
    """Every group's gradients where every parameter has a dense, real, initialized-state gradient of the first
    one's device and dtype, no AMP grad scaler is attached and no CUDA graph is being captured; otherwise None
    (torch's own step then runs)."""
    if (
        getattr(optimizer, "grad_scale", None) is not None
        or getattr(optimizer, "found_inf", None) is not None
    ):
        return None
    params = [p for group in optimizer.param_groups for p in group["params"]]
    if not params:
        return None
    device, dtype, state = params[0].device, params[0].dtype, optimizer.state
    if device.type == "cuda" and torch.cuda.is_current_stream_capturing():
        return None  # torch's step checks that a captured optimizer is capturable
    groups = []
    for group in optimizer.param_groups:
        grads = []
        for p in group["params"]:
            grad = p.grad
            if (
                grad is None
                or not state.get(p)  # (torch creates the state where it is missing or empty)
                or grad.layout != torch.strided
                or grad.device != device
                or grad.dtype != dtype
                or p.dtype != dtype
            ):
                return None
            grads.append(grad)
        groups.append(grads)
    return groups if dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16) else None


def _torch_step(optimizer_class: type[torch.optim.Optimizer]):
    """`optimizer_class.step` without the wrapper that runs the step hooks (torch wraps a class's `step` once it
    has an instance): the subclass's `step` is wrapped itself, and the hooks run once a step."""
    step = optimizer_class.step
    return step.__wrapped__ if getattr(step, "hooked", False) else step


class _PlainStep:
    """The fast plain `step` of an optimizer subclass (module docstring): its `_plain(group)` says whether a group's
    options of its own algorithm are the plain ones (`_plain_options` checks those they share),
    `_step_group(params, grads, states, group)` applies the kernels to a group, and any other step is
    `_torch_class`'s own."""

    _torch_class: type[torch.optim.Optimizer]

    def _plain_options(self, group: dict) -> bool:
        return (
            group["weight_decay"] == 0
            and not group["maximize"]
            and not group["capturable"]
            and not group["differentiable"]
            and not isinstance(group["lr"], Tensor)
            and self._plain(group)
        )

    def step(self, closure=None):
        if closure is not None or not all(self._plain_options(group) for group in self.param_groups):
            return _torch_step(self._torch_class)(self, closure)
        grads = _plain_gradients(self)
        if grads is None:
            return _torch_step(self._torch_class)(self, closure)
        with torch.no_grad():
            for group, group_grads in zip(self.param_groups, grads, strict=True):
                if group["params"]:
                    states = [self.state[p] for p in group["params"]]
                    self._step_group(group["params"], group_grads, states, group)
        return None


class Adam(_PlainStep, torch.optim.Adam):
    """`torch.optim.Adam(params, lr, betas, eps, fused=True)` with the fast plain step (module docstring)."""

    _torch_class = torch.optim.Adam

    def __init__(self, params, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        super().__init__(params, lr=lr, betas=betas, eps=eps, fused=True)

    @staticmethod
    def _plain(group: dict) -> bool:
        return group["fused"] and not group["amsgrad"] and not group["decoupled_weight_decay"]

    @staticmethod
    def _step_group(params, grads, states, group) -> None:
        exp_avgs = [s["exp_avg"] for s in states]
        exp_avg_sqs = [s["exp_avg_sq"] for s in states]
        step_rows = shared_step_counts(states)
        steps = [s["step"] for s in states]
        fused_adam_step(
            params, grads, exp_avgs, exp_avg_sqs, steps, group["lr"], group["betas"], group["eps"], step_rows
        )


class RMSprop(_PlainStep, torch.optim.RMSprop):
    """`torch.optim.RMSprop(params, lr, alpha, eps, foreach=True)` with the fast plain step (module docstring)."""

    _torch_class = torch.optim.RMSprop

    def __init__(self, params, lr: float, alpha: float = 0.99, eps: float = 1e-8):
        super().__init__(params, lr=lr, alpha=alpha, eps=eps, foreach=True)

    @staticmethod
    def _plain(group: dict) -> bool:
        return group["foreach"] and group["momentum"] == 0 and not group["centered"]

    @staticmethod
    def _step_group(params, grads, states, group) -> None:
        square_avgs = [s["square_avg"] for s in states]
        step_rows = shared_step_counts(states)
        steps = [s["step"] for s in states]
        foreach_rmsprop_step(
            params, grads, square_avgs, steps, group["lr"], group["alpha"], group["eps"], step_rows
        )


def step_unwrapped(optimizer: torch.optim.Optimizer, own_post_hooks: tuple = ()) -> None:
    """`optimizer.step()`, without the wrapper torch puts around an optimizer class's `step` where that wrapper would
    do nothing but run `own_post_hooks` (hooks the caller has no need of for this step): no profiler is on (the
    wrapper opens a profiler scope and calls the profiler's entry point), no other step hook is registered, on the
    optimizer or globally, and the optimizer has no `step` of its own replacing its class's. The wrapper costs about 36 us of a 64x64 actor-critic's 120 us fused Adam step (CPU)."""
    step = type(optimizer).step
    if (
        not getattr(step, "hooked", False)
        or "step" in vars(optimizer)  # an instance's own `step` (e.g. an lr scheduler's step counting)
        or torch.autograd._profiler_enabled()
        or optimizer._optimizer_step_pre_hooks
        or _global_optimizer_pre_hooks
        or _global_optimizer_post_hooks
        or any(hook not in own_post_hooks for hook in optimizer._optimizer_step_post_hooks.values())
    ):
        optimizer.step()
        return
    step.__wrapped__(optimizer)
