"""Synchronous advantage actor-critic, A2C (Mnih et al., 2016, synchronous variant as in OpenAI Baselines
and SB3): n-step rollouts from N envs, GAE(lambda) with lambda = 1 by default (plain n-step returns),
one gradient step per rollout on policy + value + entropy terms. Defaults follow SB3's A2C (RMSprop,
alpha 0.99, eps 1e-5, lr 7e-4, 5 steps).
"""

from dataclasses import dataclass

from pglab.algos.base import PolicyGradientConfig, PolicyGradientModule
from pglab.algos.fused_loss import LossSpec, actor_critic_loss
from pglab.algos.optimizers import Adam, RMSprop
from pglab.hyperparameters import hyperparameter, redefault
from pglab.rollout.advantages import explained_variance, standardize
from pglab.rollout.batch import Rollout, TrainingBatch


@dataclass
class A2CConfig(PolicyGradientConfig):
    lr: float = redefault(PolicyGradientConfig, "lr", 7e-4)
    num_steps: int = hyperparameter(
        5, "steps per env per rollout (n of the n-step return); one gradient step per rollout", low=1
    )
    gae_lambda: float = hyperparameter(
        1.0, "GAE trace decay; 1.0 gives the n-step return minus V(s)", low=0.0, high=1.0
    )
    vf_coef: float = hyperparameter(0.5, "weight of the value loss", low=0.0)
    max_grad_norm: float | None = redefault(PolicyGradientConfig, "max_grad_norm", 0.5)
    normalize_advantage: bool = hyperparameter(False, "standardize advantages over the rollout")
    optimizer: str = hyperparameter(
        "rmsprop", "rmsprop (alpha 0.99, eps 1e-5, as SB3 and Baselines) or adam", choices=("rmsprop", "adam")
    )


class A2C(PolicyGradientModule):
    Config = A2CConfig

    def __init__(self, network, collector, total_env_steps, **hyperparameters):
        super().__init__(network, collector, total_env_steps, **hyperparameters)
        self.check_budget_covers_a_rollout(self.config.num_steps)
        self.loss_spec = LossSpec(self.config.vf_coef, self.config.ent_coef)

    def configure_optimizers(self):
        if self.config.optimizer == "rmsprop":
            return RMSprop(self.policy.parameters(), lr=self.config.lr, alpha=0.99, eps=1e-5)
        return Adam(self.policy.parameters(), lr=self.config.lr, eps=1e-5)

    def prepare_batch(self, rollout: Rollout) -> TrainingBatch:
        hp = self.config
        advantages = self.gae(rollout)
        batch = TrainingBatch.from_rollout(rollout, advantages, advantages + rollout.values)
        if hp.normalize_advantage:
            batch.advantages = standardize(batch.advantages)
        self.metrics.add(
            {"diagnostics/explained_variance": explained_variance(batch.old_values, batch.returns)}
        )
        return batch

    def training_step(self, batch: TrainingBatch, batch_idx: int) -> None:
        terms = actor_critic_loss(
            self.policy, batch.obs, batch.actions, batch.advantages, batch.returns, self.loss_spec
        )
        grad_norm = self.gradient_step(self.optimizers(), terms.loss)
        self.metrics.add(
            {
                "losses/policy": terms.policy,
                "losses/value": terms.value,
                "losses/entropy": terms.entropy,
                "losses/total": terms.loss,
                "diagnostics/grad_norm": grad_norm,
            }
        )
