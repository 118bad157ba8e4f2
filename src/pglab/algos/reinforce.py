"""REINFORCE, Monte-Carlo policy gradient over complete episodes (Williams, 1992).

Each update uses `episodes_per_rollout` complete episodes played by the current policy. Each action is
weighted by its discounted reward-to-go (`returns=reward_to_go`, the lower-variance default) or by the
whole episode's discounted return (`returns=episode`, Williams' original form). Optional: subtract the batch
mean as a constant baseline, or standardize the weights (`normalize_advantage`, the Hugging Face course's
REINFORCE), and an entropy bonus. No critic.
"""

from dataclasses import dataclass

import torch

from pglab.algos.base import PolicyGradientConfig, PolicyGradientModule
from pglab.algos.losses import policy_gradient_loss
from pglab.hyperparameters import hyperparameter, redefault
from pglab.rollout.advantages import discounted_returns, episode_start_values, standardize
from pglab.rollout.batch import Rollout, TrainingBatch


@dataclass
class REINFORCEConfig(PolicyGradientConfig):
    lr: float = redefault(PolicyGradientConfig, "lr", 1e-2)
    episodes_per_rollout: int = hyperparameter(8, "complete episodes per update", low=1)
    returns: str = hyperparameter(
        "reward_to_go",
        "reward_to_go, or episode (the whole episode's discounted return weights every action)",
        choices=("reward_to_go", "episode"),
    )
    baseline: str = hyperparameter(
        "none",
        "none, or mean (subtract the batch mean of the weights; ignored when normalize_advantage)",
        choices=("none", "mean"),
    )
    normalize_advantage: bool = hyperparameter(
        True, "standardize the return weights over the batch (the Hugging Face course's REINFORCE)"
    )


class REINFORCE(PolicyGradientModule):
    Config = REINFORCEConfig
    needs_critic = False

    def collect_rollout(self) -> Rollout:
        return self.collector.collect_episodes(self.policy, self.config.episodes_per_rollout)

    def prepare_batch(self, rollout: Rollout) -> TrainingBatch:
        hp = self.config
        no_bootstrap = torch.zeros_like(rollout.rewards)
        weights = discounted_returns(
            rollout.rewards, no_bootstrap, rollout.terminated, rollout.truncated, hp.gamma
        )
        if hp.returns == "episode":
            weights = episode_start_values(weights, rollout.terminated, rollout.truncated)
        batch = TrainingBatch.from_rollout(rollout, weights, weights)
        if hp.normalize_advantage:
            batch.advantages = standardize(batch.advantages)
        elif hp.baseline == "mean":
            batch.advantages = batch.advantages - batch.advantages.mean()
        return batch

    def training_step(self, batch: TrainingBatch, batch_idx: int) -> None:
        dist = self.policy.distribution(batch.obs)
        pg_loss = policy_gradient_loss(dist.log_prob(batch.actions), batch.advantages)
        entropy = dist.entropy().mean()
        loss = pg_loss - self.config.ent_coef * entropy
        grad_norm = self.gradient_step(self.optimizers(), loss)
        self.metrics.add(
            {
                "losses/policy": pg_loss,
                "losses/entropy": entropy,
                "losses/total": loss,
                "diagnostics/grad_norm": grad_norm,
            }
        )
