"""REINFORCE, Monte-Carlo policy gradient over complete episodes (Williams, 1992; articles 000 and 001).

Each update uses `episodes_per_rollout` complete episodes played by the current policy. Each action is
weighted by its discounted reward-to-go (`returns=reward_to_go`, the lower-variance default) or by the
whole episode's discounted return (`returns=episode`, article 000). Optional: subtract the batch mean as a
constant baseline, or standardize the weights (the Hugging Face course's variant, article 001), and an
entropy bonus. No critic.
"""

from collections.abc import Callable, Iterator

import torch

from pglab.algos.base import PolicyGradientModule, check_range
from pglab.algos.losses import policy_gradient_loss
from pglab.errors import ConfigError
from pglab.networks.actor_critic import ActorCritic
from pglab.rollout.advantages import discounted_returns, episode_start_values, standardize
from pglab.rollout.batch import Rollout, TrainingBatch
from pglab.rollout.collector import RolloutCollector

RETURNS = ("reward_to_go", "episode")
BASELINES = ("none", "mean")


class REINFORCE(PolicyGradientModule):
    """Args (beyond the base's):
    episodes_per_rollout: complete episodes per update.
    returns: "reward_to_go" or "episode" (whole-episode return for every action).
    baseline: "none" or "mean" (subtract the batch mean of the weights).
    standardize_returns: standardize the weights over the batch (implies a mean baseline).
    """

    needs_critic = False

    def __init__(
        self,
        network: Callable[..., ActorCritic],
        collector: RolloutCollector,
        total_env_steps: int,
        lr: float = 1e-2,
        episodes_per_rollout: int = 8,
        gamma: float = 0.99,
        returns: str = "reward_to_go",
        baseline: str = "none",
        standardize_returns: bool = True,
        ent_coef: float = 0.0,
        max_grad_norm: float | None = None,
        anneal_lr: bool = False,
    ):
        super().__init__(network, collector, total_env_steps, lr, gamma, ent_coef, max_grad_norm, anneal_lr)
        check_range("algo.episodes_per_rollout", episodes_per_rollout, 1, integer=True)
        if returns not in RETURNS:
            raise ConfigError(f"algo.returns={returns!r} is not supported; choose one of {list(RETURNS)}")
        if baseline not in BASELINES:
            raise ConfigError(f"algo.baseline={baseline!r} is not supported; choose one of {list(BASELINES)}")

    def collect_rollout(self) -> Rollout:
        return self.collector.collect_episodes(self.policy, self.hparams.episodes_per_rollout)

    def rollout_batches(self, rollout: Rollout) -> Iterator[TrainingBatch]:
        hp = self.hparams
        no_bootstrap = torch.zeros_like(rollout.rewards)
        weights = discounted_returns(
            rollout.rewards, no_bootstrap, rollout.terminated, rollout.truncated, hp.gamma
        )
        if hp.returns == "episode":
            weights = episode_start_values(weights, rollout.terminated, rollout.truncated)
        batch = TrainingBatch.from_rollout(rollout, weights, weights)
        if hp.standardize_returns:
            batch.advantages = standardize(batch.advantages)
        elif hp.baseline == "mean":
            batch.advantages = batch.advantages - batch.advantages.mean()
        yield batch

    def training_step(self, batch: TrainingBatch, batch_idx: int) -> None:
        dist = self.policy.distribution(batch.obs)
        pg_loss = policy_gradient_loss(dist.log_prob(batch.actions), batch.advantages)
        entropy = dist.entropy().mean()
        loss = pg_loss - self.hparams.ent_coef * entropy
        grad_norm = self.gradient_step(self.optimizers(), loss, self.policy.parameters())
        self.record(
            losses__policy=pg_loss,
            losses__entropy=entropy,
            losses__total=loss,
            diagnostics__grad_norm=grad_norm,
        )
