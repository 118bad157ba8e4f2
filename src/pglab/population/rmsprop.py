"""RMSprop over a population's stacked parameters, with one learning rate and one step count per member.

Its arithmetic is torch's multi-tensor RMSprop (`torch.optim.RMSprop(foreach=True)`, what an ordinary A2C run uses;
no momentum, not centered, no weight decay), the same sequence of `torch._foreach_*` calls applied to each member's
rows of the stacked tensors (`PopulationOptimizer`), one sequence per distinct learning rate: member k's parameters,
square averages and step counts come out bit for bit as its ordinary run's RMSprop leaves them. (The update of the
square averages alone would batch over the stacked tensors, but the parameter step `addcdiv_(value=-lr)` does not:
scaling by a column of learning rates rounds differently, so the step is grouped by learning rate anyway.)
"""

import torch
from torch import Tensor

from pglab.population.optimizer import PopulationOptimizer


class PopulationRMSprop(PopulationOptimizer):
    """Args:
    params, lr: as `PopulationOptimizer`.
    alpha, eps: RMSprop's smoothing constant and denominator term, shared by the members.
    """

    STATE = ("square_avg",)

    def __init__(
        self, params: list[Tensor], lr: list[float] | Tensor | float, alpha: float = 0.99, eps: float = 1e-8
    ):
        super().__init__(params, lr)
        self.alpha = float(alpha)
        self.eps = float(eps)

    def _step_rows(self, lr, params, grads, state, steps) -> None:
        square_avgs = state["square_avg"]
        if steps[
            0
        ].is_cpu:  # as torch.optim.RMSprop adds to CPU step counts (its overload with a wrapped 1.0)
            torch._foreach_add_(steps, torch.tensor(1.0), alpha=1.0)
        else:
            torch._foreach_add_(steps, 1)
        torch._foreach_mul_(square_avgs, self.alpha)
        torch._foreach_addcmul_(square_avgs, grads, grads, value=1 - self.alpha)
        avg = torch._foreach_sqrt(square_avgs)
        torch._foreach_add_(avg, self.eps)
        torch._foreach_addcdiv_(params, grads, avg, value=-lr)

    def param_group(self, member: int) -> dict:
        return {
            "lr": self.lr[member],
            "momentum": 0,
            "alpha": self.alpha,
            "eps": self.eps,
            "centered": False,
            "weight_decay": 0,
            "capturable": False,
            "foreach": True,
            "maximize": False,
            "differentiable": False,
        }
