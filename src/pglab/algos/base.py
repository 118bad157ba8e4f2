"""What every pglab algorithm shares: rollouts streamed through a `RolloutDataset`, manual optimization,
per-update metric aggregation, learning-rate annealing, and logging against env steps.

An algorithm subclass provides:
- `rollout_batches(rollout)`: compute returns/advantages once and yield the update's batches;
- `training_step(batch)`: the loss and gradient step(s) for one batch;
- optionally `collect_rollout()` (REINFORCE collects whole episodes) and `configure_optimizers()`.

Env state, the env-step counter and episode statistics live in the `RolloutCollector`; the module only
reads them.

Metrics are logged once per rollout, as means over the update, directly to the loggers with env steps as
the step (Lightning's step counters count optimizer steps or batches, which are not comparable across algorithms).

Data-parallel training (`trainer.strategy=ddp trainer.devices=N`): Lightning runs N processes and all-reduces
the gradients in `manual_backward`; each process collects its own rollouts (`RolloutCollector.distribute`:
distinct env seeds, env steps and episodes counted over all processes), episode statistics are averaged over
all processes' episodes, and a stop (budget, signal, score) is decided for all processes at the same rollout.
"""

import math
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import Tensor, nn

from pglab.checks import check_range  # noqa: F401  (re-exported for the algorithms and callbacks)
from pglab.errors import ConfigError, DivergenceError
from pglab.networks.actor_critic import ActorCritic
from pglab.rollout.advantages import generalized_advantage_estimate
from pglab.rollout.batch import Rollout, TrainingBatch
from pglab.rollout.collector import RolloutCollector
from pglab.rollout.dataset import RolloutDataset, rollout_dataloader


def rng_states() -> dict[str, Any]:
    """torch's, numpy's global and Python's RNG states, as tensors and numbers (safe to `torch.load`)."""
    _, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {"version": version, "internal": list(internal), "gauss": gauss},
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    n = states["numpy"]
    np.random.set_state(
        ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    p = states["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss"]))
    if states.get("cuda") and torch.cuda.is_available() and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states["cuda"])


