"""A2C for a whole population in one LightningModule: every member's gradient step in one batched pass.

`PopulationModule` holds the members (ordinary `A2C` modules), their collection, evaluation, metrics and
checkpoints; each member's `prepare_batch` computes its n-step/GAE advantages (and standardizes them where the
member does). What this adds is A2C's update, one gradient step per rollout: every member's policy, value and
entropy terms computed at once on the stacked parameters over the member's whole rollout, each member's gradient
clipped to its `max_grad_norm`, and every member stepped by the optimizer its ordinary run uses: RMSprop (alpha
0.99, eps 1e-5; `PopulationRMSprop`) or, with `algo.optimizer=adam`, fused Adam (`PopulationAdam`).
"""

import torch

from pglab.population.adam import PopulationAdam
from pglab.population.module import PopulationModule, max_norm_column, member_column, stack_batches
from pglab.population.optimizer import PopulationOptimizer
from pglab.population.rmsprop import PopulationRMSprop
from pglab.rollout.batch import TrainingBatch


class PopulationA2C(PopulationModule):
    """A population of `A2C` members (see `PopulationModule` for the arguments); they share `algo.optimizer`."""

    update_keys = (
        "losses/policy",
        "losses/value",
        "losses/entropy",
        "losses/total",
        "diagnostics/grad_norm",
    )

    def make_optimizer(self) -> PopulationOptimizer:
        configs = [m.module.config for m in self.members]
        lrs = [c.lr for c in configs]
        if configs[0].optimizer == "rmsprop":  # as `A2C.configure_optimizers`
            return PopulationRMSprop(self.stacked.params, lr=lrs, alpha=0.99, eps=1e-5)
        return PopulationAdam(self.stacked.params, lr=lrs, eps=1e-5)

    def training_step(self, batch: list[TrainingBatch | None], batch_idx: int) -> None:
        """One gradient step of every training member on its whole rollout `(P, B)`, as `A2C.training_step`."""
        members = self.training_members()
        configs = [self.members[k].module.config for k in members]
        data = stack_batches([batch[k] for k in members])
        device = data.obs.device
        log_probs, entropy, values = self.stacked.evaluate_actions(
            data.obs, data.actions, self.member_params(members)
        )
        pg_loss = -(log_probs * data.advantages).mean(-1)  # `policy_gradient_loss`, per member
        v_loss = 0.5 * (values - data.returns).pow(2).mean(-1)  # `value_loss`, per member
        entropy = entropy.mean(-1)
        vf_coef = member_column([c.vf_coef for c in configs], device)
        ent_coef = member_column([c.ent_coef for c in configs], device)
        loss = pg_loss + vf_coef * v_loss - ent_coef * entropy
        grad_norm, _ = self._step_members(loss, members, max_norm_column(configs, device))
        rows = torch.stack([pg_loss, v_loss, entropy, loss, grad_norm], 1).detach()
        for j, k in enumerate(members):
            self._update_means[k] = ([rows[j]], None)
