"""Vanilla Policy Gradient with a learned value baseline (article 002; OpenAI Spinning Up's VPG).

Per rollout: advantages from the reward-to-go minus V(s) (`advantage=rtg`) or GAE(lambda)
(`advantage=gae`), one policy-gradient step on the actor, then `value_updates` regression steps of the
separate critic on the reward-to-go, with its own optimizer and learning rate `vf_lr`.
Returns are bootstrapped from V at time-limit truncations and at the rollout's end, as Spinning Up does.
"""

from collections.abc import Callable, Iterator

import torch

from pglab.algos.base import PolicyGradientModule, check_range
from pglab.algos.losses import policy_gradient_loss, value_loss
from pglab.errors import ConfigError
from pglab.networks.actor_critic import ActorCritic
from pglab.rollout.advantages import (
    discounted_returns,
    explained_variance,
    standardize,
)
from pglab.rollout.batch import Rollout, TrainingBatch
from pglab.rollout.collector import RolloutCollector

ADVANTAGES = ("rtg", "gae")


class VPG(PolicyGradientModule):
    """Args (beyond the base's; `lr` is the policy's learning rate):
    num_steps: steps per env per rollout.
    advantage: "rtg" (reward-to-go minus V(s)) or "gae".
    gae_lambda: GAE trace decay (advantage=gae only).
    vf_lr: learning rate of the value network.
    value_updates: critic gradient steps per rollout (full batch).
    normalize_advantage: standardize advantages over the rollout.
    """

    def __init__(
        self,
        network: Callable[..., ActorCritic],
        collector: RolloutCollector,
        total_env_steps: int,
        lr: float = 3e-3,
        num_steps: int = 256,
        gamma: float = 0.99,
        advantage: str = "gae",
        gae_lambda: float = 0.97,
        vf_lr: float = 1e-3,
        value_updates: int = 40,
        ent_coef: float = 0.0,
        max_grad_norm: float | None = None,
        normalize_advantage: bool = True,
        anneal_lr: bool = False,
    ):
        super().__init__(network, collector, total_env_steps, lr, gamma, ent_coef, max_grad_norm, anneal_lr)
        check_range("algo.num_steps", num_steps, 1, integer=True)
        check_range("algo.gae_lambda", gae_lambda, 0.0, 1.0)
        check_range("algo.vf_lr", vf_lr, 0.0, low_open=True)
        check_range("algo.value_updates", value_updates, 1, integer=True)
        if advantage not in ADVANTAGES:
            raise ConfigError(
                f"algo.advantage={advantage!r} is not supported; choose one of {list(ADVANTAGES)}"
            )
        if self.policy.shared_trunk:
            raise ConfigError(
                "algo=vpg trains a separate value network with its own optimizer; set network.shared_trunk=false"
            )
        self.check_budget_covers_a_rollout(num_steps)

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
            torch.optim.Adam(self.policy.actor_parameters(), lr=self.hparams.lr, fused=True),
            torch.optim.Adam(self.policy.critic_parameters(), lr=self.hparams.vf_lr, fused=True),
        ]

    def rollout_batches(self, rollout: Rollout) -> Iterator[TrainingBatch]:
        hp = self.hparams
        args = (rollout.rewards, rollout.next_values, rollout.terminated, rollout.truncated, hp.gamma)
        returns = discounted_returns(*args)
        advantages = returns - rollout.values if hp.advantage == "rtg" else self.gae(rollout)
        batch = TrainingBatch.from_rollout(rollout, advantages, returns)
        if hp.normalize_advantage:
            batch.advantages = standardize(batch.advantages)
        self.record(diagnostics__explained_variance=explained_variance(batch.old_values, batch.returns))
        yield batch

    def training_step(self, batch: TrainingBatch, batch_idx: int) -> None:
        hp = self.hparams
        policy_optimizer, value_optimizer = self.optimizers()
        dist = self.policy.distribution(batch.obs)
        log_probs = dist.log_prob(batch.actions)
        entropy = dist.entropy().mean()
        pg_loss = policy_gradient_loss(log_probs, batch.advantages)
        loss = pg_loss - hp.ent_coef * entropy
        grad_norm = self.gradient_step(policy_optimizer, loss, self.policy.actor_parameters())
        with torch.no_grad():
            approx_kl = (
                batch.old_log_probs - self.policy.distribution(batch.obs).log_prob(batch.actions)
            ).mean()
        for _ in range(hp.value_updates):
            v_loss = value_loss(self.policy.value(batch.obs), batch.returns)
            self.gradient_step(value_optimizer, v_loss, self.policy.critic_parameters())
        self.record(
            losses__policy=pg_loss,
            losses__value=v_loss,
            losses__entropy=entropy,
            losses__total=loss,
            diagnostics__approx_kl=approx_kl,
            diagnostics__grad_norm=grad_norm,
        )
