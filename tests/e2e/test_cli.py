"""The command line as a user runs it: `python train.py ...` in a subprocess."""

import json

import pytest
import torch

from tests.cli import train
from tests.conftest import ALGOS, ROOT


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("env", ["cartpole", "pendulum"])
def test_every_algo_trains_a_smoke_budget(tmp_path, algo, env):
    run_dir = tmp_path / "run"
    result = train(f"algo={algo}", f"env={env}", "debug=smoke", f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["progress/env_steps"] >= 2000
    assert summary["time/sps"] > 0
    assert (run_dir / "checkpoints" / "last.ckpt").exists()
    assert "eval return" in result.stderr + result.stdout


def test_readme_commands_with_tensorboard_logger(tmp_path):
    run_dir = tmp_path / "run"
    result = train(
        "algo=a2c",
        "env=pendulum",
        "accelerator=cpu",
        "logger=tensorboard",
        "debug=smoke",
        f"hydra.run.dir={run_dir}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))


def test_help_lists_groups_and_options():
    result = train("--help")
    assert result.returncode == 0
    lines = set(result.stdout.splitlines())
    for line in ("accelerator: cpu, gpu", "network: cnn, mlp"):
        assert line in lines
    for group in ("algo", "env", "experiment", "logger"):  # every option file of the group is listed
        options = sorted(p.stem for p in (ROOT / "conf" / group).glob("*.yaml"))
        assert len(options) >= 3
        assert f"{group}: {', '.join(options)}" in lines


@pytest.mark.parametrize(
    ("override", "message"),
    [
        pytest.param(
            "accelerator=gpu",
            "accelerator=gpu was requested but PyTorch sees no CUDA GPU",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="message of GPU-less machines"),
        ),
        ("algo.gamma=1.5", "algo.gamma=1.5 is out of range: allowed (0.0, 1.0]"),
        ("algo.lrr=1", "algo.lrr is not a key of algo; its keys: _partial_, _target_, anneal_lr, clip_coef,"),
        ("algo.lr=abc", "algo.lr='abc' is not a number: allowed (0.0, inf]"),
        (
            "env.id=CartPol-v1",
            "env.id='CartPol-v1' is not a registered gymnasium environment; did you mean CartPole-v1",
        ),
        ("ckpt_path=missing/last.ckpt", "ckpt_path=missing/last.ckpt does not exist"),
        ("ckpt_path=README.md", "ckpt_path=README.md cannot be loaded: it is not a PyTorch checkpoint file"),
        (
            "resume=docs",
            "resume=docs is not a run dir to continue: no config.yaml and checkpoints/last.ckpt in it",
        ),
        ("on_nonfinite=ignore", "on_nonfinite='ignore' is not supported; choose one of ['stop', 'skip']"),
    ],
)
def test_bad_input_fails_with_one_line_naming_the_key(tmp_path, override, message):
    result = train(override, f"hydra.run.dir={tmp_path / 'run'}")
    output = result.stdout + result.stderr
    assert result.returncode == 2
    assert f"[ERROR] - {message}" in output
    assert "Traceback" not in output


def test_an_unknown_group_option_lists_the_options(tmp_path):
    result = train("algo=ppp", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 1  # Hydra's own composition error
    assert "Could not find 'algo/ppp'" in result.stderr
    assert "Available options in 'algo':\n\t" + "\n\t".join(ALGOS) in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()


def test_a_run_dir_holding_a_run_is_never_written_over(tmp_path):
    run_dir = tmp_path / "run"
    assert train("debug=smoke", f"hydra.run.dir={run_dir}").returncode == 0
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    result = train("debug=smoke", "seed=5", f"hydra.run.dir={run_dir}")
    assert result.returncode == 2
    assert (
        f"[pglab][ERROR] - hydra.run.dir={run_dir} already holds a run (config.yaml, summary.json, checkpoints); "
        f"nothing was written. Choose a new dir, or continue that run with resume={run_dir}" in result.stderr
    )
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before
