"""What a population LightningModule is, whatever its algorithm: its members, their collection, evaluation,
metrics and checkpoints; each algorithm's population (`PopulationPPO`, `PopulationA2C`, `PopulationVPG`,
`PopulationREINFORCE`) adds its optimizers and its batched update (and REINFORCE its lockstep episode collection).

The members are ordinary modules of the algorithm (`PPO`, `A2C`, `VPG`, `REINFORCE`), built as their own runs would build them (same
seed, env, collector, initial weights, hyperparameters and checks). Each keeps its collector, its metrics and its
evaluation; what the population adds is the update: `training_step` computes every member's loss at once on stacked
parameters (`StackedActorCritic`) and steps them with a population optimizer (`PopulationAdam`,
`PopulationRMSprop`), with each member's own learning rate and schedule, gradient-norm clipping, coefficients and
RNG stream.

Members never couple, and each trains exactly as its ordinary run on the CPU:
- every batched operation gives member k's rows the bits of the member's own computation (see
  `pglab.population.network`), and the optimizer is the ordinary run's, per member (`pglab.population.optimizer`);
- each member owns a torch generator, started where its ordinary run's global generator is after building the
  run, that its action sampling (the global generator is swapped in around the member's rollout) and its
  minibatch shuffling draw from, in the ordinary run's order;
- a member that diverges (non-finite loss or gradient, `on_nonfinite: stop`) stops and is marked failed, its
  rows are no longer stepped, and the others go on; a member whose evaluation reaches `stop_at_score` (or whose
  budget is spent before the others') ends its run there, as its own run ends: its final evaluation and its end
  checkpoints with the loop state of that rollout.

One rollout per Lightning epoch, as `PolicyGradientModule`: collect and prepare every member's batch, the batched
update, then each member's evaluation and metrics row (logged to the member's own loggers).
"""

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import Logger
from torch import Tensor

from pglab.algos.base import PolicyGradientModule
from pglab.callbacks import EnvStepCheckpoint, PeriodicEvaluation
from pglab.envs.batched import BatchedEnv
from pglab.errors import DivergenceError
from pglab.population import checkpoints
from pglab.population.collector import PopulationCollector
from pglab.population.network import StackedActorCritic
from pglab.population.optimizer import PopulationOptimizer
from pglab.rollout.batch import Rollout, TrainingBatch
from pglab.rollout.batched_collector import clip_actions
from pglab.rollout.collector import env_actions
from pglab.rollout.dataset import RolloutDataset, draw_loader_seed


@dataclass
class MemberTrainer:
    """What a member module and its callbacks read from a Lightning trainer, for one member of a population."""

    population: L.Trainer
    loggers: list[Logger] = field(default_factory=list)
    should_stop: bool = False
    world_size: int = 1
    global_rank: int = 0
    is_global_zero: bool = True

    @property
    def current_epoch(self) -> int:
        return self.population.current_epoch


@dataclass
class Member:
    """One member: its module (an ordinary run's, e.g. `PPO`), its evaluation callback and where it stands."""

    module: PolicyGradientModule
    evaluation: PeriodicEvaluation | None
    generator: torch.Generator
    #: the member's checkpoint schedule and best score (its `callbacks.checkpoint`), or None: no checkpoints
    checkpoint: EnvStepCheckpoint | None = None
    #: numpy's, Python's and CUDA's RNG states of the member's run (what its checkpoints hold besides the generator)
    rng_states: dict = field(default_factory=dict)
    trainer: MemberTrainer | None = None
    failure: BaseException | None = None
    #: trains no further: its budget is used, its evaluation reached `stop_at_score`, or a signal stopped it
    finished: bool = False
    #: finished before any signal came (its run completed; one stopped by the signal is interrupted)
    completed: bool = False
    #: Lightning's loop state `(epoch, loops)` at the end of the member's own run, once it completed before the
    #: population's end (its end checkpoints hold it; None: the population's trainer's state)
    end_loops: tuple[int, dict] | None = None

    @property
    def training(self) -> bool:
        return self.failure is None and not self.finished


