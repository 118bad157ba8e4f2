"""Synchronous advantage actor-critic, A2C (Mnih et al., 2016, synchronous variant as in OpenAI Baselines
and SB3): n-step rollouts from N envs, GAE(lambda) with lambda = 1 by default (plain n-step returns),
one gradient step per rollout on policy + value + entropy terms. Defaults follow SB3's A2C (RMSprop,
alpha 0.99, eps 1e-5, lr 7e-4, 5 steps).
"""

from collections.abc import Callable, Iterator

import torch

from pglab.algos.base import PolicyGradientModule, check_range
from pglab.algos.losses import policy_gradient_loss, value_loss
from pglab.errors import ConfigError
from pglab.networks.actor_critic import ActorCritic
from pglab.rollout.advantages import explained_variance, standardize
from pglab.rollout.batch import Rollout, TrainingBatch
from pglab.rollout.collector import RolloutCollector

OPTIMIZERS = ("rmsprop", "adam")


class A2C(PolicyGradientModule):
    """Args (beyond the base's):
    num_steps: steps per env per rollout (n of the n-step return).
    gae_lambda: GAE trace decay; 1.0 gives n-step returns minus V(s).
    vf_coef: weight of the value loss.
    normalize_advantage: standardize advantages over the rollout.
    optimizer: "rmsprop" (as SB3/Baselines, alpha 0.99, eps 1e-5) or "adam".
    """

    def __init__(
        self,
        network: Callable[..., ActorCritic],
        collector: RolloutCollector,
        total_env_steps: int,
        lr: float = 7e-4,
        num_steps: int = 5,
        gamma: float = 0.99,
        gae_lambda: float = 1.0,
        ent_coef: float = 0.0,
        vf_coef: float = 0.5,
        max_grad_norm: float | None = 0.5,
        normalize_advantage: bool = False,
        optimizer: str = "rmsprop",
        anneal_lr: bool = False,
    ):
        super().__init__(network, collector, total_env_steps, lr, gamma, ent_coef, max_grad_norm, anneal_lr)
        check_range("algo.num_steps", num_steps, 1, integer=True)
        check_range("algo.gae_lambda", gae_lambda, 0.0, 1.0)
        check_range("algo.vf_coef", vf_coef, 0.0)
        if optimizer not in OPTIMIZERS:
            raise ConfigError(
                f"algo.optimizer={optimizer!r} is not supported; choose one of {list(OPTIMIZERS)}"
            )
        self.check_budget_covers_a_rollout(num_steps)

    def configure_optimizers(self):
        if self.hparams.optimizer == "rmsprop":
            return torch.optim.RMSprop(
                self.policy.parameters(), lr=self.hparams.lr, alpha=0.99, eps=1e-5, foreach=True
            )
        return torch.optim.Adam(self.policy.parameters(), lr=self.hparams.lr, eps=1e-5, fused=True)

    def rollout_batches(self, rollout: Rollout) -> Iterator[TrainingBatch]:
        hp = self.hparams
        advantages = self.gae(rollout)
        batch = TrainingBatch.from_rollout(rollout, advantages, advantages + rollout.values)
        if hp.normalize_advantage:
            batch.advantages = standardize(batch.advantages)
        self.record(diagnostics__explained_variance=explained_variance(batch.old_values, batch.returns))
        yield batch

    def training_step(self, batch: TrainingBatch, batch_idx: int) -> None:
        hp = self.hparams
        log_probs, entropy, values = self.policy.evaluate_actions(batch.obs, batch.actions)
        pg_loss = policy_gradient_loss(log_probs, batch.advantages)
        v_loss = value_loss(values, batch.returns)
        entropy = entropy.mean()
        loss = pg_loss + hp.vf_coef * v_loss - hp.ent_coef * entropy
        grad_norm = self.gradient_step(self.optimizers(), loss, self.policy.parameters())
        self.record(
            losses__policy=pg_loss,
            losses__value=v_loss,
            losses__entropy=entropy,
            losses__total=loss,
            diagnostics__grad_norm=grad_norm,
        )
