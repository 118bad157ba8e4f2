"""VPG for a whole population in one LightningModule: every member's policy step and value regression batched.

`PopulationModule` holds the members (ordinary `VPG` modules), their collection, evaluation, metrics and
checkpoints; each member's `prepare_batch` computes its reward-to-go and advantages (GAE or reward-to-go minus V,
standardized where the member does). What this adds is VPG's update, as `VPG.training_step` takes it: one
policy-gradient step of every member's actor (fused Adam at the member's `lr`), the approximate KL of that step,
then `value_updates` full-batch regression steps of every member's separate critic (a second fused Adam at the
member's `vf_lr`). Each step is one batched pass over the stacked parameters, each member's gradient clipped to its
own `max_grad_norm`; a member that diverges stops taking steps at once, as its own run would stop.
"""

import torch
from torch import Tensor

from pglab.population.adam import PopulationAdam
from pglab.population.module import PopulationModule, max_norm_column, member_column, stack_batches
from pglab.rollout.batch import TrainingBatch


class PopulationVPG(PopulationModule):
    """A population of `VPG` members (see `PopulationModule` for the arguments); they share `value_updates`."""

    update_keys = (
        "losses/policy",
        "losses/value",
        "losses/entropy",
        "losses/total",
        "diagnostics/approx_kl",
        "diagnostics/grad_norm",
    )

    def make_optimizer(self) -> PopulationAdam:
        lrs = [m.module.config.lr for m in self.members]  # as `VPG.configure_optimizers`: Adam, torch's eps
        #: the critics' optimizer, each member's at its `vf_lr`
        self.value_optimizer = PopulationAdam(
            self.stacked.critic_params(), lr=[m.module.config.vf_lr for m in self.members]
        )
        return PopulationAdam(self.stacked.actor_params(), lr=lrs)

    def population_optimizers(self) -> list[PopulationAdam]:
        return [self.optimizer, self.value_optimizer]

    def training_step(self, batch: list[TrainingBatch | None], batch_idx: int) -> None:
        members = self.training_members()
        configs = [self.members[k].module.config for k in members]
        data = stack_batches([batch[k] for k in members])
        device = data.obs.device
        max_norm = max_norm_column(configs, device)
        ent_coef = member_column([c.ent_coef for c in configs], device)

        log_probs, entropy = self.stacked.log_prob_and_entropy(
            data.obs, data.actions, self.member_params(members)
        )
        entropy = entropy.mean(-1)
        pg_loss = -(log_probs * data.advantages).mean(-1)  # `policy_gradient_loss`, per member
        loss = pg_loss - ent_coef * entropy
        grad_norm, going = self._step_members(loss, members, max_norm)
        with torch.no_grad():
            new_log_probs, _ = self.stacked.log_prob_and_entropy(
                data.obs, data.actions, self.member_params(members)
            )
            approx_kl = (data.old_log_probs - new_log_probs).mean(-1)

        # the critics' regression: only members still going take more steps (a diverged run stops at once)
        v_loss = torch.full((len(members),), float("nan"), device=device)
        stepping = [j for j in range(len(members)) if going[j]]
        for _ in range(configs[0].value_updates):
            if not stepping:
                break
            ids = [members[j] for j in stepping]
            rows = torch.tensor(stepping, device=device)
            obs, returns = (
                self._take(data.obs, rows, len(members)),
                self._take(data.returns, rows, len(members)),
            )
            values = self.stacked.critic_values(obs, self.member_params(ids, critic_only=True))
            step_loss = 0.5 * (values - returns).pow(2).mean(-1)  # `value_loss`, per member
            v_loss[rows] = step_loss.detach()
            _, still = self._step_members(step_loss, ids, max_norm[rows], optimizer=self.value_optimizer)
            stepping = [j for j, go in zip(stepping, still, strict=True) if go]
        values_row = torch.stack([pg_loss, v_loss, entropy, loss, approx_kl, grad_norm], 1).detach()
        for j, k in enumerate(members):
            self._update_means[k] = ([values_row[j]], None)

    @staticmethod
    def _take(x: Tensor, rows: Tensor, size: int) -> Tensor:
        return x if len(rows) == size else x[rows]
