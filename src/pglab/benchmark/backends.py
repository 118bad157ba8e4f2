"""Which env backend collects faster, per env and number of sub-envs: the evidence behind each env option's default
`env.vectorization` (`python scripts/backends.py`, written to `docs/backends.json`).

For each env and sub-env count, the gymnasium backend (`sync`, `RolloutCollector`) and the torch backend
(`BatchedRolloutCollector`) collect rollouts of 8,192 env steps (at least 64 steps per sub-env) with the same
untrained 64x64 actor-critic, one torch thread, after one warm-up rollout each, alternately (one rollout of each
backend in turn), `repeats` times each;
reported: the median env steps per second of CPU time (`time.process_time`, which a busy machine disturbs less
than wall time) and of wall time, and the ratio torch / sync of the CPU-time medians.
"""

import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

#: env id -> the sub-env counts measured: the env option's default count first (`conf/env/`), then its presets' where
#: they differ (1: reinforce_cartpole_hf, reinforce_pixelcopter_hf; 4: ppo_cartpole_cleanrl, ppo_pendulum; 16:
#: ppo_acrobot, ppo_pendulum_torch; 64: ppo_pixelcopter_torch) and larger ones
CASES = {
    "CartPole-v1": (8, 1, 4, 16, 64, 256),
    "Acrobot-v1": (8, 16, 64, 256),
    "MountainCar-v0": (16, 64, 256),
    "Pendulum-v1": (8, 4, 16, 64, 256),
    "pglab/PixelCopter-v0": (8, 1, 64, 256),
}
STEPS = 8192


def _collect_rates(env_id: str, num_envs: int, repeats: int) -> dict[str, tuple[float, float]]:
    """Per backend ("sync", "torch"): the median env steps per second of CPU time and of wall time over `repeats`
    timed rollouts, the two backends' rollouts interleaved (so a drift of the host's speed affects both alike)."""
    import torch

    from pglab.envs.factory import make_vector_env
    from pglab.networks.actor_critic import ActorCritic
    from pglab.rollout.batched_collector import make_collector

    steps = max(64, STEPS // num_envs)
    collectors, policies = {}, {}
    for vectorization in ("sync", "torch"):
        torch.manual_seed(0)  # the same untrained policy for both
        collectors[vectorization] = make_collector(
            make_vector_env(env_id, num_envs=num_envs, vectorization=vectorization), seed=0
        )
        policies[vectorization] = ActorCritic(
            collectors[vectorization].observation_space, collectors[vectorization].action_space
        )
        collectors[vectorization].collect(policies[vectorization], steps)  # warm-up
    cpu: dict[str, list[float]] = {name: [] for name in collectors}
    wall: dict[str, list[float]] = {name: [] for name in collectors}
    for _ in range(repeats):
        for name, collector in collectors.items():
            c, w = time.process_time(), time.perf_counter()
            collector.collect(policies[name], steps)
            cpu[name].append(steps * num_envs / (time.process_time() - c))
            wall[name].append(steps * num_envs / (time.perf_counter() - w))
    for collector in collectors.values():
        collector.close()
    return {name: (statistics.median(cpu[name]), statistics.median(wall[name])) for name in collectors}


def measure(repeats: int = 3, cases: dict[str, tuple[int, ...]] = CASES) -> dict[str, Any]:
    """The table of `docs/backends.json`: one row per (env, sub-envs)."""
    import platform

    import torch

    torch.set_num_threads(1)
    rows = []
    for env_id, counts in cases.items():
        for num_envs in counts:
            rates = _collect_rates(env_id, num_envs, repeats)
            (sync_cpu, sync_wall), (torch_cpu, torch_wall) = rates["sync"], rates["torch"]
            rows.append(
                {
                    "env_id": env_id,
                    "num_envs": num_envs,
                    "sync_cpu_sps": sync_cpu,
                    "torch_cpu_sps": torch_cpu,
                    "sync_wall_sps": sync_wall,
                    "torch_wall_sps": torch_wall,
                    "ratio": torch_cpu / sync_cpu,
                }
            )
    return {
        "rows": rows,
        "repeats": repeats,
        "steps_per_rollout": STEPS,
        "torch_threads": 1,
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
        },
        "versions": {"torch": torch.__version__},
        "date": time.strftime("%Y-%m-%d"),
    }


def write(path: Path, repeats: int = 3) -> dict[str, Any]:
    result = measure(repeats)
    path.write_text(json.dumps(result, indent=1) + "\n")
    return result


def markdown(result: dict[str, Any]) -> str:
    """The README's table of the measurements."""
    lines = [
        "| env | sub-envs | sync (gymnasium) steps/s | torch (batched) steps/s | torch / sync |",
        "|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['env_id']} | {row['num_envs']} | {row['sync_cpu_sps']:,.0f} | {row['torch_cpu_sps']:,.0f} | "
            f"{row['ratio']:.2f} |"
        )
    lines.append("")
    lines.append(
        f"Rollout collection with an untrained 64x64 actor-critic, steps per second of CPU time, median of "
        f"{result['repeats']} rollouts of {result['steps_per_rollout']:,} env steps (at least 64 per sub-env) per "
        f"backend, the two backends' rollouts interleaved, 1 torch thread; measured {result['date']} on "
        f"{result['machine']['cores']} cores by `python scripts/backends.py --repeats {result['repeats']}`."
    )
    return "\n".join(lines)
