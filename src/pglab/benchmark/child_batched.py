"""The torch env backend's throughput on its own (`env.vectorization=torch`, `pglab.envs.batched`), with the
spec's torch thread count (one in the benchmark): (a) the batched env alone, stepped with uniform random actions
drawn on its device; (b) collection with an untrained policy, built as `train.py` builds it from the torch
CartPole preset: a raw loop of `policy.act` + `env.step` under `torch.no_grad()`, pglab's own
`collect_rollout()` (the `BatchedRolloutCollector`), and that collection plus `prepare_batch()` (advantages and
batching). Each loop is timed after a warm-up; on an accelerator the clocks are read after a synchronization."""

import math
import time
from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate

from pglab import allocator
from pglab.benchmark.plan import compose_config
from pglab.envs.batched import make_batched_env
from pglab.rollout.batched_collector import clip_actions, make_collector

#: untimed iterations of each loop before its clock starts
WARMUP_ITERATIONS = 10


def synchronizer(device: torch.device) -> Callable[[], None]:
    """What waits for the device's queued work before a clock is read (nothing on the CPU)."""
    return torch.cuda.synchronize if device.type == "cuda" else lambda: None


def random_actions_sps(env, seed: int, steps: int) -> float:
    """Env steps per second of the env alone: `env.step` with uniform random actions drawn on its device (the draw
    is timed too), `ceil(steps / num_envs)` iterations after `WARMUP_ITERATIONS`."""
    space, device = env.single_action_space, env.device
    generator = torch.Generator(device=device).manual_seed(seed)
    if hasattr(space, "n"):

        def actions() -> torch.Tensor:
            return torch.randint(0, int(space.n), (env.num_envs,), generator=generator, device=device)
    else:
        low = torch.as_tensor(space.low, device=device)
        high = torch.as_tensor(space.high, device=device)

        def actions() -> torch.Tensor:
            u = torch.rand((env.num_envs, *space.shape), generator=generator, device=device)
            return low + u * (high - low)

    sync = synchronizer(device)
    env.reset(seed=seed)
    for _ in range(WARMUP_ITERATIONS):
        env.step(actions())
    iterations = math.ceil(steps / env.num_envs)
    sync()
    start = time.perf_counter()
    for _ in range(iterations):
        env.step(actions())
    sync()
    return iterations * env.num_envs / (time.perf_counter() - start)


def policy_loop_sps(policy, env, seed: int, steps: int) -> float:
    """Env steps per second of the bare loop: policy forward and sampling under no_grad, then `env.step` (Box
    actions clipped to the bounds, as the collector does), all on the env's device."""
    sync = synchronizer(env.unwrapped.device)
    obs, _ = env.reset(seed=seed)
    iterations = math.ceil(steps / env.num_envs)
    with torch.no_grad():
        for i in range(WARMUP_ITERATIONS + iterations):
            if i == WARMUP_ITERATIONS:
                sync()
                start = time.perf_counter()
            actions, _, _ = policy.act(obs)
            obs, *_ = env.step(clip_actions(actions, env.single_action_space))
        sync()
    return iterations * env.num_envs / (time.perf_counter() - start)


def collector_sps(module, steps: int, sync: Callable[[], None]) -> dict[str, float]:
    """Env steps per second of the algorithm's own rollout collection ("collection_sps") and of collection plus its
    advantages and batching ("collection_advantages_sps"), after one warm-up rollout."""
    module.prepare_batch(module.collect_rollout())
    first, collect_s, advantages_s = module.collector.env_steps, 0.0, 0.0
    while module.collector.env_steps - first < steps:
        sync()
        start = time.perf_counter()
        rollout = module.collect_rollout()
        sync()
        collected = time.perf_counter()
        module.prepare_batch(rollout)
        sync()
        collect_s, advantages_s = (
            collect_s + collected - start,
            advantages_s + time.perf_counter() - collected,
        )
        module.metrics.update_means()  # what prepare_batch added, as each update's end does
    env_steps = module.collector.env_steps - first
    return {
        "collection_sps": env_steps / collect_s,
        "collection_advantages_sps": env_steps / (collect_s + advantages_s),
    }


def child_batched(spec: dict[str, Any]) -> dict[str, Any]:
    """(a) `spec["env_only_envs"]` sub-envs of the preset's env id alone for `spec["env_steps"]` env steps; (b) the
    preset `spec["preset"]` with `spec["overrides"]` (its `env.num_envs`, policy and `torch_threads`) built as
    `train.py` builds it, its policy's loop and its collector timed for `spec["collection_steps"]` env steps each.
    Everything on `spec["device"]`, with `spec["torch_threads"]` torch threads."""
    torch.set_num_threads(spec["torch_threads"])
    device = torch.device(spec.get("device", "cpu"))
    cfg = compose_config(spec["preset"], spec["overrides"])
    allocator.apply_config(cfg)  # the process as train.py sets it up
    env = make_batched_env(cfg.env.id, spec["env_only_envs"], device)
    env_only = {
        "env_id": cfg.env.id,
        "num_envs": env.num_envs,
        "sps": random_actions_sps(env, spec["seed"], spec["env_steps"]),
    }
    env.close()

    L.seed_everything(cfg.seed, verbose=False)
    collector = make_collector(instantiate(cfg.env)(), seed=cfg.seed)
    module = instantiate(cfg.algo)(
        network=instantiate(cfg.network), collector=collector, total_env_steps=cfg.total_env_steps
    )
    module.to(device)
    loop_env = instantiate(cfg.env)().to(device)
    collection = {
        "preset": spec["preset"],
        "env_id": cfg.env.id,
        "num_envs": cfg.env.num_envs,
        "num_steps": cfg.algo.num_steps,
        "hidden_sizes": list(cfg.network.hidden_sizes),
        "raw_sps": policy_loop_sps(module.policy, loop_env, cfg.seed, spec["collection_steps"]),
        **collector_sps(module, spec["collection_steps"], synchronizer(device)),
    }
    loop_env.close()
    collector.close()
    return {"device": str(device), "env_only": env_only, "collection": collection}
