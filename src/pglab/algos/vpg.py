"""Vanilla Policy Gradient with a learned value baseline (OpenAI Spinning Up's VPG).

Per rollout: advantages from the reward-to-go minus V(s) (`advantage=reward_to_go`) or GAE(lambda)
(`advantage=gae`), one policy-gradient step on the actor, then `value_updates` regression steps of the
separate critic on the reward-to-go, with its own optimizer and learning rate `vf_lr`.
Returns are bootstrapped from V at time-limit truncations and at the rollout's end, as Spinning Up does.
"""

from dataclasses import dataclass

import torch

from pglab.algos.base import PolicyGradientConfig, PolicyGradientModule
from pglab.algos.losses import policy_gradient_loss, value_loss
from pglab.algos.optimizers import Adam
from pglab.errors import ConfigError
from pglab.hyperparameters import hyperparameter
from pglab.rollout.advantages import discounted_returns, explained_variance, standardize
from pglab.rollout.batch import Rollout, TrainingBatch


@dataclass
class VPGConfig(PolicyGradientConfig):
    lr: float = hyperparameter(3e-3, "policy (actor) learning rate, Adam", low=0.0, low_open=True)
    num_steps: int = hyperparameter(256, "steps per env per rollout", low=1)
    advantage: str = hyperparameter(
        "gae", "reward_to_go (reward-to-go minus V(s)) or gae", choices=("reward_to_go", "gae")
    )
    gae_lambda: float = hyperparameter(0.97, "GAE trace decay (advantage=gae)", low=0.0, high=1.0)
    vf_lr: float = hyperparameter(1e-3, "value network learning rate, Adam", low=0.0, low_open=True)
    value_updates: int = hyperparameter(40, "critic gradient steps per rollout, full batch", low=1)
    normalize_advantage: bool = hyperparameter(True, "standardize advantages over the rollout")


class VPG(PolicyGradientModule):
    """`lr` is the policy's learning rate; the critic has its own optimizer and `vf_lr`."""

    Config = VPGConfig

    def __init__(self, network, collector, total_env_steps, **hyperparameters):
        super().__init__(network, collector, total_env_steps, **hyperparameters)
        if self.policy.shared_trunk:
            raise ConfigError(
                "algo=vpg trains a separate value network with its own optimizer; set network.shared_trunk=false"
            )
        self.check_budget_covers_a_rollout(self.config.num_steps)

    optimizer_lrs = ("lr", "vf_lr")

    def setup(self, stage: str) -> None:
        # Each backward (policy, then value) leaves the other network's parameters without a gradient, which
        # DDP must be told to expect.
        strategy = self.trainer.strategy
        if self.trainer.world_size > 1 and not getattr(strategy, "_ddp_kwargs", {}).get(
            "find_unused_parameters"
        ):
            raise ConfigError(
                f"algo=vpg steps its policy and its value network separately, which "
                f"trainer.strategy={type(strategy).__name__} cannot all-reduce; with several processes "
                "set trainer.strategy=ddp_find_unused_parameters_true"
            )
        super().setup(stage)

    def configure_optimizers(self):
        return [
            Adam(self.policy.actor_parameters(), lr=self.config.lr),
            Adam(self.policy.critic_parameters(), lr=self.config.vf_lr),
        ]

    def prepare_batch(self, rollout: Rollout) -> TrainingBatch:
        hp = self.config
        args = (rollout.rewards, rollout.next_values, rollout.terminated, rollout.truncated, hp.gamma)
        returns = discounted_returns(*args)
        advantages = returns - rollout.values if hp.advantage == "reward_to_go" else self.gae(rollout)
        batch = TrainingBatch.from_rollout(rollout, advantages, returns)
        if hp.normalize_advantage:
            batch.advantages = standardize(batch.advantages)
        self.metrics.add(
            {"diagnostics/explained_variance": explained_variance(batch.old_values, batch.returns)}
        )
        return batch

    def training_step(self, batch: TrainingBatch, batch_idx: int) -> None:
        hp = self.config
        policy_optimizer, value_optimizer = self.optimizers()
        dist = self.policy.distribution(batch.obs)
        log_probs = dist.log_prob(batch.actions)
        entropy = dist.entropy().mean()
        pg_loss = policy_gradient_loss(log_probs, batch.advantages)
        loss = pg_loss - hp.ent_coef * entropy
        grad_norm = self.gradient_step(policy_optimizer, loss)
        with torch.no_grad():
            approx_kl = (
                batch.old_log_probs - self.policy.distribution(batch.obs).log_prob(batch.actions)
            ).mean()
        for _ in range(hp.value_updates):
            v_loss = value_loss(self.policy.value(batch.obs), batch.returns)
            self.gradient_step(value_optimizer, v_loss)
        self.metrics.add(
            {
                "losses/policy": pg_loss,
                "losses/value": v_loss,
                "losses/entropy": entropy,
                "losses/total": loss,
                "diagnostics/approx_kl": approx_kl,
                "diagnostics/grad_norm": grad_norm,
            }
        )
