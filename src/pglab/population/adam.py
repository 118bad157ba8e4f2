"""Adam over a population's stacked parameters, with one learning rate and one step count per member.

A population keeps every member's copy of a parameter in one tensor `(P, ...)`, member k in row k, so that one
batched forward and backward pass serves all members. torch's optimizers take one learning rate per parameter
group; this optimizer gives each member its own, and skips members (`step(active=...)`) that stopped their update
early (target KL) or failed.

Its arithmetic is torch's fused Adam kernel (`torch._fused_adam_`, what `torch.optim.Adam(fused=True)` runs, and
what every ordinary pglab run uses), applied to each member's rows of the stacked tensors: one kernel call per
distinct learning rate among the active members, over those members' rows of every parameter. The kernel is
elementwise, so member k's parameters, moments and step counts come out bit for bit as an ordinary run's
`Adam(fused=True)` leaves them, and one member's learning rate, gradients or skipped steps never touch another's.
The step counts are float32 tensors per member and parameter, as the fused optimizer keeps them.
"""

from collections import defaultdict

import torch
from torch import Tensor


class PopulationAdam:
    """Args:
    params: stacked parameters, each `(P, ...)` (member axis first, contiguous), updated in place from `.grad`.
    lr: `(P,)` learning rates (a float gives every member the same); `lr[k]` may be changed between steps.
    betas, eps: Adam's, shared by the members.
    """

    def __init__(
        self,
        params: list[Tensor],
        lr: list[float] | Tensor | float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ):
        self.params = list(params)
        if not self.params:
            raise ValueError("PopulationAdam needs at least one parameter")
        self.members = self.params[0].shape[0]
        if any(p.dim() == 0 or p.shape[0] != self.members or not p.is_contiguous() for p in self.params):
            raise ValueError(
                f"every parameter needs the member axis first, of size {self.members}, contiguous"
            )
        lr = torch.as_tensor(lr, dtype=torch.float64).expand(self.members)
        self.lr: list[float] = [float(value) for value in lr.tolist()]
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = float(eps)
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        #: every member's rows of the parameters and moments, made once (views: the tensors change in place)
        self._rows = [
            [t.detach().unbind(0) for t in tensors]
            for tensors in (self.params, self.exp_avg, self.exp_avg_sq)
        ]
        #: `steps[k][i]`: member k's step count of parameter i (a float32 scalar tensor, as fused Adam keeps it)
        self.steps = [
            [torch.zeros((), dtype=torch.float32, device=p.device) for p in self.params]
            for _ in range(self.members)
        ]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step_counts(self) -> list[int]:
        """Member k's number of steps taken (of its first parameter)."""
        return [int(steps[0].item()) for steps in self.steps]

    @torch.no_grad()
    def step(self, active: list[bool] | Tensor | None = None) -> None:
        """One Adam step of the members marked in `active` (`(P,)` bools; default: all); the others keep their
        parameters, moments and step counts. A parameter without a gradient is left alone (for every member)."""
        if active is None:
            active = [True] * self.members
        elif isinstance(active, Tensor):
            active = active.tolist()
        by_lr: dict[float, list[int]] = defaultdict(list)
        for member, (is_active, lr) in enumerate(zip(active, self.lr, strict=True)):
            if is_active:
                by_lr[lr].append(member)
        with_grad = [i for i, p in enumerate(self.params) if p.grad is not None]
        grads = {i: self.params[i].grad.unbind(0) for i in with_grad}
        beta1, beta2 = self.betas
        for lr, members in by_lr.items():
            rows = [(k, i) for k in members for i in with_grad]
            steps = [self.steps[k][i] for k, i in rows]
            torch._foreach_add_(steps, 1)  # as torch.optim.Adam's fused path does before its kernel
            torch._fused_adam_(
                [self._rows[0][i][k] for k, i in rows],
                [grads[i][k] for k, i in rows],
                [self._rows[1][i][k] for k, i in rows],
                [self._rows[2][i][k] for k, i in rows],
                [],
                steps,
                amsgrad=False,
                lr=lr,
                beta1=beta1,
                beta2=beta2,
                weight_decay=0.0,
                eps=self.eps,
                maximize=False,
                grad_scale=None,
                found_inf=None,
            )

    # ----------------------------------------------------------------- one member as an ordinary optimizer
    def member_state_dict(self, member: int) -> dict:
        """Member `member`'s state in the form of `torch.optim.Adam(fused=True).state_dict()` for its parameters
        in this optimizer's order (what an ordinary run's checkpoint holds)."""
        return {
            "state": {
                i: {
                    "step": self.steps[member][i].clone(),
                    "exp_avg": self.exp_avg[i][member].clone(),
                    "exp_avg_sq": self.exp_avg_sq[i][member].clone(),
                }
                for i in range(len(self.params))
                if float(self.steps[member][i]) > 0
            },
            "param_groups": [
                {
                    "lr": self.lr[member],
                    "betas": self.betas,
                    "eps": self.eps,
                    "weight_decay": 0,
                    "amsgrad": False,
                    "maximize": False,
                    "foreach": None,
                    "capturable": False,
                    "differentiable": False,
                    "fused": True,
                    "decoupled_weight_decay": False,
                    "params": list(range(len(self.params))),
                }
            ],
        }

    def load_member_state_dict(self, member: int, state: dict) -> None:
        """The inverse of `member_state_dict` (e.g. from an ordinary run's checkpoint)."""
        self.lr[member] = float(state["param_groups"][0]["lr"])
        for i in range(len(self.params)):
            saved = state["state"].get(i)
            if saved is None:
                self.steps[member][i].zero_()
                self.exp_avg[i][member].zero_()
                self.exp_avg_sq[i][member].zero_()
                continue
            self.steps[member][i].copy_(saved["step"])
            self.exp_avg[i][member].copy_(saved["exp_avg"])
            self.exp_avg_sq[i][member].copy_(saved["exp_avg_sq"])

    def state_dict(self) -> dict:
        return {"members": [self.member_state_dict(k) for k in range(self.members)]}

    def load_state_dict(self, state: dict) -> None:
        for member, member_state in enumerate(state["members"]):
            self.load_member_state_dict(member, member_state)
