"""PPO for a whole population in one LightningModule: every member's update in one batched pass.

`PopulationModule` holds the members (ordinary `PPO` modules), their collection, evaluation, metrics and
checkpoints. What this adds is PPO's update: `update_epochs` passes of `num_minibatches` minibatches, each member's
minibatches drawn from its own generator in its ordinary run's order, every member's clipped-surrogate loss computed
at once on the stacked parameters, and `PopulationAdam` (fused Adam per member) stepping them, with each member's
clipping, advantage normalization, target-KL early stop and coefficients.
"""

import torch
from torch import Tensor

from pglab.population.adam import PopulationAdam
from pglab.population.module import PopulationModule, expand_index, stack_batches
from pglab.rollout.batch import TrainingBatch

#: the per-minibatch metrics of the update, in the order they are stacked
UPDATE_KEYS = (
    "losses/policy",
    "losses/value",
    "losses/entropy",
    "losses/total",
    "diagnostics/approx_kl",
    "diagnostics/clip_fraction",
    "diagnostics/grad_norm",
)


class PopulationPPO(PopulationModule):
    """A population of `PPO` members (see `PopulationModule` for the arguments)."""

    update_keys = UPDATE_KEYS

    def make_optimizer(self) -> PopulationAdam:
        return PopulationAdam(self.stacked.params, lr=[m.module.config.lr for m in self.members], eps=1e-5)

    def training_step(self, batch: list[TrainingBatch | None], batch_idx: int) -> None:
        """The update of every training member: `update_epochs` passes of `num_minibatches` minibatches, each
        member's minibatches drawn from its own generator, all members' gradient steps batched."""
        members = self.training_members()
        configs = [self.members[k].module.config for k in members]
        first = configs[0]
        data = stack_batches([batch[k] for k in members])
        size = data.old_log_probs.shape[1]
        minibatch = size // first.num_minibatches
        columns = coefficient_columns(configs, data.old_log_probs.device)
        metrics: dict[int, list[Tensor]] = {k: [] for k in members}
        early_stops: dict[int, int] = dict.fromkeys(members, 0)
        updating = list(range(len(members)))  # positions in `members` still in this update
        for _ in range(first.update_epochs):
            if not updating:
                break
            orders = {
                i: torch.randperm(size, generator=self.members[members[i]].generator).to(data.obs.device)
                for i in updating
            }
            for start in range(0, minibatch * first.num_minibatches, minibatch):
                if not updating:
                    break
                index = torch.stack([orders[i][start : start + minibatch] for i in updating])
                rows = torch.tensor(updating, device=data.obs.device)
                updating, stopped = self._minibatch_step(
                    data, index, rows, updating, members, columns, metrics
                )
                for i in stopped:
                    early_stops[members[i]] += 1
        for k in members:
            self._update_means[k] = (metrics[k], early_stops[k])

    def _minibatch_step(self, data, index, rows, updating, members, columns, metrics):
        """One gradient step of the members at positions `updating` on their minibatches `index (U, mb)`.
        Returns the positions still updating, and those that stopped for the target KL at this minibatch."""
        everyone = len(updating) == data.obs.shape[0]  # the usual case: no member has stopped this update

        def take(x: Tensor) -> Tensor:
            return (x if everyone else x[rows]).gather(1, expand_index(index, x))

        obs, actions = take(data.obs), take(data.actions)
        old_log_probs, old_values = take(data.old_log_probs), take(data.old_values)
        advantages, returns = take(data.advantages), take(data.returns)
        member_ids = [members[i] for i in updating]
        log_probs, entropy, values = self.stacked.evaluate_actions(
            obs, actions, self.member_params(member_ids)
        )
        col = columns if everyone else {name: value[rows] for name, value in columns.items()}
        standardized = (advantages - advantages.mean(-1, keepdim=True)) / (
            advantages.std(-1, keepdim=True) + 1e-8
        )
        advantages = torch.where(col["normalize_advantage"], standardized, advantages)
        log_ratio = log_probs - old_log_probs
        ratio = log_ratio.exp()
        unclipped = ratio * advantages
        clipped = torch.clamp(ratio, col["clip_low"], col["clip_high"]) * advantages
        pg_loss = -torch.min(unclipped, clipped).mean(-1)
        with torch.no_grad():
            approx_kl = ((ratio - 1.0) - log_ratio).mean(-1)
            clip_fraction = ((ratio - 1.0).abs() > col["clip_coef"]).float().mean(-1)
        stop = approx_kl > col["target_kl"]  # +inf where a member has no target
        stop_list = stop.tolist() if bool(stop.any()) else [False] * len(updating)
        errors = (values - returns).pow(2)
        v_loss = 0.5 * errors.mean(-1)
        if bool(col["clip_vloss"].any()):
            clip = col["clip_coef"]
            clipped_values = old_values + torch.clamp(values - old_values, -clip, clip)
            clipped_loss = 0.5 * torch.max(errors, (clipped_values - returns).pow(2)).mean(-1)
            v_loss = torch.where(col["clip_vloss"].squeeze(-1), clipped_loss, v_loss)
        entropy = entropy.mean(-1)
        loss = pg_loss + col["vf_coef"] * v_loss - col["ent_coef"] * entropy
        keep = [not s for s in stop_list]
        grad_norm, going = self._step_members(loss, member_ids, col["max_grad_norm"], keep)
        still = [position for j, position in enumerate(updating) if keep[j] and going[j]]
        stopped = [position for j, position in enumerate(updating) if not keep[j]]
        values_row = torch.stack([pg_loss, v_loss, entropy, loss, approx_kl, clip_fraction, grad_norm], 1)
        values_row = values_row.detach()
        for j, (k, kept) in enumerate(zip(member_ids, keep, strict=True)):
            if kept:
                metrics[k].append(values_row[j])
        return still, stopped


def coefficient_columns(configs: list, device: torch.device) -> dict[str, Tensor]:
    """The members' scalar hyperparameters as `(P, 1)` columns (flags as bools), the clipping bounds computed in
    Python floats as `torch.clamp` receives them in an ordinary run."""

    def column(values, dtype=torch.float32) -> Tensor:
        return torch.tensor(values, dtype=dtype, device=device).unsqueeze(-1)

    inf = float("inf")
    return {
        "clip_coef": column([c.clip_coef for c in configs]),
        "clip_low": column([1.0 - c.clip_coef for c in configs]),
        "clip_high": column([1.0 + c.clip_coef for c in configs]),
        "vf_coef": column([c.vf_coef for c in configs]).squeeze(-1),
        "ent_coef": column([c.ent_coef for c in configs]).squeeze(-1),
        "target_kl": column([inf if c.target_kl is None else c.target_kl for c in configs]).squeeze(-1),
        "max_grad_norm": column([inf if c.max_grad_norm is None else c.max_grad_norm for c in configs]),
        "normalize_advantage": column([c.normalize_advantage for c in configs], torch.bool),
        "clip_vloss": column([c.clip_vloss for c in configs], torch.bool),
    }
