"""`scripts/gpu_check.sh` where no GPU is needed: it parses, refuses a machine without CUDA with one message and
nothing written, and its report prints a run dir's measured numbers (its GPU steps run on a GPU machine only)."""

import csv
import json
import os
import subprocess
import sys

import pytest
import torch

from pglab.train import run
from tests.conftest import ROOT

SCRIPT = ROOT / "scripts" / "gpu_check.sh"


def gpu_check(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable}
    return subprocess.run(
        ["bash", str(SCRIPT), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_script_parses():
    result = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="a CUDA GPU is present: the script would run the whole check"
)
def test_without_cuda_it_exits_1_saying_so_and_writes_nothing():
    before = set((ROOT / "outputs").glob("gpu_check/*"))
    result = gpu_check()
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        "gpu_check: FAILED: PyTorch sees no CUDA GPU (torch.cuda.is_available() is False); run this on a machine "
        "with an NVIDIA GPU, its driver and a CUDA build of torch"
    ]
    assert f"torch {torch.__version__}, built with CUDA {torch.version.cuda}" in result.stdout
    assert set((ROOT / "outputs").glob("gpu_check/*")) == before


def test_report_prints_the_summary_and_the_curves_of_a_run_dir(make_cfg, tmp_path):
    run_dir = tmp_path / "run"
    summary = run(make_cfg("debug=smoke", "total_env_steps=3000", "logger=csv", output_dir=run_dir))
    result = gpu_check("--report", str(run_dir))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    steps, wall = summary["progress/env_steps"], summary["time/wall_s"]
    assert (
        lines[0]
        == f"  status completed: {steps:,.0f} env steps in {wall:.1f} s, {summary['time/sps']:,.0f} env steps/s"
    )
    assert (
        f"  final evaluation: return {summary['eval/episode_return_mean']:.2f} ± "
        f"{summary['eval/episode_return_std']:.2f} at {summary['eval/env_steps']:,.0f} env steps"
        in result.stdout
    )
    with open(run_dir / "csv" / "metrics.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    evals = [r for r in rows if r["eval/episode_return_mean"]]
    assert len(evals) == 3  # at 1,024 and 2,048 env steps, and at the end
    start = lines.index("    env step     eval return") + 1
    assert [line.split() for line in lines[start : start + len(evals)]] == [
        [
            f"{float(r['step']):,.0f}",
            f"{float(r['eval/episode_return_mean']):.2f}",
            "±",
            f"{float(r['eval/episode_return_std']):.2f}",
        ]
        for r in evals
    ]
    train = [r for r in rows if r["rollout/episode_return_mean"]]
    assert f"  training episodes (rollout/episode_return_mean, 10 of {len(train)} logged rollouts):" in lines
    assert lines[-1].split() == [f"{steps:,.0f}", f"{float(train[-1]['rollout/episode_return_mean']):.2f}"]


def test_report_of_a_dir_without_a_summary_exits_1_saying_so(tmp_path):
    result = gpu_check("--report", str(tmp_path))
    assert result.returncode == 1
    assert f"{tmp_path}: no summary.json" in result.stdout


def test_report_lists_evaluate_results_next_to_the_checkpoints(tmp_path):
    (tmp_path / "checkpoints").mkdir(parents=True)
    (tmp_path / "summary.json").write_text(json.dumps({"status": "interrupted", "signal": "SIGINT"}))
    result_json = {
        "checkpoint": str(tmp_path / "checkpoints" / "last.ckpt"),
        "env_steps": 123456,
        "episodes": 2,
        "deterministic": True,
        "episode_return_mean": -20.5,
        "episode_return_std": 0.5,
        "returns": [-21.0, -20.0],
    }
    (tmp_path / "checkpoints" / "last-eval-1.json").write_text(json.dumps(result_json))
    result = gpu_check("--report", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "  status interrupted by SIGINT: 0 env steps" in result.stdout
    assert result.stdout.splitlines()[-1] == (
        "  evaluate.py of last.ckpt at 123,456 env steps: return -20.50 ± 0.50 over 2 deterministic episodes "
        "[-21.0, -20.0] (last-eval-1.json)"
    )
