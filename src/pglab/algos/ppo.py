"""Proximal Policy Optimization with the clipped surrogate (Schulman et al., 2017).

Each rollout: GAE(lambda) advantages once, then `update_epochs` passes over the rollout in
`num_minibatches` shuffled minibatches. Optional: value clipping, per-minibatch advantage normalization,
early stop of the remaining minibatches when the approximate KL exceeds `target_kl`, linear lr annealing,
global gradient-norm clipping. Defaults solve CartPole fast (after RL Zoo's tuned CartPole PPO);
`experiment=ppo_cartpole_cleanrl` gives CleanRL's `ppo.py` defaults.
"""

from collections.abc import Callable, Iterator

from pglab.algos.base import PolicyGradientModule, check_range
from pglab.algos.losses import clipped_surrogate_loss, value_loss
from pglab.errors import ConfigError
from pglab.networks.actor_critic import ActorCritic
from pglab.rollout.advantages import explained_variance, standardize
from pglab.rollout.batch import Rollout, TrainingBatch
from pglab.rollout.collector import RolloutCollector


class PPO(PolicyGradientModule):
    """Args (beyond the base's):
    num_steps: steps per env per rollout (the rollout holds env.num_envs * num_steps samples).
    gae_lambda: GAE trace decay in [0, 1].
    update_epochs: passes over each rollout.
    num_minibatches: minibatches per pass; must divide env.num_envs * num_steps.
    clip_coef: surrogate clipping epsilon.
    clip_vloss: clip the value update to `clip_coef` around the behaviour-time values.
    vf_coef: weight of the value loss.
    normalize_advantage: standardize advantages within each minibatch.
    target_kl: stop the rest of the update when approx KL of a minibatch exceeds this (null: never).
    """

    def __init__(
        self,
        network: Callable[..., ActorCritic],
        collector: RolloutCollector,
        total_env_steps: int,
        lr: float = 1e-3,
        num_steps: int = 32,
        gamma: float = 0.98,
        gae_lambda: float = 0.8,
        update_epochs: int = 20,
        num_minibatches: int = 1,
        clip_coef: float = 0.2,
        clip_vloss: bool = False,
        ent_coef: float = 0.0,
        vf_coef: float = 0.5,
        max_grad_norm: float | None = 0.5,
        normalize_advantage: bool = True,
        target_kl: float | None = None,
        anneal_lr: bool = True,
    ):
        super().__init__(network, collector, total_env_steps, lr, gamma, ent_coef, max_grad_norm, anneal_lr)
        check_range("algo.num_steps", num_steps, 1, integer=True)
        check_range("algo.gae_lambda", gae_lambda, 0.0, 1.0)
        check_range("algo.update_epochs", update_epochs, 1, integer=True)
        check_range("algo.num_minibatches", num_minibatches, 1, integer=True)
        check_range("algo.clip_coef", clip_coef, 0.0, low_open=True)
        check_range("algo.vf_coef", vf_coef, 0.0)
        check_range("algo.target_kl", target_kl, 0.0, low_open=True, allow_none=True)
        batch_size = collector.num_envs * num_steps
        if batch_size % num_minibatches:
            raise ConfigError(
                f"algo.num_minibatches={num_minibatches} does not divide the rollout of env.num_envs * "
                f"algo.num_steps = {collector.num_envs} * {num_steps} = {batch_size} samples; set "
                "algo.num_minibatches so that env.num_envs * algo.num_steps is divisible by it"
            )
        if normalize_advantage and batch_size // num_minibatches < 2:
            raise ConfigError("algo.normalize_advantage=true needs minibatches of at least 2 samples")
        self.check_budget_covers_a_rollout(num_steps)

    def rollout_batches(self, rollout: Rollout) -> Iterator[TrainingBatch]:
        advantages = self.gae(rollout)
        returns = advantages + rollout.values
        batch = TrainingBatch.from_rollout(rollout, advantages, returns)
        self.record(diagnostics__explained_variance=explained_variance(batch.old_values, batch.returns))
        yield batch

    def training_step(self, batch: TrainingBatch, batch_idx: int) -> None:
        """The whole update of one rollout: `update_epochs` passes over `num_minibatches` shuffled minibatches.

        One Lightning step per rollout rather than per minibatch: Lightning's per-step machinery (hooks of
        every callback, the data fetcher, the manual-optimization loop) costs about as much as a small
        network's gradient step, and PPO takes 20 of those per CartPole rollout.
        """
        hp = self.hparams
        for _ in range(hp.update_epochs):
            for minibatch in batch.minibatches(hp.num_minibatches):
                if not self.minibatch_step(minibatch):
                    return  # approx KL above target_kl: the rest of this update is skipped

    def minibatch_step(self, batch: TrainingBatch) -> bool:
        """One clipped-surrogate gradient step; False (and no step) when the approx KL exceeds `target_kl`."""
        hp = self.hparams
        log_probs, entropy, values = self.policy.evaluate_actions(batch.obs, batch.actions)
        advantages = standardize(batch.advantages) if hp.normalize_advantage else batch.advantages
        pg_loss, approx_kl, clip_fraction = clipped_surrogate_loss(
            log_probs, batch.old_log_probs, advantages, hp.clip_coef
        )
        if hp.target_kl is not None and approx_kl > hp.target_kl:
            # The minibatch that crosses the threshold is not applied, nor any after it (as SB3, which
            # uses 1.5 * target_kl as the threshold; here it is target_kl itself).
            self.record(diagnostics__early_stop=1.0)
            return False
        v_loss = value_loss(values, batch.returns, batch.old_values, hp.clip_coef if hp.clip_vloss else None)
        entropy = entropy.mean()
        loss = pg_loss + hp.vf_coef * v_loss - hp.ent_coef * entropy
        grad_norm = self.gradient_step(self.optimizers(), loss, self.policy.parameters())
        self.record(
            losses__policy=pg_loss,
            losses__value=v_loss,
            losses__entropy=entropy,
            losses__total=loss,
            diagnostics__approx_kl=approx_kl,
            diagnostics__clip_fraction=clip_fraction,
            diagnostics__grad_norm=grad_norm,
            diagnostics__early_stop=0.0,
        )
        return True
