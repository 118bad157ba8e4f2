"""The sweep benchmark's report: a run of some sweeps keeps the other sweeps' sections with their own dates."""

import json

import pytest

from pglab.benchmark import sweeps
from pglab.benchmark.cli import parse_args


def fake_sweep(returns: dict[str, float], wall: dict[str, float]):
    """`run_sweep` without processes: every job of the sweep completed with `returns[launcher]` + its seed."""

    def run_sweep(name, launcher, steps, work_dir):
        jobs = {
            f"algo.lr={lr} seed={seed}": {
                "status": "completed",
                "eval_return_mean": returns[launcher] + seed,
                "env_steps": steps,
            }
            for lr in ("1e-3", "3e-3")
            for seed in (0, 1)
        }
        return {"launcher": launcher, "returncode": 0, "wall_s": wall[launcher], "jobs": jobs, "log": ""}

    return run_sweep


def test_running_some_sweeps_keeps_the_other_sweeps_sections_with_their_own_dates(tmp_path, monkeypatch):
    walls = {"basic": 300.0, "joblib": 120.0, "population": 40.0}
    first_returns = {"basic": 100, "joblib": 100, "population": 100}
    monkeypatch.setattr(sweeps, "run_sweep", fake_sweep(first_returns, walls))
    monkeypatch.setattr(sweeps, "machine", lambda: {"cpu": "first CPU", "cores": 2})
    sweeps.run(False, tmp_path, tmp_path / "work", "first command")
    first = json.loads((tmp_path / "sweeps.json").read_text())
    assert list(first["sweeps"]) == list(sweeps.SWEEPS)

    monkeypatch.setattr(sweeps, "run_sweep", fake_sweep({"joblib": 200, "population": 200}, walls))
    monkeypatch.setattr(sweeps, "machine", lambda: {"cpu": "second CPU", "cores": 2})
    sweeps.run(False, tmp_path, tmp_path / "work2", "second command", ["reinforce24", "reinforce24"])
    second = json.loads((tmp_path / "sweeps.json").read_text())
    assert list(second["sweeps"]) == list(sweeps.SWEEPS)  # every section, in the sweeps' order
    for name, section in second["sweeps"].items():
        means = section["summary"]["config_means"]["population"]
        if name == "reinforce24":
            assert section["command"] == "second command" and means["algo.lr=1e-3"] == 200.5
            assert section["machine"]["cpu"] == "second CPU" and len(section["runs"]) == 2  # run once
        else:
            assert section["command"] == "first command" and section["date"] == first["date"]
            assert section["machine"]["cpu"] == "first CPU" and means["algo.lr=1e-3"] == 100.5
            assert section["runs"] == first["sweeps"][name]["runs"]
    assert second["sweeps"]["reinforce24"]["summary"]["speedup_vs_joblib"] == 3.0
    report = (tmp_path / "sweeps.md").read_text()
    assert report.count("with `first command` on first CPU, 2 cores.") == len(sweeps.SWEEPS) - 1
    assert report.count("with `second command` on second CPU, 2 cores.") == 1


def test_the_sweeps_option_takes_sweep_names_and_refuses_others(capsys):
    assert parse_args(["--sweeps"]).sweeps == []
    assert parse_args(["--sweeps", "reinforce24", "grid64"]).sweeps == ["reinforce24", "grid64"]
    assert parse_args([]).sweeps is None
    with pytest.raises(SystemExit) as error:
        parse_args(["--sweeps", "grid65"])
    assert error.value.code == 2
    assert "invalid choice: 'grid65'" in capsys.readouterr().err
