"""Every member's checkpoints, each an ordinary run's: `evaluate.py ckpt_path=...` and `resume=<job dir>` take them.

A member's `last.ckpt` holds what its own run's checkpoint would hold at the same env step: the policy weights
(`policy.*`), its optimizers' state (`PopulationOptimizer.member_state_dict`), Lightning's loop counters, the evaluation
and checkpoint callbacks' state, and pglab's run state (the collector's counters and its sub-envs' exact state,
the member's RNG states, the metrics, the wall time, the run config). Its sub-envs' state is the member's block of
the population's env where the population collects with one env, so `python train.py resume=<job dir>` continues
the member as an ordinary run from exactly where the population left it.

Saved as the member's `callbacks.checkpoint` (`EnvStepCheckpoint`) schedules them: `last.ckpt` every
`every_env_steps` and at the end (also after SIGINT/SIGTERM), `best.ckpt` when the monitored evaluation improves.
"""

import math
from typing import Any

import lightning as L
import numpy as np
import torch

from pglab.atomic import atomic_path, storage_error
from pglab.callbacks.schedule import crossed_multiple
from pglab.checkpoint_io import write_checkpoint


def member_checkpoint(population, k: int) -> dict[str, Any]:
    """Member `k`'s checkpoint, in the form of its own run's `trainer.save_checkpoint`."""
    member = population.members[k]
    module = member.module
    trainer = population.trainer
    epoch, loops = member.end_loops or (
        trainer.current_epoch,
        trainer._checkpoint_connector._get_loops_state_dict(),
    )
    checkpoint: dict[str, Any] = {
        "epoch": epoch,
        "global_step": 0,  # ordinary runs step their optimizers by hand: Lightning's counter stays 0
        "pytorch-lightning_version": L.__version__,
        "state_dict": {f"policy.{name}": value.clone() for name, value in module.policy.state_dict().items()},
        "loops": loops,
        "callbacks": {},
        "optimizer_states": [
            optimizer.member_state_dict(k) for optimizer in population.population_optimizers()
        ],
        "lr_schedulers": [],
        "hparams_name": None,
        "hyper_parameters": dict(module.hparams),
    }
    if member.evaluation is not None:
        checkpoint["callbacks"]["PeriodicEvaluation"] = member.evaluation.state_dict()
    if member.checkpoint is not None:
        checkpoint["callbacks"]["EnvStepCheckpoint"] = member.checkpoint.state_dict()
    module.on_save_checkpoint(checkpoint)  # collector, RNG (replaced below), metrics, wall time, run config
    checkpoint["rng"] = dict(member.rng_states, torch=member.generator.get_state())
    if population.collector is not None:
        env_state, obs = population.collector.member_state(k)
        checkpoint["collector"]["env_state"] = env_state
        checkpoint["collector"]["obs"] = obs
    return checkpoint


def save(population, k: int, name: str) -> None:
    """Write member `k`'s `<checkpoint dir>/<name>` atomically (the previous file is kept if it fails)."""
    member = population.members[k]
    directory = member.checkpoint.dirpath
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise storage_error(directory, error) from error
    with member.module.metrics.timer("checkpoint"), atomic_path(directory / name) as tmp:
        write_checkpoint(member_checkpoint(population, k), tmp)


def after_rollout(population, k: int) -> None:
    """As `EnvStepCheckpoint.on_train_epoch_end`: `best.ckpt` on an improved evaluation, `last.ckpt` on schedule."""
    callback = population.members[k].checkpoint
    if callback is None:
        return
    save_best(population, k)
    steps = population.members[k].module.collector.env_steps
    if crossed_multiple(callback._last_saved_step, steps, callback.every_env_steps):
        callback._last_saved_step = steps  # before the save, so the checkpoint holds it
        save(population, k, "last.ckpt")


def at_end(population, k: int) -> None:
    """As `EnvStepCheckpoint.on_train_end`: a last look for a best, then `last.ckpt`."""
    callback = population.members[k].checkpoint
    if callback is None:
        return
    save_best(population, k)
    callback._last_saved_step = population.members[k].module.collector.env_steps
    save(population, k, "last.ckpt")


def save_best(population, k: int) -> None:
    callback = population.members[k].checkpoint
    value = population.members[k].module.metrics.latest.get(callback.monitor)
    if value is not None and not math.isnan(value) and callback._improved(value):
        callback.best = value
        save(population, k, "best.ckpt")


def block(value: Any, k: int, size: int, total: int) -> Any:
    """Member `k`'s rows of a per-sub-env array or tensor of a `total`-sub-env env (blocks of `size`); other
    values (numbers, per-env settings) as they are; dicts and lists element by element."""
    if isinstance(value, torch.Tensor | np.ndarray) and value.ndim and value.shape[0] == total:
        return (
            value[k * size : (k + 1) * size].copy()
            if isinstance(value, np.ndarray)
            else value[k * size : (k + 1) * size].clone()
        )
    if isinstance(value, dict):
        return {key: block(v, k, size, total) for key, v in value.items()}
    if isinstance(value, list):  # the sub-envs' list, or a list of such values (the vector wrappers')
        if len(value) == total:
            return value[k * size : (k + 1) * size]
        return [block(v, k, size, total) for v in value]
    return value
