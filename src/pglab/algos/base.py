"""The contract of a pglab algorithm, and the life of one rollout.

An algorithm is a subclass of `PolicyGradientModule` in its own file, with its YAML option under `conf/algo/`:
- `Config`: a dataclass of its hyperparameters (`pglab.hyperparameters`: default, meaning and range of each);
- `prepare_batch(rollout)`: returns and advantages of a rollout, once, as the update's `TrainingBatch`;
- `training_step(batch, batch_idx)`: the update, its gradient steps through `gradient_step`;
- optionally `collect_rollout()` (REINFORCE collects whole episodes), `configure_optimizers()` (with
  `optimizer_lrs`) and `needs_critic`. The default `collect_rollout` reads `Config.num_steps` and `gae` reads
  `Config.gae_lambda`: an algorithm that uses them declares them.

Env state, the env-step counter and episode statistics live in the `RolloutCollector`; the module only reads
them. The metrics live in a `Metrics` object (`self.metrics`) shared with the callbacks.

Data-parallel training (`trainer.strategy=ddp trainer.devices=N`): Lightning runs N processes and all-reduces the
gradients in `manual_backward`; each process collects its own rollouts (`RolloutCollector.distribute`: distinct env
seeds; env steps and episodes counted over all processes), episode statistics are summed over all processes, and
a stop (budget, signal, score) is decided for all processes at the same rollout.
"""

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import lightning as L
import torch
from lightning.pytorch.plugins.precision import Precision
from lightning.pytorch.profilers import PassThroughProfiler
from lightning.pytorch.strategies import SingleDeviceStrategy
from torch import Tensor, nn

from pglab.algos.optimizers import Adam, step_unwrapped
from pglab.checks import check_range
from pglab.errors import ConfigError, DivergenceError
from pglab.hyperparameters import check_values, hyperparameter
from pglab.metrics import Metrics
from pglab.networks.actor_critic import ActorCritic
from pglab.rng import rng_states, set_rng_states
from pglab.rollout.advantages import generalized_advantage_estimate
from pglab.rollout.batch import Rollout, TrainingBatch
from pglab.rollout.collector import RolloutCollector
from pglab.rollout.dataset import RolloutDataset


@torch.no_grad()
def clip_grad_norm_(parameters: list[nn.Parameter], max_norm: float | None) -> Tensor:
    """The global 2-norm of the gradients of `parameters` (a 0-d tensor); with `max_norm`, the gradients are
    scaled in place by `min(1, max_norm / (norm + 1e-6))`. Without it, the norm only: scaling by 1 would
    change nothing.

    Bit for bit `nn.utils.get_total_norm` and `nn.utils.clip_grad_norm_`, with the same foreach kernels. Why by
    hand: where every gradient is a plain dense tensor of one CPU or CUDA device and one dtype (a policy's), this
    skips their grouping of the tensors by device and dtype, a third of their time on a small policy (the
    gradients of a 64x64 actor-critic on the CPU: 81 against 121 us, of a CartPole gradient step's 3 ms); any
    other gradients (other devices, tensor subclasses, sparse or mixed ones) go to torch's functions.
    """
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    device, dtype = grads[0].device, grads[0].dtype
    if device.type not in ("cpu", "cuda") or not all(
        type(g) is Tensor and g.device == device and g.dtype == dtype and g.layout == torch.strided
        for g in grads
    ):
        if max_norm is None:
            return nn.utils.get_total_norm(grads)
        return nn.utils.clip_grad_norm_(parameters, max_norm)
    norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads, 2.0)), 2.0)
    if max_norm is not None:
        torch._foreach_mul_(grads, torch.clamp(float(max_norm) / (norm + 1e-6), max=1.0))
    return norm


@dataclass
class PolicyGradientConfig:
    """The hyperparameters every algorithm has (a subclass gives its own defaults with `redefault`)."""

    lr: float = hyperparameter(1e-3, "learning rate of the policy optimizer", low=0.0, low_open=True)
    gamma: float = hyperparameter(0.99, "discount factor", low=0.0, high=1.0, low_open=True)
    ent_coef: float = hyperparameter(0.0, "weight of the entropy bonus", low=0.0)
    max_grad_norm: float | None = hyperparameter(
        None, "clip the global gradient norm of every step to this; null: no clipping", low=0.0, low_open=True
    )
    anneal_lr: bool = hyperparameter(False, "decay the learning rate linearly to 0 over total_env_steps")


