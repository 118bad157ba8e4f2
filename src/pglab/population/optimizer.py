"""What a population's optimizers share: stacked parameters, one learning rate and one step count per member.

A population keeps every member's copy of a parameter in one tensor `(P, ...)`, member k in row k, so that one
batched forward and backward pass serves all members. torch's optimizers take one learning rate per parameter
group; a population optimizer gives each member its own, and skips members (`step(active=...)`) that stopped their
update early (target KL) or failed. Its arithmetic is the torch optimizer that an ordinary run uses, applied to each
member's rows of the stacked tensors, one call per distinct learning rate among the active members: the kernels are
elementwise, so member k's parameters, state and step counts come out bit for bit as its ordinary run's optimizer
leaves them, and one member's learning rate, gradients or skipped steps never touch another's.

Subclasses name their per-parameter state tensors (`STATE`) and the torch optimizer's `param_groups` entry
(`param_group`), and apply one step to lists of member rows (`_step_rows`).
"""

from collections import defaultdict
from typing import ClassVar

import torch
from torch import Tensor


class PopulationOptimizer:
    """Args:
    params: stacked parameters, each `(P, ...)` (member axis first, contiguous), updated in place from `.grad`.
    lr: `(P,)` learning rates (a float gives every member the same); `lr[k]` may be changed between steps.
    """

    #: the names of the per-parameter state tensors, as the torch optimizer's `state_dict` names them
    STATE: ClassVar[tuple[str, ...]] = ()

    def __init__(self, params: list[Tensor], lr: list[float] | Tensor | float):
        self.params = list(params)
        name = type(self).__name__
        if not self.params:
            raise ValueError(f"{name} needs at least one parameter")
        self.members = self.params[0].shape[0]
        if any(p.dim() == 0 or p.shape[0] != self.members or not p.is_contiguous() for p in self.params):
            raise ValueError(
                f"every parameter needs the member axis first, of size {self.members}, contiguous"
            )
        lr = torch.as_tensor(lr, dtype=torch.float64).expand(self.members)
        self.lr: list[float] = [float(value) for value in lr.tolist()]
        #: `state[name][i]`: the state tensor `name` of parameter i, stacked like the parameter
        self.state = {name: [torch.zeros_like(p) for p in self.params] for name in self.STATE}
        #: every member's rows of the parameters and state, made once (views: the tensors change in place)
        self._param_rows = [p.detach().unbind(0) for p in self.params]
        self._state_rows = {name: [t.unbind(0) for t in tensors] for name, tensors in self.state.items()}
        #: `steps[k][i]`: member k's step count of parameter i (a float32 scalar tensor, as torch keeps it)
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
        """One step of the members marked in `active` (`(P,)` bools; default: all); the others keep their
        parameters, state and step counts. A parameter without a gradient is left alone (for every member)."""
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
        for lr, members in by_lr.items():
            rows = [(k, i) for k in members for i in with_grad]
            self._step_rows(
                lr,
                [self._param_rows[i][k] for k, i in rows],
                [grads[i][k] for k, i in rows],
                {name: [tensors[i][k] for k, i in rows] for name, tensors in self._state_rows.items()},
                [self.steps[k][i] for k, i in rows],
            )

    def _step_rows(
        self, lr: float, params: list[Tensor], grads: list[Tensor], state: dict[str, list[Tensor]], steps
    ) -> None:
        """One step, at learning rate `lr`, of the member rows `params` (each a parameter of one member)."""
        raise NotImplementedError

    def param_group(self, member: int) -> dict:
        """Member `member`'s param group as the ordinary run's optimizer's `state_dict` holds it (without params)."""
        raise NotImplementedError

    # ----------------------------------------------------------------- one member as an ordinary optimizer
    def member_state_dict(self, member: int) -> dict:
        """Member `member`'s state in the form of the ordinary run's optimizer's `state_dict()` for its parameters
        in this optimizer's order (what an ordinary run's checkpoint holds)."""
        return {
            "state": {
                i: {
                    "step": self.steps[member][i].clone(),
                    **{name: self.state[name][i][member].clone() for name in self.STATE},
                }
                for i in range(len(self.params))
                if float(self.steps[member][i]) > 0
            },
            "param_groups": [{**self.param_group(member), "params": list(range(len(self.params)))}],
        }

    def load_member_state_dict(self, member: int, state: dict) -> None:
        """The inverse of `member_state_dict` (e.g. from an ordinary run's checkpoint)."""
        self.lr[member] = float(state["param_groups"][0]["lr"])
        for i in range(len(self.params)):
            saved = state["state"].get(i)
            self.steps[member][i].copy_(saved["step"] if saved is not None else 0)
            for name in self.STATE:
                target = self.state[name][i][member]
                target.copy_(saved[name]) if saved is not None else target.zero_()

    def state_dict(self) -> dict:
        return {"members": [self.member_state_dict(k) for k in range(self.members)]}

    def load_state_dict(self, state: dict) -> None:
        for member, member_state in enumerate(state["members"]):
            self.load_member_state_dict(member, member_state)
