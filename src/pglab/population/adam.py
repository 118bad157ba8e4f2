"""Adam over a population's stacked parameters, with one learning rate and one step count per member.

A population (issue: population training) keeps every member's copy of a parameter in one tensor `(P, ...)`,
member k in row k, so that one batched operation updates all members. torch's optimizers take one learning rate
per parameter group, and a group per member would split the stacked tensors again; hence this small optimizer.
Its arithmetic is torch's single-tensor Adam (`torch.optim.Adam(foreach=False)`), operation for operation, with
the scalars of that algorithm (step size, bias corrections) turned into per-member columns.

Members never couple: every operation is elementwise along the member axis, so one member's learning rate,
gradients or skipped steps leave every other member's parameters and moments bit for bit as they were.
"""

import functools

import torch
from torch import Tensor


class PopulationAdam:
    """Args:
    params: stacked parameters, each `(P, ...)` (member axis first), updated in place from their `.grad`.
    lr: `(P,)` learning rates (a float gives every member the same).
    betas, eps: Adam's, shared by the members.
    """

    def __init__(
        self,
        params: list[Tensor],
        lr: Tensor | float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ):
        self.params = list(params)
        if not self.params:
            raise ValueError("PopulationAdam needs at least one parameter")
        self.members = self.params[0].shape[0]
        if any(p.dim() == 0 or p.shape[0] != self.members for p in self.params):
            raise ValueError(f"every parameter needs the member axis first, of size {self.members}")
        self.lr = torch.as_tensor(lr, dtype=torch.float64).expand(self.members).clone()
        self.betas = betas
        self.eps = eps
        self.steps = torch.zeros(self.members, dtype=torch.int64)
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self, active: Tensor | None = None) -> None:
        """One Adam step of the members marked in `active` `(P,)` bool (default: all); the others keep their
        parameters, moments and step counts. A parameter without a gradient is left alone."""
        active = torch.ones(self.members, dtype=torch.bool) if active is None else active.cpu()
        self.steps += active.long()
        beta1, beta2 = self.betas
        # torch's Adam computes these scalars in Python floats; so does this, per member, for the same bits
        scalars = [_bias_corrections(beta1, beta2, int(s)) for s in self.steps.clamp(min=1).tolist()]
        neg_step_size = torch.tensor(
            [-lr / c1 for lr, (c1, _) in zip(self.lr.tolist(), scalars, strict=True)], dtype=torch.float64
        )
        bias_correction2_sqrt = torch.tensor([c2 for _, c2 in scalars], dtype=torch.float64)
        columns: dict[tuple[torch.dtype, torch.device], tuple[Tensor, Tensor, Tensor]] = {}
        for p, exp_avg, exp_avg_sq in zip(self.params, self.exp_avg, self.exp_avg_sq, strict=True):
            if p.grad is None:
                continue
            key = (p.dtype, p.device)
            if key not in columns:  # the per-member scalars as columns, once per dtype and device
                columns[key] = tuple(
                    t.to(device=p.device, dtype=dtype)
                    for t, dtype in (
                        (neg_step_size, p.dtype),
                        (bias_correction2_sqrt, p.dtype),
                        (active, torch.bool),
                    )
                )
            shape = (self.members,) + (1,) * (p.dim() - 1)
            step_size, bc2_sqrt, mask = (column.reshape(shape) for column in columns[key])
            grad = p.grad
            new_avg = exp_avg.lerp(grad, 1 - beta1)
            new_avg_sq = exp_avg_sq.mul(beta2).addcmul_(grad, grad, value=1 - beta2)
            denom = (new_avg_sq.sqrt() / bc2_sqrt).add_(self.eps)
            new_p = p + (step_size * new_avg) / denom
            exp_avg.copy_(torch.where(mask, new_avg, exp_avg))
            exp_avg_sq.copy_(torch.where(mask, new_avg_sq, exp_avg_sq))
            p.copy_(torch.where(mask, new_p, p))

    def state_dict(self) -> dict:
        return {
            "lr": self.lr.clone(),
            "steps": self.steps.clone(),
            "exp_avg": [t.detach().cpu().clone() for t in self.exp_avg],
            "exp_avg_sq": [t.detach().cpu().clone() for t in self.exp_avg_sq],
        }

    def load_state_dict(self, state: dict) -> None:
        self.lr = state["lr"].clone()
        self.steps = state["steps"].clone()
        for mine, saved in zip(
            self.exp_avg + self.exp_avg_sq, state["exp_avg"] + state["exp_avg_sq"], strict=True
        ):
            mine.copy_(saved)


@functools.cache
def _bias_corrections(beta1: float, beta2: float, step: int) -> tuple[float, float]:
    """Adam's `1 - beta1**step` and `sqrt(1 - beta2**step)`, as torch's Adam computes them (Python floats)."""
    return 1 - beta1 ** float(step), (1 - beta2 ** float(step)) ** 0.5
