"""The command line as a user runs it: `python train.py ...` in a subprocess."""

import json

import pytest
import torch

from tests.cli import train
from tests.conftest import ROOT


@pytest.mark.parametrize("algo", ["reinforce", "vpg", "a2c", "ppo"])
@pytest.mark.parametrize("env", ["cartpole", "pendulum"])
def test_every_algo_trains_a_smoke_budget(tmp_path, algo, env):
    run_dir = tmp_path / "run"
    result = train(f"algo={algo}", f"env={env}", "debug=smoke", f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["time/env_steps"] >= 2000
    assert summary["time/sps"] > 0
    assert (run_dir / "checkpoints" / "last.ckpt").exists()
    assert "eval return" in result.stderr + result.stdout


def test_readme_commands_with_tensorboard_logger(tmp_path):
    run_dir = tmp_path / "run"
    result = train("algo=a2c", "env=pendulum", "accelerator=cpu", "logger=tensorboard", "debug=smoke",
                   f"hydra.run.dir={run_dir}")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))


def test_help_lists_groups_and_options():
    result = train("--help")
    assert result.returncode == 0
    lines = set(result.stdout.splitlines())
    for line in ("algo: a2c, ppo, reinforce, vpg", "accelerator: cpu, gpu", "network: cnn, mlp"):
        assert line in lines
    for group in ("env", "experiment", "logger"):  # every option file of the group is listed
        options = sorted(p.stem for p in (ROOT / "conf" / group).glob("*.yaml"))
        assert len(options) >= 3
        assert f"{group}: {', '.join(options)}" in lines


@pytest.mark.parametrize(
    ("override", "message"),
    [
        pytest.param("accelerator=gpu", "accelerator=gpu was requested but PyTorch sees no CUDA GPU",
                     marks=pytest.mark.skipif(torch.cuda.is_available(), reason="message of GPU-less machines")),
        ("algo.gamma=1.5", "algo.gamma=1.5 is out of range: allowed (0.0, 1.0]"),
    ],
)  # fmt: skip
def test_bad_input_fails_with_one_line_naming_the_key(tmp_path, override, message):
    result = train(override, f"hydra.run.dir={tmp_path / 'run'}")
    output = result.stdout + result.stderr
    assert result.returncode == 2
    assert f"[ERROR] - {message}" in output
    assert "Traceback" not in output
