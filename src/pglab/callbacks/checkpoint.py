"""Checkpoints scheduled in env steps, written atomically.

Lightning's `ModelCheckpoint` schedules saves by optimizer steps, epochs or wall time, none of which
maps to env steps (one epoch is one rollout, which may hold 40 or 4000 env steps, and A2C runs tens of
thousands of them), so pglab schedules its own: `last.ckpt` every `every_env_steps` and at the end of
training, `best.ckpt` whenever the monitored metric (the latest evaluation) improves. Each file is written
to a temporary name in the same directory and renamed over the old one, so an interrupted save never
leaves a truncated checkpoint behind; a save that fails (a full disk) removes the temporary file and raises
`StorageError`: "could not write <run>/checkpoints/last.ckpt: No space left on device; the previous last.ckpt is
kept". The bytes are written once, there (`pglab.checkpoint_io.LocalCheckpointIO`, conf/trainer/default.yaml).

It subclasses Lightning's `Checkpoint`, so Lightning runs it after every other callback: the evaluation
of the same rollout (and the final one, in `on_train_end`) is always done before it looks for a new best.
"""

import math
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Checkpoint

from pglab.algos.base import PolicyGradientModule
from pglab.atomic import atomic_path, storage_error
from pglab.callbacks.schedule import crossed_multiple
from pglab.checks import check_range
from pglab.errors import ConfigError, DivergenceError


class EnvStepCheckpoint(Checkpoint):
    """Args:
    dirpath: directory of `last.ckpt` and `best.ckpt`.
    every_env_steps: interval of `last.ckpt` saves.
    monitor: metric whose improvement triggers `best.ckpt` (read from the module's latest metrics).
    mode: "max" or "min".
    """

    def __init__(
        self,
        dirpath: str,
        every_env_steps: int = 50_000,
        monitor: str = "eval/episode_return_mean",
        mode: str = "max",
    ):
        check_range("callbacks.checkpoint.every_env_steps", every_env_steps, 1, integer=True)
        if mode not in ("max", "min"):
            raise ConfigError(
                f"callbacks.checkpoint.mode={mode!r} is not supported; choose one of ['max', 'min']"
            )
        self.dirpath = Path(dirpath)
        self.every_env_steps = int(every_env_steps)
        self.monitor = monitor
        self.mode = mode
        self.best = -math.inf if mode == "max" else math.inf
        self._last_saved_step = 0

    def _improved(self, value: float) -> bool:
        return value > self.best if self.mode == "max" else value < self.best

    def save(self, trainer: L.Trainer, name: str) -> Path:
        """Write `<dirpath>/<name>`; StorageError (the previous file kept, no `.tmp` left) if it cannot be written."""
        try:
            self.dirpath.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise storage_error(self.dirpath, error) from error
        path = self.dirpath / name
        timer = trainer.lightning_module.metrics.timer("checkpoint")
        with timer, atomic_path(path, commit=trainer.is_global_zero) as tmp:
            trainer.save_checkpoint(tmp, weights_only=False)  # every process takes part; process 0 writes
        for logger in trainer.loggers:  # W&B logs it as an artifact when its log_model is set
            if hasattr(logger, "log_checkpoint_file"):
                logger.log_checkpoint_file(path, path.stem, trainer.lightning_module.collector.env_steps)
        return path

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: PolicyGradientModule) -> None:
        self._maybe_save_best(trainer, pl_module)
        steps = pl_module.collector.env_steps
        if crossed_multiple(self._last_saved_step, steps, self.every_env_steps):
            self._last_saved_step = steps  # before the save, so the checkpoint holds it
            self.save(trainer, "last.ckpt")

    def on_train_end(self, trainer: L.Trainer, pl_module: PolicyGradientModule) -> None:
        self._maybe_save_best(trainer, pl_module)
        self._last_saved_step = pl_module.collector.env_steps
        self.save(trainer, "last.ckpt")

    def _maybe_save_best(self, trainer: L.Trainer, pl_module: PolicyGradientModule) -> None:
        value = pl_module.metrics.latest.get(self.monitor)
        if value is not None and not math.isnan(value) and self._improved(value):
            self.best = value
            self.save(trainer, "best.ckpt")

    def on_exception(
        self, trainer: L.Trainer, pl_module: PolicyGradientModule, exception: BaseException
    ) -> None:
        """A divergence names the last good checkpoint, `last.ckpt` (kept as it was), if one was saved."""
        path = self.dirpath / "last.ckpt"
        if isinstance(exception, DivergenceError) and path.is_file():
            exception.kept = (path, self._last_saved_step)

    def state_dict(self) -> dict:
        return {"best": self.best, "last_saved_step": self._last_saved_step}

    def load_state_dict(self, state_dict: dict) -> None:
        self.best = state_dict["best"]
        self._last_saved_step = state_dict["last_saved_step"]
