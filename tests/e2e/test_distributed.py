"""Data-parallel training on CPU: `trainer.strategy=ddp trainer.devices=2` runs two processes (gloo), each with
its own envs; gradients are all-reduced, env steps and episodes count both processes, process 0 writes."""

import csv
import json

import pytest
import torch

from tests.cli import train

DDP = [
    "trainer.strategy=ddp",
    "trainer.devices=2",
    "logger=csv",
    "callbacks.progress.refresh_every_env_steps=1000000000",
]


@pytest.mark.slow
def test_two_processes_learn_cartpole_with_shared_weights_distinct_envs_and_one_writer(tmp_path):
    run_dir = tmp_path / "run"
    # PPO defaults: 8 envs x 32 steps per process, so a rollout is 512 env steps over both processes.
    result = train(
        *DDP,
        "seed=0",
        "total_env_steps=100000",
        "callbacks.evaluation.stop_at_score=475",
        "+callbacks.dump._target_=tests.fakes.DumpProcessState",
        f"+callbacks.dump.dirpath={tmp_path / 'dump'}",
        f"hydra.run.dir={run_dir}",
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["eval/episode_return_mean"] >= 475  # stopped at the first evaluation reaching it
    assert summary["progress/env_steps"] <= 100_000 and summary["progress/env_steps"] % 512 == 0

    ranks = [torch.load(tmp_path / "dump" / f"rank-{r}.pt", weights_only=True) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert [r["seed_offset"] for r in ranks] == [0, 8]  # sub-env i of process r is seeded seed + 8r + i
    for key, value in ranks[0]["weights"].items():  # all-reduced gradients: the same weights in both
        assert torch.equal(value, ranks[1]["weights"][key]), key
    # Both processes count all env steps and episodes; the checkpoint and the log say the same.
    assert ranks[0]["env_steps"] == ranks[1]["env_steps"] == summary["progress/env_steps"]
    assert ranks[0]["episodes"] == ranks[1]["episodes"] == summary["progress/episodes"]
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["collector"]["env_steps"] == summary["progress/env_steps"]
    with open(run_dir / "csv" / "metrics.csv", newline="") as file:
        steps = [int(float(row["step"])) for row in csv.DictReader(file) if row.get("rollout/episodes")]
    assert steps == list(range(512, int(summary["progress/env_steps"]) + 1, 512))
    # Process 0 alone wrote the run's files: one config, one summary, one CSV.
    assert sorted(
        p.name for p in run_dir.iterdir() if p.is_file() and p.suffix != ".log" and p.name != ".pglab.lock"
    ) == ["config.yaml", "learning_curve.png", "summary.json"]


def test_vpg_with_plain_ddp_names_the_strategy_it_needs(tmp_path):
    result = train("algo=vpg", *DDP, "total_env_steps=4096", f"hydra.run.dir={tmp_path / 'run'}", timeout=300)
    assert result.returncode != 0
    assert "set trainer.strategy=ddp_find_unused_parameters_true" in result.stdout + result.stderr
