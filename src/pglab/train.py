"""`run(cfg)`: build the env, collector, policy, algorithm, loggers, callbacks and trainer in that order,
train to the env-step budget, and write the run's reports."""

import logging
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from pglab.atomic import atomic_path
from pglab.callbacks import PeriodicEvaluation
from pglab.callbacks.signals import StopOnSignals
from pglab.errors import ConfigError, find_error
from pglab.reporting import final_summary, plot_learning_curve, summary_line, write_summary
from pglab.resume import check_compatible, load_checkpoint, resume_config
from pglab.rollout.collector import RolloutCollector
from pglab.run_dir import holds_run, process_rank

log = logging.getLogger(__name__)

NO_GPU_MESSAGE = (
    "accelerator=gpu was requested but PyTorch sees no CUDA GPU on this machine "
    "(torch.cuda.is_available() is False). Run with accelerator=cpu, or install a CUDA build of torch on a "
    "machine with an NVIDIA GPU and its driver."
)


def write_config(cfg: DictConfig, path: Path) -> None:
    """The resolved config, written atomically (a resumed run rewrites it with its overrides)."""
    with atomic_path(path) as tmp:
        OmegaConf.save(cfg, tmp, resolve=True)


def check_accelerator(cfg: DictConfig) -> None:
    if cfg.trainer.get("accelerator") in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(NO_GPU_MESSAGE)


def run(cfg: DictConfig, overrides: list[str] = ()) -> dict[str, Any]:
    """Train one run as configured; returns the summary (also written to `<run dir>/summary.json`).

    With `resume=<run dir>`, the run's saved config (plus the `key=value` entries of `overrides`, the command
    line's) continues from its `checkpoints/last.ckpt` in that dir. A dir that already holds a run is never
    written to otherwise. When training fails, `summary.json` records `status: failed` and the error before
    the error propagates, so a sweep summary can report the job; a run stopped by SIGINT/SIGTERM records
    `status: interrupted`.
    """
    writer = process_rank() == 0  # in data-parallel training only process 0 writes the run's files
    if cfg.get("resume"):
        cfg = resume_config(cfg, list(overrides))
    elif writer and holds_run(Path(cfg.paths.output_dir)):
        raise ConfigError(f"the run dir {cfg.paths.output_dir} already holds a run; choose a new dir, or continue "
                          f"that run with resume={cfg.paths.output_dir}")  # fmt: skip
    check_accelerator(cfg)
    if cfg.on_nonfinite not in ("stop", "skip"):
        raise ConfigError(f"on_nonfinite={cfg.on_nonfinite!r} is not supported; choose one of ['stop', 'skip']")
    checkpoint = None
    if cfg.ckpt_path:
        key = "resume" if cfg.get("resume") else "ckpt_path"
        checkpoint = load_checkpoint(cfg.ckpt_path, key)
        check_compatible(checkpoint, cfg, key)
    run_dir = Path(cfg.paths.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        return train(cfg, run_dir, checkpoint, writer)
    except Exception as error:
        # A resume refused for its settings leaves the run's summary as it was; any other failure is recorded.
        if writer and not (cfg.get("resume") and find_error(error, ConfigError)):
            write_summary({"status": "failed", "error": f"{type(error).__name__}: {error}"}, run_dir / "summary.json")
        raise


def train(cfg: DictConfig, run_dir: Path, checkpoint: dict[str, Any] | None, writer: bool = True) -> dict[str, Any]:
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)

    log.info("Env: %s x %d (%s)", cfg.env.id, cfg.env.num_envs, cfg.env.vectorization)
    make_env = instantiate(cfg.env)
    collector = RolloutCollector(make_env(), seed=cfg.seed)

    algo_name = cfg.algo._target_.rsplit(".", 1)[-1]
    log.info("Algorithm: %s, network: %s", algo_name, cfg.network._target_.rsplit(".", 1)[-1])
    module = instantiate(cfg.algo)(
        network=instantiate(cfg.network), collector=collector, total_env_steps=cfg.total_env_steps
    )

    module.on_nonfinite = cfg.on_nonfinite
    module.run_config = OmegaConf.to_container(cfg, resolve=True)

    log.info("Loggers: %s", ", ".join(cfg.logger) or "none")
    loggers = [instantiate(c) for c in cfg.logger.values()]
    if cfg.get("resume"):  # continue the run's logs after the checkpoint's env step
        for logger in loggers:
            if hasattr(logger, "resume_at"):
                logger.resume_at(checkpoint["collector"]["env_steps"])
    callbacks = [instantiate(c) for c in cfg.callbacks.values()] + [StopOnSignals()]
    trainer: L.Trainer = instantiate(cfg.trainer, logger=loggers or False, callbacks=callbacks)

    if checkpoint is not None:
        log.info("Continuing from %s at %s env steps", cfg.ckpt_path, f"{checkpoint['collector']['env_steps']:,}")
    log.info("Training for %s env steps; run dir %s", f"{cfg.total_env_steps:,}", run_dir)
    if writer:
        write_config(cfg, run_dir / "config.yaml")
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    try:
        trainer.fit(module, ckpt_path=cfg.ckpt_path, weights_only=True)
    finally:  # also when training fails: async envs hold subprocesses, and a sweep goes on to the next job
        collector.close()
        for callback in callbacks:
            if isinstance(callback, PeriodicEvaluation):
                callback.teardown(trainer, module, "fit")

    summary = final_summary(module.history)
    if module.stop_signal is not None:
        summary.update(status="interrupted", signal=module.stop_signal)
        log.warning("Stopped by %s at %s env steps; checkpoint %s. Continue with: python train.py resume=%s",
                    module.stop_signal, f"{module.collector.env_steps:,}", run_dir / "checkpoints" / "last.ckpt", run_dir)  # fmt: skip
    if writer:
        write_summary(summary, run_dir / "summary.json")
        plot_learning_curve(module.history, run_dir / "learning_curve.png", title=f"{algo_name} on {cfg.env.id}")
    log.info(summary_line(f"{algo_name} on {cfg.env.id} (seed {cfg.seed})", summary, run_dir))
    return summary
