"""REINFORCE for a whole population in one LightningModule: the members' episodes played in lockstep, one batched
policy pass per step, and one optimizer step of every member per rollout.

`PopulationModule` holds the members (ordinary `REINFORCE` modules), their evaluation, metrics and checkpoints; each
member's `prepare_batch` computes its return weights. What this adds:

- Collection. A REINFORCE rollout is `episodes_per_rollout` whole episodes, so its length differs from member to
  member and from rollout to rollout. The members collect side by side: at each step one stacked policy pass acts
  for every member still collecting (each sampling from its own generator), then those members' envs step. A member
  whose episodes are complete waits, its envs untouched, until every member's are; then all update. On the torch
  backend all members' sub-envs are one batched env (`PopulationCollector.collect_episodes`: a waiting member's rows
  are held as they were); otherwise each member's collection (`RolloutCollector.start_episodes`, the steps of its
  own `collect_episodes`) runs on its own envs, so any env and wrapper works. Either way each member's envs see
  exactly its own run's steps.
- Update. The members' batches have different lengths, so each member's loss is computed on its own batch as
  `REINFORCE.training_step` computes it, with its module's code on its rows of the stacked parameters
  (`torch.func.functional_call`); one backward pass then fills every member's rows of the stacked gradients, each
  clipped to the member's `max_grad_norm`, and one fused Adam step (`PopulationAdam`, the optimizer of the member's
  run: eps 1e-5) steps every member at its own learning rate and schedule. Padding the batches to one length to
  batch the forward pass would change the rounding of every member's sums; REINFORCE updates once per
  `episodes_per_rollout` episodes, so the collection, which is batched, is where its time goes.
"""

import time

import torch
from torch import nn

from pglab.algos.losses import policy_gradient_loss
from pglab.population.adam import PopulationAdam
from pglab.population.module import PopulationModule, max_norm_column
from pglab.rollout.batch import Rollout, TrainingBatch


class _Distribution(nn.Module):
    """A policy's `distribution(obs)` as a module's forward, for `torch.func.functional_call`."""

    def __init__(self, policy: nn.Module):
        super().__init__()
        self.policy = policy

    def forward(self, obs: torch.Tensor) -> torch.distributions.Distribution:
        return self.policy.distribution(obs)


class PopulationREINFORCE(PopulationModule):
    """A population of `REINFORCE` members (see `PopulationModule` for the arguments); they share
    `episodes_per_rollout`."""

    fixed_length_rollouts = False

    update_keys = ("losses/policy", "losses/entropy", "losses/total", "diagnostics/grad_norm")

    def make_optimizer(self) -> PopulationAdam:
        # as `PolicyGradientModule.configure_optimizers`: fused Adam, eps 1e-5
        return PopulationAdam(self.stacked.params, lr=[m.module.config.lr for m in self.members], eps=1e-5)

    @torch.no_grad()
    def collect_rollouts(self, training: list[int]) -> dict[int, Rollout]:
        """Every training member's `episodes_per_rollout` episodes, its collection stepped by one stacked policy
        pass per step (the members still collecting draw from their generators), its envs in the population's
        batched env (torch backend) or by its own collector."""
        start = time.perf_counter()
        if self.collector is not None:  # the torch backend: one batched env of every member's sub-envs
            num_episodes = self.members[0].module.config.episodes_per_rollout
            rollouts = self.collector.collect_episodes(
                self.stacked, self.generators(), num_episodes, training
            )
        else:
            rollouts = self._collect_on_own_envs(training)
        self._add_collect_time(training, time.perf_counter() - start)
        return rollouts

    def _collect_on_own_envs(self, training: list[int]) -> dict[int, Rollout]:
        """Each member's collection (`start_episodes`) on its own envs, all stepped by one stacked policy pass."""
        collections = {}
        for k in training:
            module = self.members[k].module
            collections[k] = module.collector.start_episodes(
                module.policy, module.config.episodes_per_rollout
            )
        idle = torch.zeros_like(collections[training[0]].obs)  # the rows of members not collecting
        generators = self.generators()
        while running := [k for k in training if collections[k].running]:
            obs = torch.stack([collections[k].obs if k in running else idle for k in range(self.size)])
            actions, log_probs, values = self.stacked.act(obs, generators, drawing=running)
            for k in running:
                collections[k].step(actions[k], log_probs[k], values[k])
        return {k: collections[k].rollout() for k in training}

    def training_step(self, batch: list[TrainingBatch | None], batch_idx: int) -> None:
        """One gradient step of every training member on its whole batch, as `REINFORCE.training_step`."""
        members = self.training_members()
        names = [f"policy.{name}" for name in self.stacked.names]
        # every member's rows of each stacked parameter at once: one `unbind`, whose backward stacks the members'
        # gradients into the stacked tensor's (indexing each row would add a zero tensor per member instead)
        member_rows = [p.unbind(0) for p in self.stacked.params]
        pg_losses, entropies, losses = [], [], []
        for k in members:
            module, data = self.members[k].module, batch[k]
            rows = {name: p[k] for name, p in zip(names, member_rows, strict=True)}
            dist = torch.func.functional_call(_Distribution(module.policy), rows, (data.obs,))
            pg_loss = policy_gradient_loss(dist.log_prob(data.actions), data.advantages)
            entropy = dist.entropy().mean()
            pg_losses.append(pg_loss)
            entropies.append(entropy)
            losses.append(pg_loss - module.config.ent_coef * entropy)
        loss = torch.stack(losses)
        configs = [self.members[k].module.config for k in members]
        grad_norm, _ = self._step_members(loss, members, max_norm_column(configs, loss.device))
        rows = torch.stack([torch.stack(pg_losses), torch.stack(entropies), loss, grad_norm], 1).detach()
        for j, k in enumerate(members):
            self._update_means[k] = ([rows[j]], None)
