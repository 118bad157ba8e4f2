"""Adam over a population's stacked parameters, with one learning rate and one step count per member.

Its arithmetic is torch's fused Adam kernel (`torch._fused_adam_`, what `torch.optim.Adam(fused=True)` runs, and
what ordinary pglab runs use), applied to each member's rows of the stacked tensors (`PopulationOptimizer`): member
k's parameters, moments and step counts come out bit for bit as an ordinary run's `Adam(fused=True)` leaves them.
The step counts are float32 tensors per member and parameter, as the fused optimizer keeps them.
"""

from torch import Tensor

from pglab.algos.optimizers import fused_adam_step
from pglab.population.optimizer import PopulationOptimizer


class PopulationAdam(PopulationOptimizer):
    """Args:
    params, lr: as `PopulationOptimizer`.
    betas, eps: Adam's, shared by the members.
    """

    STATE = ("exp_avg", "exp_avg_sq")

    def __init__(
        self,
        params: list[Tensor],
        lr: list[float] | Tensor | float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ):
        super().__init__(params, lr)
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = float(eps)

    @property
    def exp_avg(self) -> list[Tensor]:
        return self.state["exp_avg"]

    @property
    def exp_avg_sq(self) -> list[Tensor]:
        return self.state["exp_avg_sq"]

    def _step_rows(self, lr, params, grads, state, steps) -> None:
        fused_adam_step(params, grads, state["exp_avg"], state["exp_avg_sq"], steps, lr, self.betas, self.eps)

    def param_group(self, member: int) -> dict:
        return {
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
        }
