"""`run(cfg)`: check the whole config, build the env, collector, policy, algorithm, loggers, callbacks and
trainer in that order, train to the env-step budget, and write the run's reports."""

import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig, OmegaConf

from pglab import allocator
from pglab.algos.base import PolicyGradientModule
from pglab.atomic import atomic_path
from pglab.callbacks import PeriodicEvaluation
from pglab.callbacks.signals import StopOnSignals
from pglab.console import quiet_libraries
from pglab.errors import ConfigError, find_error
from pglab.preflight import preflight
from pglab.reporting import final_summary, plot_learning_curve, record_failure, summary_line, write_summary
from pglab.rollout.batched_collector import make_collector
from pglab.run_dir import check_holds_no_run, clear_leftovers, process_rank, run_dir_lock
from pglab.sweep_summary import point_to_resumed_run

log = logging.getLogger(__name__)


def write_config(cfg: DictConfig, path: Path) -> None:
    """The resolved config, written atomically (a resumed run rewrites it with its overrides)."""
    with atomic_path(path) as tmp:
        OmegaConf.save(cfg, tmp, resolve=True)


def run(cfg: DictConfig, overrides: list[str] = ()) -> dict[str, Any]:
    """Train one run as configured; returns the summary (also written to `<run dir>/summary.json`).

    With `resume=<run dir>`, the run's saved config (plus the `key=value` entries of `overrides`, the command
    line's) continues from its `checkpoints/last.ckpt` in that dir. The whole config is checked before anything
    is written (`pglab.preflight`), and this process holds the run dir's lock while it runs. A dir that holds a
    run is never written to otherwise. When a run fails, `summary.json` records `status: failed`, the error and
    the env steps trained before the error propagates, so a sweep summary can report the job (a run that failed
    before its first update leaves no run to protect: the same command may run again in its dir); a run stopped
    by SIGINT/SIGTERM records `status: interrupted`.
    """
    is_rank_zero = process_rank() == 0  # in data-parallel training only process 0 writes the run's files
    run_dir = Path(str(cfg.resume)).expanduser() if cfg.get("resume") else Path(cfg.paths.output_dir)
    key = "resume" if cfg.get("resume") else "paths.output_dir"
    # a sweep job's own dir when it resumes a run elsewhere (its summary reads that run), else None
    resuming = is_rank_zero and cfg.get("resume")
    job_dir = point_to_resumed_run(Path(cfg.paths.output_dir), run_dir) if resuming else None
    with contextlib.ExitStack() as held:
        try:
            if is_rank_zero:
                held.enter_context(run_dir_lock(run_dir, key))
        except Exception as error:
            if job_dir is not None:  # a refused resume: in the sweep job's dir, the run left as it was
                record_failure(error, 0, job_dir / "summary.json")
            raise
        if is_rank_zero and not cfg.get("resume"):
            check_holds_no_run(run_dir, key)
        try:
            cfg, checkpoint = preflight(cfg, overrides)
        except Exception as error:
            # A refused resume leaves the run's files as they were (a sweep job records it in its own dir); a
            # new run's failure is recorded (as a run that failed before its first update, so its dir holds
            # nothing to protect).
            if is_rank_zero and not cfg.get("resume"):
                run_dir.mkdir(parents=True, exist_ok=True)
                record_failure(error, 0, run_dir / "summary.json")
            elif job_dir is not None:
                record_failure(error, 0, job_dir / "summary.json")
            raise
        run_dir.mkdir(parents=True, exist_ok=True)
        return train(cfg, run_dir, checkpoint, is_rank_zero)


