"""Proximal Policy Optimization with the clipped surrogate (Schulman et al., 2017).

Each rollout: GAE(lambda) advantages once, then `update_epochs` passes over the rollout in
`num_minibatches` shuffled minibatches. Optional: value clipping, per-minibatch advantage normalization,
early stop of the remaining minibatches when the approximate KL exceeds `target_kl`, linear lr annealing,
global gradient-norm clipping. Defaults solve CartPole fast (after RL Zoo's tuned CartPole PPO);
`experiment=ppo_cartpole_cleanrl` gives CleanRL's `ppo.py` defaults.
"""

from dataclasses import dataclass

from pglab.algos.base import PolicyGradientConfig, PolicyGradientModule
from pglab.algos.fused_loss import LossSpec, actor_critic_loss
from pglab.errors import ConfigError
from pglab.hyperparameters import hyperparameter, redefault
from pglab.rollout.advantages import explained_variance, standardize
from pglab.rollout.batch import Rollout, TrainingBatch


@dataclass
class PPOConfig(PolicyGradientConfig):
    lr: float = hyperparameter(1e-3, "Adam learning rate (eps 1e-5)", low=0.0, low_open=True)
    num_steps: int = hyperparameter(
        32, "steps per env per rollout; a rollout holds env.num_envs * num_steps samples", low=1
    )
    gamma: float = redefault(PolicyGradientConfig, "gamma", 0.98)
    gae_lambda: float = hyperparameter(0.8, "GAE trace decay", low=0.0, high=1.0)
    update_epochs: int = hyperparameter(20, "passes over each rollout", low=1)
    num_minibatches: int = hyperparameter(
        1, "shuffled minibatches per pass; must divide env.num_envs * num_steps", low=1
    )
    clip_coef: float = hyperparameter(0.2, "surrogate clipping epsilon", low=0.0, low_open=True)
    clip_vloss: bool = hyperparameter(
        False, "clip the value update to clip_coef around the behaviour-time value (PPO2 / CleanRL)"
    )
    vf_coef: float = hyperparameter(0.5, "weight of the value loss", low=0.0)
    max_grad_norm: float | None = redefault(PolicyGradientConfig, "max_grad_norm", 0.5)
    normalize_advantage: bool = hyperparameter(True, "standardize advantages within each minibatch")
    target_kl: float | None = hyperparameter(
        None,
        "stop the rest of an update once a minibatch's approx KL exceeds this; null: never",
        low=0.0,
        low_open=True,
    )
    anneal_lr: bool = redefault(PolicyGradientConfig, "anneal_lr", True)


class PPO(PolicyGradientModule):
    Config = PPOConfig

    def __init__(self, network, collector, total_env_steps, **hyperparameters):
        super().__init__(network, collector, total_env_steps, **hyperparameters)
        cfg = self.config
        batch_size = collector.num_envs * cfg.num_steps
        if batch_size % cfg.num_minibatches:
            raise ConfigError(
                f"algo.num_minibatches={cfg.num_minibatches} does not divide the rollout of env.num_envs * "
                f"algo.num_steps = {collector.num_envs} * {cfg.num_steps} = {batch_size} samples; set "
                "algo.num_minibatches so that env.num_envs * algo.num_steps is divisible by it"
            )
        if cfg.normalize_advantage and batch_size // cfg.num_minibatches < 2:
            raise ConfigError("algo.normalize_advantage=true needs minibatches of at least 2 samples")
        self.check_budget_covers_a_rollout(cfg.num_steps)
        self.loss_spec = LossSpec(cfg.vf_coef, cfg.ent_coef, cfg.clip_coef, cfg.clip_vloss)

    def prepare_batch(self, rollout: Rollout) -> TrainingBatch:
        advantages = self.gae(rollout)
        returns = advantages + rollout.values
        batch = TrainingBatch.from_rollout(rollout, advantages, returns)
        self.metrics.add(
            {"diagnostics/explained_variance": explained_variance(batch.old_values, batch.returns)}
        )
        return batch

    def training_step(self, batch: TrainingBatch, batch_idx: int) -> None:
        """The whole update of one rollout: `update_epochs` passes over `num_minibatches` shuffled minibatches.

        One Lightning step per rollout rather than per minibatch: Lightning's per-step machinery (hooks of
        every callback, the data fetcher, the manual-optimization loop) costs about as much as a small
        network's gradient step, and PPO takes 20 of those per CartPole rollout.
        """
        hp = self.config
        for _ in range(hp.update_epochs):
            for minibatch in batch.minibatches(hp.num_minibatches):
                if not self.minibatch_step(minibatch):
                    return  # approx KL above target_kl: the rest of this update is skipped

    def minibatch_step(self, batch: TrainingBatch) -> bool:
        """One clipped-surrogate gradient step; False (and no step) when the approx KL exceeds `target_kl`."""
        hp = self.config
        advantages = standardize(batch.advantages) if hp.normalize_advantage else batch.advantages
        terms = actor_critic_loss(
            self.policy,
            batch.obs,
            batch.actions,
            advantages,
            batch.returns,
            self.loss_spec,
            batch.old_log_probs,
            batch.old_values,
        )
        if hp.target_kl is not None and terms.approx_kl > hp.target_kl:
            # The minibatch that crosses the threshold is not applied, nor any after it (as SB3, which
            # uses 1.5 * target_kl as the threshold; here it is target_kl itself).
            self.metrics.add({"diagnostics/early_stop": 1.0})
            return False
        grad_norm = self.gradient_step(self.optimizers(), terms.loss)
        self.metrics.add(
            {
                "losses/policy": terms.policy,
                "losses/value": terms.value,
                "losses/entropy": terms.entropy,
                "losses/total": terms.loss,
                "diagnostics/approx_kl": terms.approx_kl,
                "diagnostics/clip_fraction": terms.clip_fraction,
                "diagnostics/grad_norm": grad_norm,
                "diagnostics/early_stop": 0.0,
            }
        )
        return True