class PolicyGradientModule(L.LightningModule):
    """Base LightningModule of the pglab algorithms.

    Args:
        network: builds the policy: `network(observation_space, action_space, with_critic=...)`.
        collector: the rollout collector (owns the env and the env-step counter).
        total_env_steps: training stops at the first rollout boundary at or past this many env steps.
        lr: learning rate of the policy optimizer.
        gamma: discount factor in (0, 1].
        ent_coef: weight of the entropy bonus.
        max_grad_norm: clip the global gradient norm to this; null disables clipping.
        anneal_lr: decay the learning rate linearly to 0 over `total_env_steps`.
    """

    #: whether the policy gets a value head (REINFORCE: no)
    needs_critic: bool = True

    def __init__(
        self,
        network: Callable[..., ActorCritic],
        collector: RolloutCollector,
        total_env_steps: int,
        lr: float,
        gamma: float,
        ent_coef: float,
        max_grad_norm: float | None,
        anneal_lr: bool,
    ):
        super().__init__()
        self.save_hyperparameters(ignore=["network", "collector"])
        self.automatic_optimization = False
        check_range("total_env_steps", total_env_steps, 1, integer=True)
        check_range("algo.lr", lr, 0.0, low_open=True)
        check_range("algo.gamma", gamma, 0.0, 1.0, low_open=True)
        check_range("algo.ent_coef", ent_coef, 0.0)
        check_range("algo.max_grad_norm", max_grad_norm, 0.0, low_open=True, allow_none=True)
        self.collector = collector
        self.total_env_steps = int(total_env_steps)
        self.policy = network(
            collector.observation_space, collector.action_space, with_critic=self.needs_critic
        )
        self.history: list[dict[str, float]] = []
        self.latest_metrics: dict[str, float] = {}
        self._update_metrics: dict[str, list[Tensor]] = defaultdict(list)
        self._rollout_metrics: dict[str, float] = {}
        self._train_start_time = 0.0
        self._train_start_steps = 0
        self._wall_s_before = 0.0
        #: the run's resolved config (a plain dict), saved in checkpoints to check that a resume fits it
        self.run_config: dict[str, Any] = {}
        #: set by a signal handler (SIGINT, SIGTERM): training stops at the end of the current update
        self.stop_signal: str | None = None
        #: what a non-finite loss or gradient does: "stop" (DivergenceError) or "skip" (the optimizer step)
        self.on_nonfinite = "stop"
        self.skipped_updates = 0

    def check_budget_covers_a_rollout(self, num_steps: int) -> None:
        rollout_steps = self.collector.num_envs * num_steps
        if self.total_env_steps < rollout_steps:
            raise ConfigError(
                f"total_env_steps={self.total_env_steps} is smaller than one rollout "
                f"(env.num_envs * algo.num_steps = {rollout_steps} env steps)"
            )

    def gae(self, rollout: Rollout) -> Tensor:
        """GAE(lambda) advantages `(T, N)` of a rollout with this algorithm's gamma and gae_lambda."""
        return generalized_advantage_estimate(
            rollout.rewards,
            rollout.values,
            rollout.next_values,
            rollout.terminated,
            rollout.truncated,
            self.hparams.gamma,
            self.hparams.gae_lambda,
        )

    # ----------------------------------------------------------------- data
    def train_dataloader(self):
        return rollout_dataloader(RolloutDataset(self._next_rollout, self.rollout_batches, self.budget_used))

    def budget_used(self) -> bool:
        return self.collector.env_steps >= self.total_env_steps

    def collect_rollout(self) -> Rollout:
        """One fixed-length rollout from every env (REINFORCE overrides this to collect whole episodes)."""
        return self.collector.collect(self.policy, self.hparams.num_steps)

    def rollout_batches(self, rollout: Rollout) -> Iterator[TrainingBatch]:
        raise NotImplementedError

    def _next_rollout(self) -> Rollout:
        progress = self.collector.env_steps / self.total_env_steps
        rollout = self.collect_rollout()
        if self.hparams.anneal_lr:
            # CleanRL's schedule: the update after the k-th rollout uses lr * (1 - progress before it).
            self.set_lr(self.hparams.lr * max(0.0, 1.0 - progress))
        self._rollout_metrics = self.episode_metrics(rollout)
        return rollout

    def episode_metrics(self, rollout: Rollout) -> dict[str, float]:
        """Count, mean return and mean length of the episodes that ended in the rollout (in all processes)."""
        sums = torch.tensor(
            [
                len(rollout.episode_returns),
                rollout.episode_returns.sum().item(),
                rollout.episode_lengths.sum().item(),
            ],
            dtype=torch.float64,
        )
        if self.trainer.world_size > 1:
            sums = self.trainer.strategy.reduce(sums, reduce_op="sum")
        count, return_sum, length_sum = sums.tolist()
        metrics = {"rollout/episodes": count}
        if count:
            metrics["rollout/episode_return_mean"] = return_sum / count
            metrics["rollout/episode_length_mean"] = length_sum / count
        return metrics

    # ----------------------------------------------------------------- optimization
    def configure_optimizers(self):
        # fused: one kernel for all parameters; on a small policy 4x faster than the default per-tensor loop.
        return torch.optim.Adam(self.policy.parameters(), lr=self.hparams.lr, eps=1e-5, fused=True)

    def set_lr(self, lr: float) -> None:
        for optimizer in self._policy_optimizers():
            for group in optimizer.param_groups:
                group["lr"] = lr

    def _policy_optimizers(self) -> list[torch.optim.Optimizer]:
        optimizers = self.optimizers(use_pl_optimizer=False)
        return [optimizers[0]] if isinstance(optimizers, list) else [optimizers]

    def gradient_step(self, optimizer, loss: Tensor, parameters: list[nn.Parameter] | Iterator) -> Tensor:
        """Backward, clip the global norm to `max_grad_norm`, step. Returns the pre-clip gradient norm."""
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        max_norm = self.hparams.max_grad_norm or math.inf
        grad_norm = nn.utils.clip_grad_norm_(list(parameters), max_norm)
        if not torch.isfinite(grad_norm):  # a non-finite loss gives non-finite gradients too
            self.handle_nonfinite(loss, grad_norm)
            optimizer.zero_grad(set_to_none=True)
            return grad_norm
        # The bare torch optimizer: Lightning's wrapper (closure, profiler, step bookkeeping) cost 12% of PPO's
        # CartPole time. Lightning's global_step therefore stays 0; the optimizers' own state counts the steps.
        # Under DDP the gradients are already all-reduced by manual_backward.
        getattr(optimizer, "optimizer", optimizer).step()
        return grad_norm

    def handle_nonfinite(self, loss: Tensor, grad_norm: Tensor) -> None:
        """A non-finite loss or gradient: stop with a DivergenceError naming the env step, the metric and the
        last good checkpoint (`on_nonfinite: stop`), or skip this optimizer step and count it (`skip`)."""
        metric, value = (
            ("loss", loss.item()) if not torch.isfinite(loss) else ("diagnostics/grad_norm", grad_norm.item())
        )
        if self.on_nonfinite == "skip":
            self.skipped_updates += 1
            return
        checkpoints = [c for c in self.trainer.checkpoint_callbacks if hasattr(c, "last_good_checkpoint")]
        last = checkpoints[0].last_good_checkpoint() if checkpoints else None
        kept = (
            f"the last good checkpoint, {last[0]} at {last[1]:,} env steps, is kept"
            if last
            else "no checkpoint was written before it"
        )
        raise DivergenceError(
            f"non-finite {metric} ({value}) in the update after {self.collector.env_steps:,} env steps; training "
            f"stopped and {kept}. Lower algo.lr, check the env's rewards and observations, or set "
            "on_nonfinite=skip to skip such updates"
        )

    def record(self, **metrics: Tensor | float) -> None:
        """Accumulate per-batch metrics (`losses/policy` may be passed as `losses__policy`); logged as
        means over the update at the end of the rollout."""
        for key, value in metrics.items():
            value = value.detach() if isinstance(value, Tensor) else torch.tensor(float(value))
            self._update_metrics[key.replace("__", "/")].append(value.float().cpu())

    # ----------------------------------------------------------------- hooks
    def setup(self, stage: str) -> None:
        if self.trainer.world_size > 1:
            rank = self.trainer.global_rank
            self.collector.distribute(
                rank, self.trainer.world_size, lambda t: self.trainer.strategy.reduce(t, reduce_op="sum")
            )
            # Distinct sampling and shuffling per process; the weights stay process 0's (DDP broadcasts them).
            L.seed_everything(self.collector.seed + rank, workers=True, verbose=False)

    def on_train_start(self) -> None:
        if self.budget_used():  # resumed from a run that used its budget
            self.trainer.should_stop = True

    def on_fit_start(self) -> None:
        # Not on_train_start: Lightning prefetches the first batch (collecting the first rollout) before it.
        self._train_start_time = time.perf_counter()
        self._train_start_steps = self.collector.env_steps

    def on_train_epoch_end(self) -> None:
        metrics = dict(self._rollout_metrics)
        if self._update_metrics:
            keys = list(self._update_metrics)
            means = torch.stack([torch.stack(self._update_metrics[k]).mean() for k in keys]).tolist()
            metrics.update(zip(keys, means, strict=True))
        self._update_metrics.clear()
        metrics["optim/lr"] = self._policy_optimizers()[0].param_groups[0]["lr"]
        if self.on_nonfinite == "skip":
            metrics["diagnostics/skipped_updates"] = float(self.skipped_updates)
        metrics.update(self.time_metrics())
        self.log_env_metrics(metrics)
        stop = self.budget_used() or self.stop_signal is not None or self.trainer.should_stop
        if self.trainer.world_size > 1:  # all processes stop at the same rollout (one may have got a signal)
            stop = self.trainer.strategy.reduce_boolean_decision(stop, all=False)
        if stop:
            self.trainer.should_stop = True

    def wall_time(self) -> float:
        """Seconds of training so far, including the runs this one resumed."""
        return self._wall_s_before + time.perf_counter() - self._train_start_time

    def time_metrics(self) -> dict[str, float]:
        elapsed = time.perf_counter() - self._train_start_time
        steps = self.collector.env_steps - self._train_start_steps
        return {
            "time/episodes": float(self.collector.episodes),
            "time/rollouts": float(self.current_epoch + 1),
            "time/wall_s": self.wall_time(),
            "time/sps": steps / elapsed if elapsed > 0 else 0.0,  # since this process started training
        }

    def log_env_metrics(self, metrics: dict[str, float]) -> None:
        """Send `metrics` to every logger with the env-step count as the step, and keep them in `history`."""
        env_steps = self.collector.env_steps
        metrics = {**metrics, "time/env_steps": float(env_steps)}
        self.latest_metrics.update(metrics)
        self.history.append(metrics)
        for logger in self.loggers:
            logger.log_metrics(metrics, step=env_steps)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Everything a resumed run needs besides what Lightning saves (weights, optimizers, loop counters):
        the collector (env-step and episode counters, normalization statistics, env state), the RNG states,
        the metric history, the training wall time so far, and the run's resolved config."""
        checkpoint["collector"] = self.collector.state_dict()
        checkpoint["rng"] = rng_states()
        checkpoint["history"] = self.history
        checkpoint["wall_s"] = self.wall_time()
        checkpoint["pglab_config"] = self.run_config
        checkpoint["skipped_updates"] = self.skipped_updates

    #: per optimizer (in `configure_optimizers` order), the hyperparameter that sets its learning rate
    optimizer_lrs: tuple[str, ...] = ("lr",)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # The optimizers come back with the checkpoint's learning rates; this run's (e.g. `algo.lr=...` given on
        # resume) win. With anneal_lr the schedule sets the rate before each update anyway.
        for state, name in zip(checkpoint.get("optimizer_states", []), self.optimizer_lrs, strict=False):
            for group in state["param_groups"]:
                group["lr"] = float(self.hparams[name])
        self.skipped_updates = int(checkpoint.get("skipped_updates", 0))
        self.collector.load_state_dict(checkpoint.get("collector", {}))
        self.history = list(checkpoint.get("history", []))
        for row in self.history:
            self.latest_metrics.update(row)
        self._wall_s_before = float(checkpoint.get("wall_s", 0.0))
        if "rng" in checkpoint and self.collector.rank == 0:  # the other processes keep their own streams
            set_rng_states(checkpoint["rng"])
