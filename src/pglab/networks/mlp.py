"""MLP trunks with orthogonal initialization (the "37 implementation details of PPO", detail 2)."""

import functools
import math
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.nn.modules import module as _module

from pglab.errors import ConfigError
from pglab.networks.activations import FastTanh, fast_tanh_of_doubled

#: `fast_tanh` is tanh computed fast on the CPU (`pglab.networks.activations`); `tanh` is `torch.tanh`
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "fast_tanh": FastTanh,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
}

HIDDEN_GAIN = math.sqrt(2)


def orthogonal_init(layer: nn.Linear, gain: float) -> nn.Linear:
    """Orthogonal weights scaled by `gain`, zero bias."""
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


def build_mlp(in_features: int, hidden_sizes: list[int], activation: str) -> nn.Sequential:
    """Linear + activation layers, orthogonally initialized with gain sqrt(2).

    Returns an empty `nn.Sequential` (identity) when `hidden_sizes` is empty.
    """
    if activation not in ACTIVATIONS:
        raise ConfigError(
            f"network.activation={activation!r} is not supported; choose one of {sorted(ACTIVATIONS)}"
        )
    if any(int(h) < 1 for h in hidden_sizes):
        raise ConfigError(f"network.hidden_sizes={list(hidden_sizes)} must be positive integers")
    layers: list[nn.Module] = []
    size = in_features
    for hidden in hidden_sizes:
        layers += [orthogonal_init(nn.Linear(size, int(hidden)), HIDDEN_GAIN), ACTIVATIONS[activation]()]
        size = int(hidden)
    return nn.Sequential(*layers)


def output_size(in_features: int, hidden_sizes: list[int]) -> int:
    """Feature size at the end of an MLP built by `build_mlp`."""
    return int(hidden_sizes[-1]) if hidden_sizes else in_features


def hooked(module: nn.Module) -> bool:
    """Whether calling `module` would run a hook (its own or a global one), as `nn.Module.__call__` checks."""
    return bool(
        module._forward_hooks
        or module._forward_pre_hooks
        or module._backward_hooks
        or module._backward_pre_hooks
        or _module._global_forward_hooks
        or _module._global_forward_pre_hooks
        or _module._global_backward_hooks
        or _module._global_backward_pre_hooks
    )


def call_layer(layer: nn.Module, x: Tensor) -> Tensor:
    """`layer(x)`, without the module-call machinery where no hook would run: the same operations, minus two
    Python calls a layer, which on a 64x64 actor-critic over a CartPole rollout step of 8 envs cost about as
    much as the layers themselves. With a hook registered (a profiler's, a user's), the module is called."""
    return layer(x) if hooked(layer) else layer.forward(x)