class PopulationModule(L.LightningModule):
    """The population's loop; a subclass gives `make_optimizer`, `training_step` and `update_keys` (and may collect
    otherwise: `fixed_length_rollouts`, `collect_rollouts`).

    Args:
    members: the members, in job order (all with the same env, network, rollout shape and update schedule).
    collector: a `PopulationCollector` of all members' sub-envs (torch backend), or None.
    eval_env: a batched env of `P * episodes` sub-envs for the members' evaluations (torch backend), or None.
    """

    def __init__(
        self,
        members: list[Member],
        collector: PopulationCollector | None = None,
        eval_env: BatchedEnv | None = None,
    ):
        super().__init__()
        #: the batched collector of all members' sub-envs, or None: each member collects with its own
        self.collector = collector
        #: a batched env of every member's evaluation sub-envs, or None: each member's evaluation plays its own
        self.eval_env = eval_env
        self.automatic_optimization = False
        self.members = members
        first = members[0].module
        self.total_env_steps = first.total_env_steps
        self.stacked = StackedActorCritic([m.module.policy for m in members])
        self.optimizer = self.make_optimizer()
        self.stop_signal: str | None = None
        self._batches: list[TrainingBatch | None] = []
        self._rollout_metrics: list[dict[str, float]] = []

    @property
    def size(self) -> int:
        return len(self.members)

    def training_members(self) -> list[int]:
        return [k for k, m in enumerate(self.members) if m.training]

    #: the metrics of each gradient step of the update, in the order `training_step` stacks them
    update_keys: tuple[str, ...] = ()
    #: whether every member's rollout is `num_steps` steps of its sub-envs (False: REINFORCE's whole episodes, whose
    #: collection the subclass gives in `collect_rollouts`; a gymnasium population env cannot hold them)
    fixed_length_rollouts = True

    def make_optimizer(self) -> PopulationOptimizer:
        """The (policy's) optimizer of `self.stacked.params`, each member's rows the optimizer of its ordinary run;
        its learning rates follow the members' `lr` and schedule."""
        raise NotImplementedError

    def population_optimizers(self) -> list[PopulationOptimizer]:
        """Every optimizer, in the order of the ordinary run's `configure_optimizers` (its checkpoints' order)."""
        return [self.optimizer]

    def configure_optimizers(self):
        return None  # the population's optimizer is stepped by hand; Lightning holds no optimizer

    def train_dataloader(self):
        return RolloutDataset(self.next_batch, lambda: not self.training_members())

    def transfer_batch_to_device(self, batch: list, device: torch.device, dataloader_idx: int) -> list:
        """The batches as they are: the members' collectors build them on the population's device."""
        return batch

    # ----------------------------------------------------------------- collect
    def next_batch(self) -> list[TrainingBatch | None]:
        """Every training member's rollout (`collect_rollouts`, each member sampling from its own generator) and
        batch (its own `prepare_batch`)."""
        self._batches = [None] * self.size
        self._rollout_metrics = [{} for _ in range(self.size)]
        training = self.training_members()
        for k in training:
            module = self.members[k].module
            module.progress_before_rollout = module.collector.env_steps / module.total_env_steps
            # An ordinary run's dataset draws a DataLoader iterator's base seed from the global generator at every
            # rollout (`RolloutDataset`); the member's stream draws it too, to stay in step.
            draw_loader_seed(self.members[k].generator)
        rollouts = self.collect_rollouts(training)
        for k in training:
            module = self.members[k].module
            rollout = rollouts[k]
            self._rollout_metrics[k] = module.episode_metrics(rollout)  # (its trainer: one process)
            with module.metrics.timer("advantages"):
                self._batches[k] = module.prepare_batch(rollout)
        return self._batches

    def collect_rollouts(self, training: list[int]) -> dict[int, Rollout]:
        """The rollout of every member in `training`: all of them by the population's collector where there is one,
        else each by its own collector."""
        if self.collector is None:
            return {k: self._collect_alone(self.members[k]) for k in training}
        start = time.perf_counter()
        num_steps = self.members[0].module.config.num_steps
        rollouts = self.collector.collect(self.stacked, self.generators(), num_steps, training)
        self._add_collect_time(training, time.perf_counter() - start)
        return rollouts

    def generators(self) -> list[torch.Generator]:
        """Every member's generator, in member order (what the stacked network samples from)."""
        return [m.generator for m in self.members]

    def _add_collect_time(self, training: list[int], seconds: float) -> None:
        """The population's collection time, counted to every member that collected."""
        for k in training:
            self.members[k].module.metrics.phase_seconds["collect"] += seconds

    def _collect_alone(self, member: Member):
        """A rollout of `member` by its own collector, the member's generator as the global one meanwhile."""
        module = member.module
        with module.metrics.timer("collect"):
            global_state = torch.get_rng_state()
            torch.set_rng_state(member.generator.get_state())
            try:
                return module.collect_rollout()
            finally:
                member.generator.set_state(torch.get_rng_state())
                torch.set_rng_state(global_state)

    # ----------------------------------------------------------------- update
    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        """Each member's learning rate for this update (CleanRL's linear annealing where the member anneals)."""
        for k, member in enumerate(self.members):
            config = member.module.config
            progress = member.module.progress_before_rollout
            self.optimizer.lr[k] = config.lr * max(0.0, 1.0 - progress) if config.anneal_lr else config.lr
        self._update_start = time.perf_counter()

    def member_params(self, member_ids: list[int], critic_only: bool = False) -> list[Tensor]:
        """The stacked parameters of members `member_ids`, in `self.stacked.params`' order (all of them: the stacked
        tensors themselves); with `critic_only`, the actor's are left whole (a critic pass does not read them)."""
        if len(member_ids) == self.size:
            return self.stacked.params
        critic = {id(p) for p in self.stacked.critic_params()} if critic_only else None
        return [p[member_ids] if critic is None or id(p) in critic else p for p in self.stacked.params]

    def _step_members(
        self,
        loss: Tensor,
        member_ids: list[int],
        max_norm: Tensor,
        keep: list[bool] | None = None,
        optimizer: PopulationOptimizer | None = None,
    ) -> tuple[Tensor, list[bool]]:
        """One gradient step of members `member_ids` from their losses `loss (U,)`, as each member's own
        `gradient_step` takes it: backward (of the members marked in `keep`; default all), each member's gradients
        clipped to its `max_norm (U, 1)` (inf: no clipping), then an optimizer step of every member whose gradients
        are finite. `optimizer`: the one whose parameters step (default `self.optimizer`). A member with non-finite
        gradients is marked failed (`on_nonfinite: stop`) or skips the step and counts it (`skip`). Returns the
        pre-clip gradient norms `(U,)` and, per member, whether it goes on (False: it failed)."""
        keep = [True] * len(member_ids) if keep is None else keep
        optimizer = self.optimizer if optimizer is None else optimizer
        optimizer.zero_grad()
        (loss[torch.tensor(keep)].sum() if not all(keep) else loss.sum()).backward()
        grad_norm = self._clip_gradients(optimizer.params, member_ids, max_norm)
        finite = torch.isfinite(grad_norm).tolist()
        step = [False] * self.size
        going = [True] * len(member_ids)
        for j, k in enumerate(member_ids):
            module = self.members[k].module
            if not keep[j]:
                continue
            if finite[j]:
                step[k] = True
            elif module.on_nonfinite == "stop":
                bad_loss = not bool(torch.isfinite(loss[j]))
                what, value = ("loss", loss[j]) if bad_loss else ("diagnostics/grad_norm", grad_norm[j])
                self.members[k].failure = DivergenceError(
                    what, float(value.detach()), module.collector.env_steps
                )
                going[j] = False
            else:  # on_nonfinite: skip this member's step
                module.skipped_updates += 1
        optimizer.step(step)
        return grad_norm, going

    def _clip_gradients(self, params: list[Tensor], member_ids: list[int], max_norm: Tensor) -> Tensor:
        """Each member's global gradient norm `(U,)` over the stacked `params` (as `get_total_norm`), its
        gradients scaled by `min(1, max_norm / (norm + 1e-6))` (as `clip_grad_norm_`; `max_norm` inf where a member
        does not clip)."""
        grads = [p.grad for p in params]
        ids = torch.tensor(member_ids)
        rows = [g if len(member_ids) == self.size else g[ids] for g in grads]
        norms = torch.stack([torch.linalg.vector_norm(g.flatten(1), dim=1) for g in rows], dim=1)
        total = torch.linalg.vector_norm(norms, dim=1)
        # `max_norm / (total + 1e-6)` as `clip_grad_norm_` computes it: a float over a tensor is the tensor's
        # `__rtruediv__`, `reciprocal() * max_norm` (two roundings, which a division would not give)
        coefficient = torch.clamp((total + 1e-6).reciprocal() * max_norm.squeeze(-1), max=1.0)
        clips = torch.isfinite(max_norm.squeeze(-1))
        if bool(clips.any()):
            for g in grads:
                scale = torch.where(clips, coefficient, torch.ones_like(coefficient))
                shape = (len(member_ids),) + (1,) * (g.dim() - 1)
                if len(member_ids) == self.size:
                    g.mul_(torch.where(clips.reshape(shape), scale.reshape(shape), 1.0))
                else:
                    g[ids] = g[ids] * torch.where(clips.reshape(shape), scale.reshape(shape), 1.0)
        return total

    # ----------------------------------------------------------------- after the update
    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        elapsed = time.perf_counter() - self._update_start
        for k in self.training_members():
            self.members[k].module.metrics.phase_seconds["update"] += elapsed  # the population's update

    def on_train_epoch_start(self) -> None:
        #: per member that updated: its steps' metric rows, and its target-KL early stops (None: no such stops)
        self._update_means: dict[int, tuple[list[Tensor], int | None]] = {}

    def on_train_epoch_end(self) -> None:
        """Each member's evaluation, then its metrics row; stop when no member trains any more."""
        due = [
            k
            for k in self._update_means
            if self.members[k].evaluation is not None
            and self.members[k].failure is None
            and self.members[k].evaluation.due(self.members[k].module.collector.env_steps)
        ]
        self._evaluate(due)
        for k, member in enumerate(self.members):
            if k not in self._update_means or member.failure is not None:
                continue  # a member that diverged in this update logs no row, as its own run raises in it
            module = member.module
            steps_values, early_stops = self._update_means[k]
            row = {**self._rollout_metrics[k], **module.metrics.update_means()}
            if (
                steps_values
            ):  # each key's mean over the update's steps, reduced as `Metrics.update_means` does
                means = torch.stack(steps_values).t().contiguous().mean(-1).tolist()
                row.update(zip(self.update_keys, means, strict=True))
            if early_stops is not None and (steps_values or early_stops):
                flags = torch.tensor([0.0] * len(steps_values) + [1.0] * early_stops)
                row["diagnostics/early_stop"] = flags.mean().item()
            row["optim/lr"] = self.optimizer.lr[k]
            if module.on_nonfinite == "skip":
                row["diagnostics/skipped_updates"] = float(module.skipped_updates)
            row.update(module.progress_metrics())
            module.metrics.log(row, module.collector.env_steps)
            if module.budget_exhausted() or member.trainer.should_stop:
                member.finished = True
                member.completed = self.stop_signal is None
            if member.failure is None and self.stop_signal is None:
                checkpoints.after_rollout(self, k)
        completed_now = [
            k for k in self._update_means if self.members[k].completed and self.members[k].end_loops is None
        ]
        if completed_now:
            self._end_members(completed_now)
        if not self.training_members() or self.stop_signal is not None:
            self.trainer.should_stop = True

    def _end_members(self, ended: list[int]) -> None:
        """The end of the runs of members `ended`, which completed at this rollout, as their own runs' `on_train_end`
        follows it: the final evaluation, then `last.ckpt` (and `best.ckpt` where the evaluation improved), with
        the loop state Lightning has when a run stops after this rollout. The population may train on; these
        members' end stays theirs."""
        loops = copy.deepcopy(self.trainer._checkpoint_connector._get_loops_state_dict())
        for tracker in ("total", "current"):  # what the fit loop counts after `on_train_epoch_end`
            loops["fit_loop"]["epoch_progress"][tracker]["completed"] += 1
        for k in ended:
            self.members[k].end_loops = (self.trainer.current_epoch + 1, loops)
        self._evaluate(
            [k for k in ended if self.members[k].evaluation is not None and self._due_at_end(k)], final=True
        )
        for k in ended:
            checkpoints.at_end(self, k)

    def _due_at_end(self, k: int) -> bool:
        return self.members[k].evaluation.due_at_end(self.members[k].module)

    def on_fit_start(self) -> None:
        now = time.perf_counter()
        for member in self.members:
            member.module._train_start_time = now
            member.module._train_start_steps = member.module.collector.env_steps

    def on_train_end(self) -> None:
        """The final evaluations, then every member's `last.ckpt` (an interrupted population's too)."""
        going = [k for k, m in enumerate(self.members) if m.failure is None and m.end_loops is None]
        self._evaluate(
            [k for k in going if self.members[k].evaluation is not None and self._due_at_end(k)], final=True
        )
        for k, member in enumerate(self.members):
            if k in going:
                checkpoints.at_end(self, k)
            elif isinstance(member.failure, DivergenceError) and member.checkpoint is not None:
                path = member.checkpoint.dirpath / "last.ckpt"
                if path.is_file():  # the error names the last good checkpoint, as an ordinary run's
                    member.failure.kept = (path, member.checkpoint._last_saved_step)

    def _evaluate(self, due: list[int], final: bool | None = None) -> None:
        """The evaluations of members `due`: played together in the population's evaluation env where it has one
        (every member's episodes as its own evaluation plays them), else each by its own callback."""
        if self.stop_signal is not None and final:  # as an interrupted run: no final evaluation
            return
        if not due:
            return
        together = [
            k for k in due if self.eval_env is not None and self.members[k].evaluation.batched_play_possible()
        ]
        if not isinstance(self.eval_env, BatchedEnv) and len(together) * 4 < 3 * self.size:
            # A gymnasium vector env steps every member's sub-envs: for a few members (REINFORCE's, which reach
            # their evaluations at different rollouts) their own evaluations cost less
            together = []
        if together:
            start = time.perf_counter()
            returns, lengths = self._play_together(together)
            elapsed = time.perf_counter() - start
            for k in together:
                module = self.members[k].module
                module.metrics.phase_seconds["eval"] += elapsed  # the population's evaluation time
                done = final if final is not None else module.collector.env_steps >= module.total_env_steps
                self.members[k].evaluation.record(module, returns[k], lengths[k], final=done)
        for k in due:
            if k not in together:
                member = self.members[k]
                done = (
                    final if final is not None else member.module.collector.env_steps >= self.total_env_steps
                )
                member.evaluation.evaluate(member.module, final=done)

    @torch.no_grad()
    def _play_together(self, members: list[int]):
        """One greedy episode in each evaluation sub-env of `members`, member k's block of sub-envs started as its
        own evaluation starts them (the other members' blocks step too, but their episodes are not waited for);
        `(returns, lengths)`, each `(P, episodes)` numpy arrays (meaningful in the rows of `members`)."""
        env = self.eval_env
        P = self.size
        space = env.single_action_space
        playing = np.zeros((P, env.num_envs // P), dtype=bool)
        playing[members] = True
        if isinstance(env, BatchedEnv):
            obs, _ = env.reset_blocks([m.evaluation.seed for m in self.members])
            returns = torch.zeros(env.num_envs, dtype=torch.float64, device=obs.device)
            lengths = torch.zeros(env.num_envs, dtype=torch.int64, device=obs.device)
            running = torch.from_numpy(playing.reshape(-1)).to(obs.device)
            while bool(running.any()):
                actions = self.stacked.deterministic_action(obs.view(P, -1, *obs.shape[1:])).flatten(0, 1)
                obs, rewards, terminated, truncated, _ = env.step(clip_actions(actions, space))
                returns += torch.where(running, rewards, 0.0)
                lengths += running
                running &= ~(terminated | truncated)
            return returns.view(P, -1).cpu().numpy(), lengths.view(P, -1).cpu().numpy()
        # a gymnasium vector env: as `evaluate_policy`, sub-env i of member k reset with seed `seed_k + i`
        episodes = env.num_envs // P
        obs, _ = env.reset(seed=[m.evaluation.seed + i for m in self.members for i in range(episodes)])
        returns = np.zeros(env.num_envs)
        lengths = np.zeros(env.num_envs, dtype=np.int64)
        running = playing.reshape(-1)
        while running.any():
            obs_t = torch.as_tensor(obs, dtype=torch.float32).view(P, episodes, *obs.shape[1:])
            actions = self.stacked.deterministic_action(obs_t).flatten(0, 1)
            obs, rewards, terminated, truncated, _ = env.step(env_actions(actions, space))
            returns[running] += rewards[running]
            lengths[running] += 1
            running &= ~(terminated | truncated)
        return returns.reshape(P, -1), lengths.reshape(P, -1)


def member_column(values: list, device: torch.device) -> Tensor:
    """The members' values of one scalar hyperparameter as a float32 `(U,)` tensor (what an ordinary run's float
    scalar becomes in a float32 operation)."""
    return torch.tensor([float(v) for v in values], dtype=torch.float32, device=device)


def max_norm_column(configs: list, device: torch.device) -> Tensor:
    """The members' `max_grad_norm` as a `(U, 1)` float32 column, inf where a member does not clip."""
    return member_column([math.inf if c.max_grad_norm is None else c.max_grad_norm for c in configs], device)[
        :, None
    ]


def stack_batches(batches: list[TrainingBatch]) -> TrainingBatch:
    """The members' batches as one with a member axis first: every field `(P, B, ...)`."""
    return TrainingBatch(
        **{
            name: torch.stack([getattr(b, name) for b in batches])
            for name in TrainingBatch.__dataclass_fields__
        }
    )


def expand_index(index: Tensor, x: Tensor) -> Tensor:
    """`index (U, mb)` expanded over the trailing dims of `x (U, B, ...)` for `gather(1, ...)`."""
    return index.reshape(index.shape + (1,) * (x.dim() - 2)).expand(index.shape + x.shape[2:])
