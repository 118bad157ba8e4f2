"""Interrupts and crashes, with real subprocesses: SIGINT/SIGTERM checkpoint and stop, a kill in the middle
of a checkpoint write leaves the previous checkpoint intact, async env workers survive a terminal's Ctrl-C,\nand every stopped run resumes."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from omegaconf import OmegaConf

from tests.cli import train
from tests.conftest import ROOT

FAST = ["logger=csv", "callbacks.progress.refresh_every_env_steps=1000000", "callbacks.evaluation.episodes=2"]


def start_training(run_dir, *args, session: bool = False):
    """train.py in a subprocess; `session`: in a process group of its own (its env workers join it)."""
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    return subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), *FAST, *args, f"hydra.run.dir={run_dir}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=session,
    )


def wait_for_rows(run_dir, rows: int, process, timeout: float = 120) -> None:
    path = run_dir / "csv" / "metrics.csv"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1][-3000:]
        if path.is_file() and len(path.read_text().splitlines()) > rows:
            return
        time.sleep(0.1)
    raise AssertionError(f"{path} did not reach {rows} rows")


def train_rows(run_dir):
    with open(run_dir / "csv" / "metrics.csv", newline="") as file:
        return [row for row in csv.DictReader(file) if row.get("rollout/episodes")]


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_checkpoints_marks_the_run_interrupted_and_exits_within_seconds(tmp_path, sig, code):
    run_dir = tmp_path / "run"
    process = start_training(run_dir, "total_env_steps=10000000", "callbacks.evaluation.every_env_steps=768")
    try:
        wait_for_rows(run_dir, 8, process)
        sent = time.monotonic()
        process.send_signal(sig)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert time.monotonic() - sent < 10
    assert process.returncode == code, stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["signal"] == sig.name
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["collector"]["env_steps"] == summary["progress/env_steps"] > 0
    assert f"Continue with: python train.py resume={run_dir}" in stdout + stderr
    # The summary line names the last evaluation's own env step, not the step training stopped at.
    eval_steps, steps = int(summary["eval/env_steps"]), int(summary["progress/env_steps"])
    assert eval_steps % 768 == 0 and 0 < eval_steps <= steps
    at = f" at {eval_steps:,} env steps" if eval_steps != steps else ""
    assert (
        f"eval return {summary['eval/episode_return_mean']:.1f} ± {summary['eval/episode_return_std']:.1f}{at} "
        f"after {steps:,} env steps" in stdout + stderr
    )
    if sig == signal.SIGTERM:
        return
    # Continue it for two more rollouts (8 envs x 32 steps each): one CSV curve, no gap, no duplicate step.
    steps = int(summary["progress/env_steps"])
    result = train(f"resume={run_dir}", f"total_env_steps={steps + 512}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"
    rollout_steps = [int(float(row["step"])) for row in train_rows(run_dir)]
    assert rollout_steps == list(range(256, steps + 512 + 1, 256))
    assert sorted((run_dir / ".hydra").glob("resume-*/overrides.yaml"))  # the first launch's .hydra/ is kept


def test_a_kill_in_the_middle_of_a_checkpoint_write_leaves_the_previous_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    # Saves: last.ckpt at 256 env steps, best.ckpt at the first eval (512), then last.ckpt at 512 is cut off.
    # The CSV logger writes its rows only before checkpoints here (no time-based writes), as a run killed less
    # than a second after its last checkpoint would have them.
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests" / "kill_during_save.py"),
            *FAST,
            "total_env_steps=100000",
            "callbacks.checkpoint.every_env_steps=256",
            "callbacks.evaluation.every_env_steps=512",
            "logger.csv.flush_every_s=1e9",
            f"hydra.run.dir={run_dir}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == [
        "best.ckpt",
        "last.ckpt",
        "last.ckpt.tmp",
    ]
    with pytest.raises(Exception):  # noqa: B017, PT011  (the cut-off write is not a loadable checkpoint)
        torch.load(run_dir / "checkpoints" / "last.ckpt.tmp", weights_only=True)
    assert (
        torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["collector"]["env_steps"] == 256
    )
    assert not (
        run_dir / "summary.json"
    ).exists()  # killed: no summary; a sweep summary lists the run as failed
    result = train(f"resume={run_dir}", "total_env_steps=1024")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (
        torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["collector"]["env_steps"] == 1024
    )
    # The rows up to the checkpoint it resumed from were on disk (written before the checkpoint), the killed
    # process's later ones were dropped: one row per rollout, no gap, no duplicate.
    assert [int(float(row["step"])) for row in train_rows(run_dir)] == [256, 512, 768, 1024]


def test_ctrl_c_to_the_whole_process_group_with_async_envs_still_checkpoints(tmp_path):
    # A terminal's Ctrl-C reaches the trainer and every env worker; the workers ignore it, the trainer stops.
    run_dir = tmp_path / "run"
    process = start_training(
        run_dir, "total_env_steps=10000000", "env.vectorization=async", "env.num_envs=2", session=True
    )
    try:
        wait_for_rows(run_dir, 3, process)
        os.killpg(process.pid, signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130, stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["collector"]["env_steps"] == summary["progress/env_steps"] > 0


def test_a_moved_run_resumes_in_its_new_dir_with_overrides_of_its_own_algorithm(tmp_path):
    first, moved = tmp_path / "first", tmp_path / "moved"
    launch = ["algo=vpg", "env.num_envs=2", "algo.num_steps=64", *FAST]  # 128 env steps per rollout
    result = train(*launch, "total_env_steps=256", f"hydra.run.dir={first}")
    assert result.returncode == 0, result.stderr[-3000:]
    first.rename(moved)

    # value_updates exists in VPG's config only: it composes because resume= brings the run's algo=vpg along.
    result = train(f"resume={moved}", "total_env_steps=512", "algo.value_updates=3", "algo.vf_lr=0.002")
    assert result.returncode == 0, result.stderr[-3000:]
    assert not first.exists()  # nothing written where the run used to be
    config = OmegaConf.load(moved / "config.yaml")
    assert config.paths.output_dir == str(moved)
    assert config.callbacks.checkpoint.dirpath == f"{moved}/checkpoints"
    assert config.callbacks.progress.total_env_steps == 512  # interpolated from the override
    assert (config.algo.value_updates, config.algo.vf_lr) == (3, 0.002)
    checkpoint = torch.load(moved / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["collector"]["env_steps"] == 512
    assert [group["lr"] for state in checkpoint["optimizer_states"] for group in state["param_groups"]] == [
        3e-3,
        0.002,
    ]

    # A second resume keeps the first one's overrides.
    result = train(f"resume={moved}", "total_env_steps=640")
    assert result.returncode == 0, result.stderr[-3000:]
    config = OmegaConf.load(moved / "config.yaml")
    assert (config.algo.value_updates, config.algo.vf_lr, config.total_env_steps) == (3, 0.002, 640)
    assert list(config.resume_overrides) == [
        "total_env_steps=512",
        "algo.value_updates=3",
        "algo.vf_lr=0.002",
        "total_env_steps=640",
    ]
