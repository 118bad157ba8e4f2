"""Interrupts and crashes, with real subprocesses: SIGINT/SIGTERM checkpoint and stop, a kill in the middle
of a checkpoint write leaves the previous checkpoint intact, and every stopped run resumes."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.cli import train
from tests.conftest import ROOT

FAST = ["logger=csv", "callbacks.progress.refresh_every_env_steps=1000000", "callbacks.evaluation.episodes=2"]


def start_training(run_dir, *args):
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    return subprocess.Popen([sys.executable, str(ROOT / "train.py"), *FAST, *args, f"hydra.run.dir={run_dir}"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def wait_for_rows(run_dir, rows: int, process, timeout: float = 120) -> None:
    path = run_dir / "csv" / "metrics.csv"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1][-3000:]
        if path.is_file() and len(path.read_text().splitlines()) > rows:
            return
        time.sleep(0.1)
    raise AssertionError(f"{path} did not reach {rows} rows")


def wait_for_checkpoint_past(run_dir, steps: int, process, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1][-3000:]
        if torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["collector"]["env_steps"] > steps:
            return
        time.sleep(0.1)
    raise AssertionError(f"no checkpoint past {steps} env steps")


def train_rows(run_dir):
    with open(run_dir / "csv" / "metrics.csv", newline="") as file:
        return [row for row in csv.DictReader(file) if row.get("rollout/episodes")]


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_checkpoints_marks_the_run_interrupted_and_exits_within_seconds(tmp_path, sig, code):
    run_dir = tmp_path / "run"
    process = start_training(run_dir, "total_env_steps=10000000")
    wait_for_rows(run_dir, 5, process)
    sent = time.monotonic()
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=30)
    assert time.monotonic() - sent < 10
    assert process.returncode == code, stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["signal"] == sig.name
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["collector"]["env_steps"] == summary["time/env_steps"] > 0
    assert f"Continue with: python train.py resume={run_dir}" in stdout + stderr
    if sig == signal.SIGTERM:
        return
    # Continue it for two more rollouts (8 envs x 32 steps each): one CSV curve, no gap, no duplicate step.
    steps = int(summary["time/env_steps"])
    result = train(f"resume={run_dir}", f"total_env_steps={steps + 512}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"
    rollout_steps = [int(float(row["step"])) for row in train_rows(run_dir)]
    assert rollout_steps == list(range(256, steps + 512 + 1, 256))
    assert sorted((run_dir / ".hydra").glob("resume-*/overrides.yaml"))  # the first launch's .hydra/ is kept


def test_a_kill_in_the_middle_of_a_checkpoint_write_leaves_the_previous_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    # Saves: last.ckpt at 256 env steps, best.ckpt at the first eval (512), then last.ckpt at 512 is cut off.
    result = subprocess.run([sys.executable, str(ROOT / "tests" / "kill_during_save.py"), *FAST, "total_env_steps=100000",
                             "callbacks.checkpoint.every_env_steps=256", "callbacks.evaluation.every_env_steps=512",
                             f"hydra.run.dir={run_dir}"], cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt", "last.ckpt.tmp"]
    with pytest.raises(Exception):  # noqa: B017, PT011  (the cut-off write is not a loadable checkpoint)
        torch.load(run_dir / "checkpoints" / "last.ckpt.tmp", weights_only=True)
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["collector"]["env_steps"] == 256
    assert not (run_dir / "summary.json").exists()  # killed: no summary; a sweep summary lists the run as failed
    result = train(f"resume={run_dir}", "total_env_steps=1024")
    assert result.returncode == 0, result.stderr[-3000:]
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["collector"]["env_steps"] == 1024


def test_kills_at_random_moments_never_leave_an_unloadable_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    process = start_training(run_dir, "total_env_steps=10000000", "callbacks.checkpoint.every_env_steps=256",
                             "network.hidden_sizes=[512,512]")  # fmt: skip
    wait_for_rows(run_dir, 2, process)
    last_steps = 0
    for delay in (0.37, 0.71, 0.53):  # kill, check, resume, three times
        time.sleep(delay)
        process.kill()
        process.wait(timeout=30)
        steps = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["collector"]["env_steps"]
        assert steps >= last_steps
        last_steps = steps
        process = start_training(run_dir, f"resume={run_dir}")
        wait_for_checkpoint_past(run_dir, steps, process)
    process.kill()
    process.wait(timeout=30)