def train(
    cfg: DictConfig, run_dir: Path, checkpoint: dict[str, Any] | None, is_rank_zero: bool = True
) -> dict[str, Any]:
    """Build the run's parts in order and train. Every part that holds a resource (env worker processes, the
    evaluation env, a W&B run) is released on every way out, an error before or during training included."""
    quiet_libraries()
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    allocator.apply_config(cfg)
    module = None
    try:
        with contextlib.ExitStack() as resources:
            module, trainer = build(cfg, run_dir, checkpoint, resources)
            if is_rank_zero:
                clear_leftovers(run_dir)
                write_config(cfg, run_dir / "config.yaml")
            for logger in trainer.loggers:
                logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
            trainer.fit(module, ckpt_path=cfg.ckpt_path, weights_only=True)
    except Exception as error:
        # A resume refused for its settings leaves the run's summary as it was; any other failure is recorded.
        if is_rank_zero and not (cfg.get("resume") and find_error(error, ConfigError)):
            record_failure(error, trained_env_steps(module, checkpoint), run_dir / "summary.json")
        raise

    algo_name = type(module).__name__
    summary = final_summary(module.metrics, module.wall_time())
    if module.stop_signal is not None:
        summary.update(status="interrupted", signal=module.stop_signal)
        log.warning(
            "Stopped by %s at %s env steps; checkpoint %s. Continue with: python train.py resume=%s",
            module.stop_signal,
            f"{module.collector.env_steps:,}",
            run_dir / "checkpoints" / "last.ckpt",
            run_dir,
        )
    if is_rank_zero:
        write_summary(summary, run_dir / "summary.json")
        plot_learning_curve(
            module.metrics, run_dir / "learning_curve.png", title=f"{algo_name} on {cfg.env.id}"
        )
    log.info(summary_line(f"{algo_name} on {cfg.env.id} (seed {cfg.seed})", summary, run_dir))
    return summary


def build(
    cfg: DictConfig, run_dir: Path, checkpoint: dict[str, Any] | None, resources: contextlib.ExitStack
) -> tuple[PolicyGradientModule, L.Trainer]:
    """The env and its collector, the algorithm with its policy, the loggers, the callbacks and the trainer, in that
    order; each resource's release is pushed onto `resources` as soon as it exists."""
    log.info("Env: %s x %d (%s)", cfg.env.id, cfg.env.num_envs, cfg.env.vectorization)
    collector = make_collector(instantiate(cfg.env)(), seed=cfg.seed)
    resources.callback(collector.close)

    module = instantiate(cfg.algo)(
        network=instantiate(cfg.network), collector=collector, total_env_steps=cfg.total_env_steps
    )
    module.on_nonfinite = cfg.on_nonfinite
    module.run_config = OmegaConf.to_container(cfg, resolve=True)
    log.info(
        "Algorithm: %s, network: %s (%s parameters)",
        type(module).__name__,
        cfg.network._target_.rsplit(".", 1)[-1],
        f"{sum(p.numel() for p in module.policy.parameters()):,}",
    )

    log.info("Loggers: %s", ", ".join(cfg.logger) or "none")
    loggers = [instantiate(c) for c in cfg.logger.values()]
    for logger in loggers:
        # Lightning finalizes the loggers when fit ends; an error before (or in) fit finishes them too, so a W&B
        # run is closed and the next sweep job gets its own (finalize is safe to repeat).
        resources.push(finalize_on_error(logger))
    if cfg.get("resume"):  # continue the run's logs after the checkpoint's env step
        for logger in loggers:
            if hasattr(logger, "resume_at"):
                logger.resume_at(checkpoint["collector"]["env_steps"])
    callbacks = [instantiate(c) for c in cfg.callbacks.values()] + [StopOnSignals()]
    for callback in callbacks:
        if isinstance(callback, PeriodicEvaluation):  # the evaluation env, once setup has built it
            resources.callback(callback.teardown, None, module, "fit")
    trainer: L.Trainer = instantiate(cfg.trainer, logger=loggers or False, callbacks=callbacks)

    if checkpoint is not None:
        log.info(
            "Continuing from %s at %s env steps", cfg.ckpt_path, f"{checkpoint['collector']['env_steps']:,}"
        )
    log.info("Training for %s env steps; run dir %s", f"{cfg.total_env_steps:,}", run_dir)
    return module, trainer


def finalize_on_error(logger: Logger) -> Callable[..., None]:
    """An ExitStack exit callback that finalizes `logger` as failed when the block raised (never suppressing it)."""

    def exit_callback(
        error_type: type[BaseException] | None, error: BaseException | None, traceback: Any
    ) -> None:
        if error_type is not None:
            logger.finalize("failed")

    return exit_callback


def trained_env_steps(module: PolicyGradientModule | None, checkpoint: dict[str, Any] | None) -> int:
    """Env steps of the last finished update (those of the checkpoint the run started from before its first)."""
    logged = module.metrics.latest.get("progress/env_steps") if module else None
    return (
        int(logged) if logged is not None else int(checkpoint["collector"]["env_steps"]) if checkpoint else 0
    )