def _linear_fast_tanh(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """`fast_tanh(F.linear(x, weight, bias))` of a 2-D `x`, bit for bit: on the CPU the `addmm` computes `2x` at once
    (`pglab.networks.activations.fast_tanh_of_doubled`)."""
    if x.device.type != "cpu":
        return torch.tanh(torch.addmm(bias, x, weight.t()))
    return fast_tanh_of_doubled(torch.addmm(bias, x, weight.t(), beta=2.0, alpha=2.0))


#: the activations a trunk's direct pass computes (`_TrunkFunction`, `run_trunk`): `activation(F.linear(x, weight,
#: bias))` of a 2-D `x`, and the backward from the output that autograd's node of the activation computes
#: (TanhBackward0, ReluBackward0, FastTanh's own)
_TRUNK_ACTIVATIONS = {
    FastTanh: (_linear_fast_tanh, torch.ops.aten.tanh_backward),
    nn.Tanh: (lambda x, w, b: torch.tanh(torch.addmm(b, x, w.t())), torch.ops.aten.tanh_backward),
    nn.ReLU: (
        lambda x, w, b: torch.relu(torch.addmm(b, x, w.t())),
        lambda grad, y: torch.ops.aten.threshold_backward(grad, y, 0),
    ),
}


def _direct_outputs(x: Tensor, activations: tuple, params: list[Tensor] | tuple[Tensor, ...]) -> list[Tensor]:
    """`x` and each layer's output of a trunk's direct pass (`params`: weight_0, bias_0, weight_1, ...)."""
    outputs = [x]
    for (forward, _), weight, bias in zip(activations, params[0::2], params[1::2], strict=True):
        outputs.append(forward(outputs[-1], weight, bias))
    return outputs


class _TrunkFunction(torch.autograd.Function):
    """An MLP trunk (`Linear`, activation, ...) on a 2-D batch as one autograd node: `apply(x, activations,
    weight_0, bias_0, weight_1, ...)`.

    Why by hand: in a CartPole PPO gradient step of a 64x64 actor-critic, the trunks' eight autograd nodes (a linear
    layer and an activation each per layer) cost about 0.12 ms of the step's 1.3 ms in node bookkeeping alone. Here
    the forward computes what the modules compute (`_TRUNK_ACTIVATIONS`: `addmm(bias, x, weight^T)` as `F.linear`,
    then the activation) and the backward runs the operations of autograd's backward of those nodes, with the same operands and
    layouts: the activation's backward from its output, the weight gradient as `grad^T @ input` (`addmm`'s
    backward of a transposed weight), the bias gradient as `grad.sum(0)`, the input gradient as `grad @ weight`. So
    values and gradients come out bit for bit as the modules', which the tests check (`direct_pass` keeps to the
    shapes where autograd's `addmm` backward takes those layouts)."""

    @staticmethod
    def forward(ctx, x: Tensor, activations: tuple, *params: Tensor) -> Tensor:
        # (the form without `setup_context`: its argument binding costs about 0.1 ms a call)
        outputs = _direct_outputs(x, activations, params)
        ctx.activations = activations
        ctx.save_for_backward(*outputs, *params[0::2])
        return outputs[-1]

    @staticmethod
    @torch.autograd.function.once_differentiable  # (a double backward through it raises instead of being wrong)
    def backward(ctx, grad: Tensor):
        saved = ctx.saved_tensors
        layers = len(ctx.activations)
        outputs, weights = saved[: layers + 1], saved[layers + 1 :]
        grad_x, grads = trunk_backward(
            grad, ctx.activations, outputs, weights, ctx.needs_input_grad[0], ctx.needs_input_grad[2:]
        )
        return grad_x, None, *grads


def trunk_backward(
    grad: Tensor,
    activations: tuple,
    outputs: list[Tensor] | tuple[Tensor, ...],
    weights: list[Tensor] | tuple[Tensor, ...],
    input_needs_grad: bool,
    params_need_grad: list[bool] | tuple[bool, ...],
) -> tuple[Tensor | None, list[Tensor | None]]:
    """The backward of a trunk's direct pass from the gradient `grad` of its output, with the operations of autograd's
    backward of the modules (`_TrunkFunction`): `(input gradient or None, [weight_0, bias_0, weight_1, ...]
    gradients, None where a parameter needs none)`. `outputs`: `_direct_outputs`' (the input first)."""
    layers = len(activations)
    grads: list[Tensor | None] = [None] * (2 * layers)
    for i in reversed(range(layers)):
        grad = activations[i][1](grad, outputs[i + 1])
        if params_need_grad[2 * i]:
            grads[2 * i] = grad.t().mm(outputs[i])
        if params_need_grad[2 * i + 1]:
            grads[2 * i + 1] = grad.sum(0)
        if i == 0 and not input_needs_grad:
            return None, grads
        grad = grad.mm(weights[i])
    return grad, grads


def direct_pass(layers: list[nn.Module], x: Tensor) -> tuple | None:
    """The activations of a trunk's direct pass (`_TRUNK_ACTIVATIONS`) for its `layers` on `x`, or None where the
    trunk runs layer by layer: the layers are not `Linear` + activation pairs of `_TRUNK_ACTIVATIONS` (with biases
    and contiguous weights, without hooks), `x` is not 2-D, or autocast is on. Under autograd (`_TrunkFunction`)
    also where `x` has fewer than 2 rows or needs a gradient but is not contiguous, or a layer is narrower than 2
    (there autograd's `addmm` backward may take other operand layouts), and under `torch.func` transforms or
    forward-mode AD."""
    if x.dim() != 2 or len(layers) % 2 or not layers:
        return None
    recording = torch.is_grad_enabled()
    if recording and (
        x.shape[0] < 2
        or (x.requires_grad and not x.is_contiguous())
        # torch.func transforms and forward-mode AD need the modules' own derivative formulas
        or torch._C._are_functorch_transforms_active()
        or torch.autograd.forward_ad._current_level >= 0
    ):
        return None
    activations = []
    for linear, activation in zip(layers[0::2], layers[1::2], strict=True):
        functions = _TRUNK_ACTIVATIONS.get(type(activation))
        if (
            type(linear) is not nn.Linear
            or functions is None
            or linear.bias is None
            or not linear.weight.is_contiguous()
            or (recording and min(linear.in_features, linear.out_features) < 2)
            or hooked(linear)
            or hooked(activation)
        ):
            return None
        activations.append(functions)
    if torch.is_autocast_enabled(x.device.type):
        return None
    return tuple(activations)


def run_trunk(trunk: nn.Module, x: Tensor) -> Tensor:
    """`trunk(x)`, bit for bit. An MLP trunk (a plain `nn.Sequential`) on a 2-D batch runs its layers' operations
    directly (`direct_pass`): under autograd as one node (`_TrunkFunction`), otherwise in a loop; on the CPU a
    `fast_tanh` layer's `addmm` computes twice its output at once (`_linear_fast_tanh`). Other trunks run their
    layers in turn through `call_layer`."""
    if type(trunk) is not nn.Sequential or hooked(trunk):
        return trunk(x)
    layers = list(trunk)
    activations = direct_pass(layers, x)
    if activations is None:
        for layer in layers:
            x = call_layer(layer, x)
        return x
    params = [p for linear in layers[0::2] for p in (linear.weight, linear.bias)]
    if torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in params)):
        return _TrunkFunction.apply(x, activations, *params)
    return _direct_outputs(x, activations, params)[-1]


def trunk_forward(trunk: nn.Module, x: Tensor) -> Callable[[Tensor], Tensor]:
    """`run_trunk(trunk, ·)` outside autograd, for many inputs like `x` (same dimensions, device and autocast
    state), with what `run_trunk` decides at every call (the direct pass or layer by layer, its activations, the
    modules' parameters) decided once, now: the same operations on the same parameter tensors, so bit for bit
    `run_trunk`'s, without its checks (about 20 us of a 64x64 trunk's 40 us on a rollout step of 8 CartPoles).

    It reads the parameters at each call (an optimizer's in-place update shows), not the modules: valid while the
    trunk's layers, their parameter tensors and hooks stay as they are (a collector makes one for each rollout)."""
    if torch.is_grad_enabled():
        raise RuntimeError("trunk_forward is for passes outside autograd (under torch.no_grad())")
    if type(trunk) is not nn.Sequential or hooked(trunk):
        return trunk
    layers = list(trunk)
    activations = direct_pass(layers, x)
    if activations is None:
        return functools.partial(run_trunk, trunk)
    params = tuple(p for linear in layers[0::2] for p in (linear.weight, linear.bias))
    return lambda y: _direct_outputs(y, activations, params)[-1]
