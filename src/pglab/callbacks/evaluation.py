"""Periodic evaluation of the policy on a separate env, scheduled in env steps."""

import logging
from collections.abc import Callable
from pathlib import Path

import lightning as L
import numpy as np
from gymnasium.vector import SyncVectorEnv, VectorEnv
from gymnasium.wrappers.vector import RecordEpisodeStatistics
from lightning.pytorch.loggers import WandbLogger

from pglab.algos.base import PolicyGradientModule
from pglab.callbacks.schedule import crossed_multiple
from pglab.checks import check_range
from pglab.console import EVALUATIONS_LOGGER
from pglab.envs.batched import BatchedEnv
from pglab.envs.normalization import load_normalization_state, normalization_state
from pglab.errors import ConfigError
from pglab.rollout.evaluation import evaluate_policy

SCORES = {"mean": np.mean, "mean_minus_std": lambda returns: np.mean(returns) - np.std(returns)}

#: one line per evaluation, written to train.log only (see `pglab.console`)
evaluation_log = logging.getLogger(EVALUATIONS_LOGGER)

#: Evaluation envs are seeded apart from the training envs so evaluation never replays training episodes.
EVAL_SEED_OFFSET = 1_000_000


class PeriodicEvaluation(L.Callback):
    """Evaluate every `every_env_steps` env steps and once more at the end of training.

    Logs `eval/episode_return_mean`, `eval/episode_return_std`, `eval/episode_length_mean` against env
    steps. Every evaluation uses the same episode seeds, so successive evaluations are comparable.

    Args:
        make_env: the env factory (`env` config group), called as `make_env(num_envs=episodes)`.
        every_env_steps: evaluation interval in env steps.
        episodes: episodes per evaluation (one per eval sub-env).
        deterministic: act greedily (argmax / Gaussian mean) instead of sampling.
        seed: run seed; eval episode i is reset with `seed + EVAL_SEED_OFFSET + i`.
        stop_at_score: stop training at the first evaluation whose score reaches this (null: never), as
            SB3's `StopTrainingOnRewardThreshold`.
        score: what `stop_at_score` compares: "mean" return, or "mean_minus_std" (the Hugging Face
            course's leaderboard score).
        video_every: record the first `video_episodes` episodes of every `video_every`-th evaluation, and of
            the final one, to `<video_dir>/eval-step-<env steps>-<i>-episode-0.mp4` (0: never). A W&B logger
            gets them as `eval/video`.
        video_episodes: episodes recorded per video evaluation.
        video_dir: directory of the videos.
    """

    def __init__(
        self,
        make_env: Callable[..., VectorEnv],
        every_env_steps: int = 10_000,
        episodes: int = 20,
        deterministic: bool = True,
        seed: int = 0,
        stop_at_score: float | None = None,
        score: str = "mean",
        video_every: int = 0,
        video_episodes: int = 1,
        video_dir: str = "videos",
    ):
        check_range("callbacks.evaluation.every_env_steps", every_env_steps, 1, integer=True)
        check_range("callbacks.evaluation.episodes", episodes, 1, integer=True)
        if score not in SCORES:
            raise ConfigError(
                f"callbacks.evaluation.score={score!r} is not supported; choose one of {sorted(SCORES)}"
            )
        check_range("callbacks.evaluation.video_every", video_every, 0, integer=True)
        check_range("callbacks.evaluation.video_episodes", video_episodes, 1, episodes, integer=True)
        self.video_every = int(video_every)
        self.video_episodes = int(video_episodes)
        self.video_dir = Path(video_dir)
        self.num_evaluations = 0
        self.stop_at_score = stop_at_score
        self.score = score
        self.make_env = make_env
        self.every_env_steps = int(every_env_steps)
        self.episodes = int(episodes)
        self.deterministic = deterministic
        self.seed = int(seed) + EVAL_SEED_OFFSET
        self.env: VectorEnv | None = None
        self.last_eval_step = -1
        self.last_result: dict[str, float] = {}

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.env is None:
            self.env = self.make_env(num_envs=self.episodes, evaluation=True)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: PolicyGradientModule) -> None:
        steps = pl_module.collector.env_steps
        if self.due(steps):
            self.evaluate(pl_module, final=steps >= pl_module.total_env_steps)

    def due(self, steps: int) -> bool:
        """Whether the schedule evaluates after a rollout that ended at `steps` env steps."""
        return crossed_multiple(max(self.last_eval_step, 0), steps, self.every_env_steps)

    def on_train_end(self, trainer: L.Trainer, pl_module: PolicyGradientModule) -> None:
        # An interrupted run stops promptly; its resumed run evaluates on schedule.
        if self.due_at_end(pl_module):
            self.evaluate(pl_module, final=True)

    def due_at_end(self, pl_module: PolicyGradientModule) -> bool:
        """Whether training's end needs a final evaluation (none at the last rollout, and no signal)."""
        return pl_module.collector.env_steps != self.last_eval_step and pl_module.stop_signal is None

    def evaluate(self, pl_module: PolicyGradientModule, final: bool = False) -> dict[str, float]:
        steps = pl_module.collector.env_steps
        trainer = pl_module.trainer
        with pl_module.metrics.timer("eval"):
            if trainer.world_size > 1:  # data-parallel: process 0 evaluates, the others get its result
                returns, lengths = (
                    self._play(pl_module, steps, final) if trainer.is_global_zero else (None, None)
                )
                returns, lengths = trainer.strategy.broadcast((returns, lengths), src=0)
            else:
                returns, lengths = self._play(pl_module, steps, final)
        return self.record(pl_module, returns, lengths, final)

    def batched_play_possible(self) -> bool:
        """Whether this evaluation's episodes can be played as a block of a bigger vector env (population
        training): greedy actions, no video, an env without normalization wrappers."""
        if not self.deterministic or self.video_every:
            return False
        if isinstance(self.env, BatchedEnv):
            return True
        return isinstance(self.env, RecordEpisodeStatistics) and isinstance(self.env.env, SyncVectorEnv)

    def record(
        self, pl_module: PolicyGradientModule, returns: np.ndarray, lengths: np.ndarray, final: bool = False
    ) -> dict[str, float]:
        """Log an evaluation's episode returns and lengths (played by `evaluate`, or for a population's member by
        the population) and apply `stop_at_score`."""
        self.num_evaluations += 1
        steps = pl_module.collector.env_steps
        trainer = pl_module.trainer
        self.last_eval_step = steps
        self.last_result = {
            "eval/episode_return_mean": float(np.mean(returns)),
            "eval/episode_return_std": float(np.std(returns)),
            "eval/episode_length_mean": float(np.mean(lengths)),
        }
        pl_module.metrics.log(self.last_result, steps)
        evaluation_log.info(
            "Evaluation at %s env steps: return %.2f ± %.2f, length %.1f over %d episodes%s",
            f"{steps:,}",
            self.last_result["eval/episode_return_mean"],
            self.last_result["eval/episode_return_std"],
            self.last_result["eval/episode_length_mean"],
            len(returns),
            " (final)" if final else "",
        )
        if self.stop_at_score is not None and SCORES[self.score](returns) >= self.stop_at_score:
            trainer.should_stop = True
        return self.last_result

    def _play(
        self, pl_module: PolicyGradientModule, steps: int, final: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """The returns and lengths of `episodes` evaluation episodes of the current policy (and their videos)."""
        record = self.video_every > 0 and (final or (self.num_evaluations + 1) % self.video_every == 0)
        prefix = f"eval-step-{steps}"
        # A video evaluation runs on a fresh env that renders; same seeds, so the same episodes as self.env.
        env = (
            self.make_env(
                num_envs=self.episodes,
                evaluation=True,
                video_dir=self.video_dir,
                video_episodes=self.video_episodes,
                video_prefix=prefix,
            )
            if record
            else self.env
        )
        # Observation normalization: evaluate with the statistics training has reached (frozen in `env`).
        load_normalization_state(env, normalization_state(pl_module.collector.env))
        was_training = pl_module.policy.training
        pl_module.policy.eval()
        returns, lengths = evaluate_policy(pl_module.policy, env, self.seed, self.deterministic)
        pl_module.policy.train(was_training)
        if record:
            env.close()  # writes the videos
            videos = [str(self.video_dir / f"{prefix}-{i}-episode-0.mp4") for i in range(self.video_episodes)]
            for logger in pl_module.loggers:
                if isinstance(logger, WandbLogger):
                    logger.log_video("eval/video", videos, step=steps)
        return returns, lengths

    def state_dict(self) -> dict:
        return {"last_eval_step": self.last_eval_step, "num_evaluations": self.num_evaluations}

    def load_state_dict(self, state_dict: dict) -> None:
        self.last_eval_step = int(state_dict["last_eval_step"])
        self.num_evaluations = int(state_dict["num_evaluations"])

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.env is not None:
            self.env.close()
            self.env = None
