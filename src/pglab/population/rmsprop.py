"""RMSprop over a population's stacked parameters, with one learning rate and one step count per member.

Its arithmetic is torch's multi-tensor RMSprop (`torch.optim.RMSprop(foreach=True)`, what an ordinary A2C run uses;
no momentum, not centered, no weight decay), the same sequence of `torch._foreach_*` calls applied to each member's
rows of the stacked tensors (`PopulationOptimizer`), one sequence per distinct learning rate: member k's parameters,
square averages and step counts come out bit for bit as its ordinary run's RMSprop leaves them. (The update of the
square averages alone would batch over the stacked tensors, but the parameter step `addcdiv_(value=-lr)` does not:
scaling by a column of learning rates rounds differently, so the step is grouped by learning rate anyway.)
"""

from torch import Tensor

from pglab.algos.optimizers import foreach_rmsprop_step
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
        foreach_rmsprop_step(params, grads, state["square_avg"], steps, lr, self.alpha, self.eps)

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
