"""A fifth algorithm needs only its own file and YAML: `tests/fixtures/extra_algorithm/` (REINFORCE with a learned
state-independent baseline) is added through `hydra.searchpath` and trains, checks and documents itself through
pglab's ordinary command line, with nothing about it anywhere else in the repository."""

import csv
import json
import subprocess

from tests.cli import train
from tests.conftest import ROOT

SEARCHPATH = "hydra.searchpath=[pkg://tests.fixtures.extra_algorithm.conf]"
QUIET = "callbacks.progress.refresh_every_env_steps=1000000000"


def test_it_trains_end_to_end_with_train_py(tmp_path):
    # seed 0, CartPole-v1, 30,000 env steps (the run ends at the first rollout boundary past it)
    run_dir = tmp_path / "run"
    result = train(
        SEARCHPATH, "algo=reinforce_baseline", "total_env_steps=30000", QUIET, f"hydra.run.dir={run_dir}"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and 30_000 <= summary["progress/env_steps"] < 31_000 + 500 * 8
    assert summary["eval/episode_return_mean"] >= 475.0
    with open(run_dir / "csv" / "metrics.csv") as file:
        rows = [row for row in csv.DictReader(file) if row["losses/baseline"]]
    baselines = [float(row["diagnostics/baseline"]) for row in rows]
    assert baselines[0] < 20.0 < 40.0 < baselines[-1]  # the learned baseline follows the returns up
    assert {"time/collect_s", "time/update_s"} <= set(rows[-1])
    assert (
        "algo:\n  _target_: tests.fixtures.extra_algorithm.BaselineREINFORCE"
        in (run_dir / "config.yaml").read_text()
    )


def test_its_hyperparameters_are_checked_and_documented_from_its_declaration(tmp_path):
    result = train(
        SEARCHPATH, "algo=reinforce_baseline", "algo.baseline_lr=-1", f"hydra.run.dir={tmp_path / 'run'}"
    )
    assert result.returncode == 2
    assert "[pglab][ERROR] - algo.baseline_lr=-1 is out of range: allowed (0.0, inf]" in result.stderr
    assert not (tmp_path / "run").exists()
    help_text = train(SEARCHPATH, "algo=reinforce_baseline", "--help").stdout
    assert "BaselineREINFORCE (tests.fixtures.extra_algorithm.BaselineREINFORCE;" in help_text
    assert "algo.baseline_lr=5.0" in help_text and "SGD learning rate of the baseline b" in help_text


def test_nothing_outside_its_folder_names_it():
    tracked = subprocess.run(
        ["git", "grep", "-l", "-i", "-e", "reinforce_baseline", "-e", "BaselineREINFORCE", "--", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert all(
        path.startswith("tests/fixtures/extra_algorithm/") or path == "tests/e2e/test_extra_algorithm.py"
        for path in tracked
    ), tracked


def test_it_resumes_without_repeating_its_search_path_and_names_an_unknown_key(tmp_path):
    run_dir = tmp_path / "run"
    first = train(
        SEARCHPATH, "algo=reinforce_baseline", "total_env_steps=2000", QUIET, f"hydra.run.dir={run_dir}"
    )
    assert first.returncode == 0, first.stderr[-3000:]
    resumed = train(f"resume={run_dir}", "total_env_steps=4000", QUIET)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((run_dir / "summary.json").read_text())["progress/env_steps"] >= 4000
    result = train(
        SEARCHPATH, "algo=reinforce_baseline", "algo.baseline_lrr=1", f"hydra.run.dir={tmp_path / 'x'}"
    )
    assert result.returncode == 2
    assert (
        "[pglab][ERROR] - algo.baseline_lrr is not a key of algo; its keys: _partial_, _target_,"
        in result.stderr
    )
    assert "baseline_lr," in result.stderr
