"""Weights & Biases logging for pglab runs: Lightning's `WandbLogger` with four changes.

1. Every metric is plotted against env steps: `time/env_steps` is logged with each row and declared the step
   metric of every key (W&B's `define_metric`), instead of Lightning's `trainer/global_step`, which counts
   optimizer steps and is not comparable across algorithms.
2. `mode=auto` runs offline on its own when no API key is configured (`WANDB_API_KEY`, or a `wandb login`
   entry in ~/.netrc), saying so in one line; `wandb sync <run dir>/wandb/offline-run-*` uploads it later.
   Nothing prompts and nothing touches the network. pglab never writes the API key anywhere: the saved config
   holds no credentials, and W&B reads the key from the environment or ~/.netrc only.
3. In a Hydra multirun, `group` defaults to the sweep dir's name (all jobs of a sweep share it) and `name` to
   the job's overrides with its seed, so each job is its own, recognizable run. The run is finished when
   training ends, also when it fails, so the next job starts a new one.
4. `log_model` logs `last.ckpt` / `best.ckpt` (from `pglab.callbacks.EnvStepCheckpoint`) as `model`
   artifacts, also in offline mode (they upload with `wandb sync`). Lightning's own implementation only works
   with `ModelCheckpoint` and refuses offline mode.
"""

import logging
import netrc
import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.loggers.logger import rank_zero_experiment
from lightning.pytorch.utilities import rank_zero_only

from pglab.errors import ConfigError

log = logging.getLogger(__name__)

ENV_STEP_KEY = "time/env_steps"
MODES = ("auto", "online", "offline", "disabled")
LOG_MODEL = (False, True, "all")


def has_wandb_credentials() -> bool:
    """Whether an API key is configured: `WANDB_API_KEY`, or a ~/.netrc entry for the W&B host."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    try:
        return netrc.netrc(os.environ.get("NETRC")).authenticators(host) is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def resolve_mode(mode: str, save_dir: str) -> str:
    """`auto`: `WANDB_MODE` if set, else online with credentials and offline without (one log line)."""
    if mode not in MODES:
        raise ConfigError(f"logger.wandb.mode={mode!r} is not supported; choose one of {list(MODES)}")
    if mode != "auto":
        return mode
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    if has_wandb_credentials():
        return "online"
    log.info("W&B: no API key configured, logging offline to %s/wandb; upload later with `wandb sync %s/wandb/offline-run-*`",
             save_dir, save_dir)  # fmt: skip
    return "offline"


def hydra_job_defaults(seed: int | None) -> tuple[str | None, str | None]:
    """(group, name) for a W&B run from the Hydra job: in a multirun, the sweep dir's name and the job's
    overrides plus its seed; in a single run, no group and the overrides plus seed (or the run dir's name)."""
    if not HydraConfig.initialized():
        return None, None
    hydra_cfg = HydraConfig.get()
    overrides = [o for o in hydra_cfg.overrides.task if not o.startswith(("seed=", "logger", "hydra"))]
    name = " ".join([*overrides, f"seed={seed}"]) if seed is not None else " ".join(overrides) or None
    if hydra_cfg.mode == RunMode.MULTIRUN:
        return Path(hydra_cfg.sweep.dir).name, name
    return None, name or Path(hydra_cfg.runtime.output_dir).name


class EnvStepWandbLogger(WandbLogger):
    """Args:
    project: W&B project.
    entity: W&B team or user; null: your default entity.
    group: run group; null: the sweep dir's name in a multirun, none otherwise.
    tags: run tags.
    name: run name; null: the job's overrides and seed.
    mode: auto | online | offline | disabled (auto: offline without an API key).
    log_model: false | true (last.ckpt and best.ckpt when training ends) | all (every save).
    save_dir: directory of the local W&B files (`<save_dir>/wandb`).
    seed: the run's seed, shown in the default name.
    """

    def __init__(
        self,
        project: str = "pglab",
        entity: str | None = None,
        group: str | None = None,
        tags: list[str] | tuple[str, ...] = (),
        name: str | None = None,
        mode: str = "auto",
        log_model: bool | Literal["all"] = False,
        save_dir: str = ".",
        seed: int | None = None,
    ):
        if log_model not in LOG_MODEL:
            raise ConfigError(f"logger.wandb.log_model={log_model!r} is not supported; choose one of [false, true, 'all']")
        default_group, default_name = hydra_job_defaults(seed)
        Path(save_dir).mkdir(parents=True, exist_ok=True)
        super().__init__(
            name=name or default_name,
            save_dir=save_dir,
            project=project,
            entity=entity,
            group=group or default_group,
            tags=list(tags),
            mode=resolve_mode(mode, save_dir),
            reinit="finish_previous",
        )
        self._wandb_init.pop("anonymous", None)  # deprecated in wandb; Lightning always passes it
        self.log_checkpoints = log_model
        self._pending_checkpoints: dict[str, tuple[Path, int]] = {}

    def resume_at(self, env_steps: int) -> None:
        """Continue the W&B run this run dir already holds (`resume=<run dir>`), if any: same run id, so the
        dashboard shows one run. Call before logging. (W&B cannot delete history: steps the interrupted
        process logged after its last checkpoint appear twice; SIGINT/SIGTERM checkpoint at the stop, so only a
        hard kill leaves such steps.)"""
        runs = sorted(Path(self._wandb_init["dir"]).glob("wandb/*run-*-*"), key=lambda p: p.stat().st_mtime)
        if runs:
            self._wandb_init.update(id=runs[-1].name.rsplit("-", 1)[-1], resume="allow")

    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        if self._experiment is None:
            import wandb

            self._experiment = wandb.init(**self._wandb_init)
            self._experiment.define_metric(ENV_STEP_KEY)
            self._experiment.define_metric("*", step_metric=ENV_STEP_KEY, step_sync=True)
        return self._experiment

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        """Log `metrics` at env step `step` (pglab passes env steps, never optimizer steps)."""
        row = dict(metrics) if step is None else {**metrics, ENV_STEP_KEY: step}
        self.experiment.log(row)

    @rank_zero_only
    def log_checkpoint_file(self, path: Path, alias: str, env_steps: int) -> None:
        """Called by `EnvStepCheckpoint` after each save; `alias` is "last" or "best"."""
        if self.log_checkpoints == "all":
            self._log_artifact(path, alias, env_steps)
        elif self.log_checkpoints:
            self._pending_checkpoints[alias] = (path, env_steps)

    def _log_artifact(self, path: Path, alias: str, env_steps: int) -> None:
        import wandb

        artifact = wandb.Artifact(name=f"model-{self.experiment.id}", type="model",
                                  metadata={"env_steps": env_steps, "file": path.name})  # fmt: skip
        artifact.add_file(str(path), name=path.name)  # copied to W&B's staging area: later saves don't alter it
        self.experiment.log_artifact(artifact, aliases=[alias, f"step-{env_steps}"])

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """Log the pending checkpoints (on success) and finish the W&B run, so the next job gets its own."""
        if self._experiment is None:
            return
        if status == "success":
            for alias, (path, env_steps) in self._pending_checkpoints.items():
                self._log_artifact(path, alias, env_steps)
        self._pending_checkpoints.clear()
        self._experiment.finish(exit_code=0 if status == "success" else 1)
        self._experiment = None
