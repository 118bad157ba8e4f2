"""`run(cfg)`: build the env, collector, policy, algorithm, loggers, callbacks and trainer in that order,
train to the env-step budget, and write the run's reports."""

import logging
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from pglab.callbacks import PeriodicEvaluation
from pglab.errors import ConfigError
from pglab.reporting import final_summary, plot_learning_curve, summary_line, write_summary
from pglab.rollout.collector import RolloutCollector

log = logging.getLogger(__name__)

NO_GPU_MESSAGE = (
    "accelerator=gpu was requested but PyTorch sees no CUDA GPU on this machine "
    "(torch.cuda.is_available() is False). Run with accelerator=cpu, or install a CUDA build of torch on a "
    "machine with an NVIDIA GPU and its driver."
)


def check_accelerator(cfg: DictConfig) -> None:
    if cfg.trainer.get("accelerator") in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(NO_GPU_MESSAGE)


def run(cfg: DictConfig) -> dict[str, Any]:
    """Train one run as configured; returns the summary (also written to `<run dir>/summary.json`).

    When training fails, `summary.json` records `status: failed` and the error before the error propagates,
    so a sweep summary can report the job.
    """
    run_dir = Path(cfg.paths.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        return train(cfg, run_dir)
    except Exception as error:
        write_summary({"status": "failed", "error": f"{type(error).__name__}: {error}"}, run_dir / "summary.json")
        raise


def train(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    check_accelerator(cfg)
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

    log.info("Loggers: %s", ", ".join(cfg.logger) or "none")
    loggers = [instantiate(c) for c in cfg.logger.values()]
    callbacks = [instantiate(c) for c in cfg.callbacks.values()]
    trainer: L.Trainer = instantiate(cfg.trainer, logger=loggers or False, callbacks=callbacks)

    log.info("Training for %s env steps; run dir %s", f"{cfg.total_env_steps:,}", run_dir)
    OmegaConf.save(cfg, run_dir / "config.yaml", resolve=True)
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    try:
        trainer.fit(module, ckpt_path=cfg.ckpt_path)
    finally:  # also when training fails: async envs hold subprocesses, and a sweep goes on to the next job
        collector.close()
        for callback in callbacks:
            if isinstance(callback, PeriodicEvaluation):
                callback.teardown(trainer, module, "fit")

    summary = final_summary(module.history)
    write_summary(summary, run_dir / "summary.json")
    plot_learning_curve(module.history, run_dir / "learning_curve.png", title=f"{algo_name} on {cfg.env.id}")
    log.info(summary_line(f"{algo_name} on {cfg.env.id} (seed {cfg.seed})", summary, run_dir))
    return summary
