"""The ceiling of pglab's training speed: its vector env stepped by an untrained policy, learning nothing, and
pglab's own collection (with its advantages, as the benchmark compares collection) against it."""

import math
import time
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate

from pglab.benchmark.plan import compose_config
from pglab.rollout.collector import RolloutCollector


def child_ceiling(spec: dict[str, Any]) -> dict[str, Any]:
    """For each preset, build env, collector and algorithm as `train.py` does (untrained policy, the run's
    `torch_threads`) and time (a) a raw `policy.act` + `env.step` loop and (b) the algorithm's
    `collect_rollout()` and `prepare_batch()` (its advantages and batching) in a loop."""
    ceilings = {}
    for preset in spec["presets"]:
        cfg = compose_config(preset, spec["overrides"])
        L.seed_everything(cfg.seed, verbose=False)
        torch.set_num_threads(cfg.torch_threads)
        make_env = instantiate(cfg.env)
        collector = RolloutCollector(make_env(), seed=cfg.seed)
        module = instantiate(cfg.algo)(
            network=instantiate(cfg.network), collector=collector, total_env_steps=cfg.total_env_steps
        )
        env = make_env()
        ceilings[preset] = {
            "raw_sps": raw_loop_sps(module.policy, env, cfg.seed, spec["steps"]),
            **collection_sps(module, spec["steps"]),
        }
        env.close()
        collector.close()
    return {"presets": ceilings}


def raw_loop_sps(policy, env, seed: int, steps: int) -> float:
    """Env steps per second of the bare loop: policy forward and sampling under no_grad, `env.step`."""
    obs, _ = env.reset(seed=seed)
    iterations = math.ceil(steps / env.num_envs)
    with torch.no_grad():
        start = time.perf_counter()
        for _ in range(iterations):
            actions, _, _ = policy.act(torch.as_tensor(obs, dtype=torch.float32))
            obs, *_ = env.step(actions.numpy())
        elapsed = time.perf_counter() - start
    return iterations * env.num_envs / elapsed


def collection_sps(module, steps: int) -> dict[str, float]:
    """Env steps per second of the algorithm's own rollout collection ("collection_sps") and of collection plus
    its advantages and batching ("collection_advantages_sps", as `next_batch` in training), after one warm-up
    rollout."""
    module.prepare_batch(module.collect_rollout())
    first, collect_s, advantages_s = module.collector.env_steps, 0.0, 0.0
    while module.collector.env_steps - first < steps:
        start = time.perf_counter()
        rollout = module.collect_rollout()
        collected = time.perf_counter()
        module.prepare_batch(rollout)
        collect_s, advantages_s = (
            collect_s + collected - start,
            advantages_s + time.perf_counter() - collected,
        )
        module.metrics.update_means()  # what prepare_batch added (explained variance), as each update's end does
    env_steps = module.collector.env_steps - first
    return {
        "collection_sps": env_steps / collect_s,
        "collection_advantages_sps": env_steps / (collect_s + advantages_s),
    }