class PolicyGradientModule(L.LightningModule):
    """Base LightningModule of the pglab algorithms.

    Args:
        network: builds the policy: `network(observation_space, action_space, with_critic=...)`.
        collector: the rollout collector (owns the env and the env-step counter).
        total_env_steps: training stops at the first rollout boundary at or past this many env steps.
        **hyperparameters: the `Config` fields (`algo.*` in the config), each checked against its declaration.
    """

    Config: ClassVar[type] = PolicyGradientConfig
    #: whether the policy gets a value head (REINFORCE: no)
    needs_critic: ClassVar[bool] = True
    #: per optimizer (in `configure_optimizers` order), the hyperparameter that sets its learning rate
    optimizer_lrs: ClassVar[tuple[str, ...]] = ("lr",)

    def __init__(
        self,
        network: Callable[..., ActorCritic],
        collector: RolloutCollector,
        total_env_steps: int,
        **hyperparameters: Any,
    ):
        super().__init__()
        self.automatic_optimization = False
        check_range("total_env_steps", total_env_steps, 1, integer=True)
        self.total_env_steps = int(total_env_steps)
        self.config = check_values(self.Config, hyperparameters)
        self.save_hyperparameters({"total_env_steps": self.total_env_steps, **asdict(self.config)})
        self.collector = collector
        self.policy = network(
            collector.observation_space, collector.action_space, with_critic=self.needs_critic
        )
        self.metrics = Metrics()
        #: the run's resolved config (a plain dict), saved in checkpoints to check that a resume fits it
        self.run_config: dict[str, Any] = {}
        #: set by a signal handler (SIGINT, SIGTERM): training stops at the end of the current update
        self.stop_signal: str | None = None
        #: what a non-finite loss or gradient does: "stop" (DivergenceError) or "skip" (the optimizer step)
        self.on_nonfinite = "stop"
        self.skipped_updates = 0
        #: the fraction of the budget used before the current update's rollout (what the lr schedule reads)
        self.progress_before_rollout = 0.0
        self._rollout_metrics: dict[str, float] = {}
        self._update_start = 0.0
        self._gradients_checked = False  # set by gradient_step for the optimizer step it takes
        self._plain_backward = False  # `backward_is_plain()`, decided when a fit starts
        self._train_start_time = 0.0
        self._train_start_steps = 0
        self._wall_s_before = 0.0

    #: attributes set many times a rollout, by Lightning (`_current_fx_name` around every hook it calls, about 30 a
    #: rollout) and by this class, that never hold a parameter, buffer or module: `__setattr__` stores them directly
    _PLAIN_ATTRIBUTES = frozenset(
        {
            "_current_fx_name",
            "_gradients_checked",
            "_update_start",
            "_rollout_metrics",
            "progress_before_rollout",
        }
    )

    def __setattr__(self, name: str, value: Any) -> None:
        # `nn.Module.__setattr__` checks whether the value is a parameter, buffer or module (its `isinstance` checks
        # of `Parameter` and `Buffer` go through Python metaclasses), about 2 us a call: 1-2% of an A2C run
        if name in self._PLAIN_ATTRIBUTES:
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def check_budget_covers_a_rollout(self, num_steps: int) -> None:
        rollout_steps = self.collector.num_envs * num_steps
        if self.total_env_steps < rollout_steps:
            raise ConfigError(
                f"total_env_steps={self.total_env_steps} is smaller than one rollout "
                f"(env.num_envs * algo.num_steps = {rollout_steps} env steps)"
            )

    # ----------------------------------------------------------------- what an algorithm provides
    def collect_rollout(self) -> Rollout:
        """One fixed-length rollout of `num_steps` steps from every env."""
        return self.collector.collect(self.policy, self.config.num_steps)

    def prepare_batch(self, rollout: Rollout) -> TrainingBatch:
        """Returns and advantages of `rollout`, computed once, as the batch of the update."""
        raise NotImplementedError

    def gae(self, rollout: Rollout) -> Tensor:
        """GAE(lambda) advantages `(T, N)` of a rollout with this algorithm's gamma and gae_lambda."""
        return generalized_advantage_estimate(
            rollout.rewards,
            rollout.values,
            rollout.next_values,
            rollout.terminated,
            rollout.truncated,
            self.config.gamma,
            self.config.gae_lambda,
        )

    def configure_optimizers(self):
        # torch's fused Adam (one kernel for all parameters; on a small policy 4x faster than the default per-tensor
        # loop), its plain steps without torch's per-step bookkeeping (`pglab.algos.optimizers`).
        return Adam(self.policy.parameters(), lr=self.config.lr, eps=1e-5)

    # ----------------------------------------------------------------- the life of one rollout
    # Lightning runs one epoch per rollout; its hooks run in this order:
    #   1. collect     `next_batch` (Lightning asks the RolloutDataset for the epoch's batch): the rollout
    #   2. advantages  `next_batch`: `prepare_batch(rollout)`, and the rollout's episode statistics
    #   3. schedule    `on_train_batch_start`: the learning rate of this update
    #   4. update      `training_step(batch)`: the algorithm's gradient steps, each through `gradient_step`
    #   5. evaluate    `PeriodicEvaluation.on_train_epoch_end` (Lightning runs callbacks before the module's hook)
    #   6. metrics     `on_train_epoch_end`: the update's means, episode statistics, lr and timings, logged
    #   7. stop        `on_train_epoch_end`: the budget is used, a signal came, or a callback asked to stop
    #   8. checkpoint  `EnvStepCheckpoint.on_train_epoch_end` (Lightning runs `Checkpoint` callbacks last)
    def train_dataloader(self):
        return RolloutDataset(self.next_batch, self.budget_exhausted)

    def transfer_batch_to_device(self, batch: TrainingBatch, device: torch.device, dataloader_idx: int):
        """The batch as it is: the collector builds it on the policy's device. (Lightning's default walks the
        batch's fields to move each tensor, about 0.1 ms a rollout for nothing.)"""
        return batch

    def next_batch(self) -> TrainingBatch:
        """Steps 1-2: collect a rollout with the current policy and prepare the update's batch."""
        self.progress_before_rollout = self.collector.env_steps / self.total_env_steps
        with self.metrics.timer("collect"):
            rollout = self.collect_rollout()
        self._rollout_metrics = self.episode_metrics(rollout)
        with self.metrics.timer("advantages"):
            return self.prepare_batch(rollout)

    def on_train_batch_start(self, batch: TrainingBatch, batch_idx: int) -> None:
        """Step 3: with `anneal_lr`, CleanRL's schedule: lr * (1 - the budget's fraction used before the rollout)."""
        if self.config.anneal_lr:
            self.set_lr(self.config.lr * max(0.0, 1.0 - self.progress_before_rollout))
        self._update_start = time.perf_counter()

    def on_train_batch_end(self, outputs: Any, batch: TrainingBatch, batch_idx: int) -> None:
        """After step 4: the update's time."""
        self.metrics.phase_seconds["update"] += time.perf_counter() - self._update_start

    def on_train_epoch_end(self) -> None:
        """Steps 6-7: log the rollout's metrics against env steps; decide whether to stop."""
        metrics = {**self._rollout_metrics, **self.metrics.update_means()}
        metrics["optim/lr"] = self._policy_optimizers()[0].param_groups[0]["lr"]
        if self.on_nonfinite == "skip":
            metrics["diagnostics/skipped_updates"] = float(self.skipped_updates)
        metrics.update(self.progress_metrics())
        self.metrics.log(metrics, self.collector.env_steps)
        stop = self.budget_exhausted() or self.stop_signal is not None or self.trainer.should_stop
        if self.trainer.world_size > 1:  # all processes stop at the same rollout (one may have got a signal)
            stop = self.trainer.strategy.reduce_boolean_decision(stop, all=False)
        if stop:
            self.trainer.should_stop = True

    def budget_exhausted(self) -> bool:
        return self.collector.env_steps >= self.total_env_steps

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

    def progress_metrics(self) -> dict[str, float]:
        """The counters (`progress/`) and the time so far (`time/`: wall seconds, steps/s, seconds per phase)."""
        elapsed = time.perf_counter() - self._train_start_time
        steps = self.collector.env_steps - self._train_start_steps
        return {
            "progress/episodes": float(self.collector.episodes),
            "progress/rollouts": float(self.current_epoch + 1),
            "time/wall_s": self.wall_time(),
            "time/sps": steps / elapsed if elapsed > 0 else 0.0,  # since this process started training
            **self.metrics.phase_metrics(),
        }

    def wall_time(self) -> float:
        """Seconds of training so far, including the runs this one resumed."""
        return self._wall_s_before + time.perf_counter() - self._train_start_time

    # ----------------------------------------------------------------- optimization
    def set_lr(self, lr: float) -> None:
        for optimizer in self._policy_optimizers():
            for group in optimizer.param_groups:
                group["lr"] = lr

    def _policy_optimizers(self) -> list[torch.optim.Optimizer]:
        optimizers = self.optimizers(use_pl_optimizer=False)
        return [optimizers[0]] if isinstance(optimizers, list) else [optimizers]

    def gradient_step(
        self, optimizer, loss: Tensor, parameters: list[nn.Parameter] | Iterator | None = None
    ) -> Tensor:
        """Backward, clip the global norm to `max_grad_norm`, step. Returns the pre-clip gradient norm.

        `parameters`: those whose gradients are clipped and checked; by default the optimizer's own (read from
        its param groups: walking the module tree for `parameters()` costs about 50 us a step on a small policy).
        A non-finite loss or gradient stops training with a `DivergenceError` (`on_nonfinite: stop`) or skips
        this optimizer step and counts it (`skip`)."""
        torch_optimizer = getattr(optimizer, "optimizer", optimizer)
        optimizer_parameters = [p for group in torch_optimizer.param_groups for p in group["params"]]
        parameters = optimizer_parameters if parameters is None else list(parameters)
        # What `optimizer.zero_grad(set_to_none=True)` does, without its profiler scope (about 4% of a CartPole PPO
        # gradient step)
        for p in optimizer_parameters:
            p.grad = None
        if self._plain_backward:
            loss.backward()
        else:
            self.manual_backward(loss)
        grad_norm = clip_grad_norm_(parameters, self.config.max_grad_norm)
        if not torch.isfinite(grad_norm):  # a non-finite loss gives non-finite gradients too
            if self.on_nonfinite == "stop":
                finite_loss = torch.isfinite(loss)
                raise self.divergence(
                    *(
                        ("loss", loss.item())
                        if not finite_loss
                        else ("diagnostics/grad_norm", grad_norm.item())
                    )
                )
            self.skipped_updates += 1
            optimizer.zero_grad(set_to_none=True)
            return grad_norm
        # The bare torch optimizer: Lightning's wrapper (closure, profiler, step bookkeeping) cost 12% of PPO's
        # CartPole time. Lightning's global_step therefore stays 0; the optimizers' own state counts the steps.
        # Under DDP the gradients are already all-reduced by manual_backward. The weights need no check after this
        # step (`watch_optimizers`): its gradients were finite.
        self._gradients_checked = True
        step_unwrapped(torch_optimizer, own_post_hooks=(self._after_optimizer_step,))
        self._gradients_checked = False
        return grad_norm

    def backward_is_plain(self) -> bool:
        """Whether Lightning's `manual_backward(loss)` does nothing but `loss.backward()` in this fit: one device,
        32-bit precision, no profiler, no Fabric, and neither this module nor a callback overrides a hook around the
        backward (`backward`, `on_before_backward`, `on_after_backward`). `gradient_step` then calls
        `loss.backward()` itself: the hook calls, each through Lightning's callback loop, cost about 0.1 ms a step,
        a twentieth of an A2C update on CartPole."""
        trainer = self.trainer
        hooks = ("on_before_backward", "on_after_backward")
        return (
            type(trainer.strategy) is SingleDeviceStrategy
            and type(trainer.precision_plugin) is Precision
            and type(trainer.profiler) is PassThroughProfiler
            and self._fabric is None
            and all(
                getattr(type(self), hook) is getattr(L.LightningModule, hook) for hook in (*hooks, "backward")
            )
            and all(
                getattr(type(c), hook) is getattr(L.Callback, hook)
                for c in trainer.callbacks
                for hook in hooks
            )
        )

    def watch_optimizers(self, optimizers: list[torch.optim.Optimizer]) -> None:
        """After every step of `optimizers` that did not go through `gradient_step` (which checks the gradients
        first), check that the weights are finite: a non-finite one stops training (`on_nonfinite: stop`)."""
        for optimizer in optimizers:
            optimizer.register_step_post_hook(self._after_optimizer_step)

    def _after_optimizer_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if self._gradients_checked:
            self._gradients_checked = False
            return
        if (
            self.on_nonfinite == "stop"
            and not torch.stack([p.isfinite().all() for p in self.parameters()]).all()
        ):
            raise self.divergence("weights", math.nan)

    def divergence(self, what: str, value: float) -> DivergenceError:
        """The error of a non-finite `what`; `EnvStepCheckpoint` adds which checkpoint is kept."""
        return DivergenceError(what, value, self.collector.env_steps)

    # ----------------------------------------------------------------- Lightning hooks around training
    def setup(self, stage: str) -> None:
        self.metrics.loggers = list(self.loggers)
        if self.trainer.world_size > 1:
            rank = self.trainer.global_rank
            self.collector.distribute(
                rank, self.trainer.world_size, lambda t: self.trainer.strategy.reduce(t, reduce_op="sum")
            )
            # Distinct sampling and shuffling per process; the weights stay process 0's (DDP broadcasts them).
            L.seed_everything(self.collector.seed + rank, workers=True, verbose=False)

    def on_fit_start(self) -> None:
        # Not on_train_start: Lightning prefetches the first batch (collecting the first rollout) before it.
        self._train_start_time = time.perf_counter()
        self._train_start_steps = self.collector.env_steps
        optimizers = self.optimizers(use_pl_optimizer=False)
        self.watch_optimizers(optimizers if isinstance(optimizers, list) else [optimizers])
        self._plain_backward = self.backward_is_plain()

    def on_train_start(self) -> None:
        if self.budget_exhausted():  # resumed from a run that used its budget
            self.trainer.should_stop = True

    # ----------------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Everything a resumed run needs besides what Lightning saves (weights, optimizers, loop counters):
        the collector (env-step and episode counters, normalization statistics, env state), the RNG states,
        the metrics (latest values, evaluations, the thinned training curve, time per phase), the training wall
        time so far, and the run's resolved config. The loggers write their rows first, so a run resumed from
        this checkpoint finds every row up to it."""
        self.metrics.flush()
        checkpoint["collector"] = self.collector.state_dict()
        checkpoint["rng"] = rng_states()
        checkpoint["metrics"] = self.metrics.state_dict()
        checkpoint["wall_s"] = self.wall_time()
        checkpoint["pglab_config"] = self.run_config
        checkpoint["skipped_updates"] = self.skipped_updates

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # The optimizers come back with the checkpoint's learning rates; this run's (e.g. `algo.lr=...` given on
        # resume) win. With anneal_lr the schedule sets the rate before each update anyway.
        for state, name in zip(checkpoint.get("optimizer_states", []), self.optimizer_lrs, strict=False):
            for group in state["param_groups"]:
                group["lr"] = float(getattr(self.config, name))
        self.skipped_updates = int(checkpoint.get("skipped_updates", 0))
        self.collector.load_state_dict(checkpoint.get("collector", {}))
        if "metrics" in checkpoint:
            self.metrics.load_state_dict(checkpoint["metrics"])
        else:  # written before Metrics: the whole history of rows
            self.metrics.load_history(checkpoint.get("history", []))
        self._wall_s_before = float(checkpoint.get("wall_s", 0.0))
        if "rng" in checkpoint and self.collector.rank == 0:  # the other processes keep their own streams
            set_rng_states(checkpoint["rng"])
