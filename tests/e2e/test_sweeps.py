"""Multirun sweeps from the command line: summaries, parallel jobs, failed jobs, Optuna, the SLURM config."""

import csv
import json
import math
import statistics
from pathlib import Path

import yaml

from tests.cli import train
from tests.conftest import CONF

SMOKE = ("debug=smoke", "logger=none", "callbacks.progress.refresh_every_env_steps=1000000000")


def read_jobs(sweep_dir: Path) -> list[dict[str, str]]:
    with open(sweep_dir / "sweep_summary.csv") as f:
        return list(csv.DictReader(f))


def test_a_grid_sweep_writes_summary_and_joblib_runs_it_in_parallel_with_equal_results(tmp_path):
    grid = ("algo.lr=1e-3,3e-4", "algo.gamma=0.95,0.99")
    runs = {}
    for name, launcher in (("basic", ()), ("joblib", ("hydra/launcher=joblib", "hydra.launcher.n_jobs=2"))):
        sweep_dir = tmp_path / name
        result = train("-m", *grid, *SMOKE, *launcher, f"hydra.sweep.dir={sweep_dir}", timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        jobs = read_jobs(sweep_dir)
        assert len(jobs) == 4
        assert {j["status"] for j in jobs} == {"completed"}
        assert len({j["overrides"] for j in jobs}) == 4  # each job its own configuration ...
        assert len({(sweep_dir / j["job"]).resolve() for j in jobs}) == 4  # ... and its own run dir
        for job in jobs:
            summary = json.loads((sweep_dir / job["job"] / "summary.json").read_text())
            assert float(job["eval_return_mean"]) == summary["eval/episode_return_mean"]
            assert int(job["env_steps"]) == summary["progress/env_steps"] >= 2000
            assert float(job["wall_s"]) > 0
            assert job["seed"] == "0"
        markdown = (sweep_dir / "sweep_summary.md").read_text()
        assert "4 jobs, 4 completed, 0 failed" in markdown
        assert "algo.lr=0.001 algo.gamma=0.95" in markdown
        runs[name] = {j["overrides"]: float(j["eval_return_mean"]) for j in jobs}
    assert runs["joblib"] == runs["basic"]  # same seeds, same CPU results, whichever process ran the job


def test_failed_jobs_are_marked_and_the_rest_run_then_exit_code_is_1(tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = train("-m", "algo.lr=1e-3,-1", "seed=0,1", *SMOKE, f"hydra.sweep.dir={sweep_dir}", timeout=600)
    assert result.returncode == 1
    jobs = read_jobs(sweep_dir)
    assert [(j["overrides"], j["seed"], j["status"]) for j in jobs] == [
        (
            "algo.lr=0.001 debug=smoke logger=none callbacks.progress.refresh_every_env_steps=1000000000",
            "0",
            "completed",
        ),
        (
            "algo.lr=0.001 debug=smoke logger=none callbacks.progress.refresh_every_env_steps=1000000000",
            "1",
            "completed",
        ),
        (
            "algo.lr=-1 debug=smoke logger=none callbacks.progress.refresh_every_env_steps=1000000000",
            "0",
            "failed",
        ),
        (
            "algo.lr=-1 debug=smoke logger=none callbacks.progress.refresh_every_env_steps=1000000000",
            "1",
            "failed",
        ),
    ]
    assert all("algo.lr=-1 is out of range: allowed (0.0, inf]" in j["error"] for j in jobs[2:])
    with open(sweep_dir / "sweep_summary_by_config.csv") as f:
        configs = list(csv.DictReader(f))
    best, failed = configs
    seed_means = [float(j["eval_return_mean"]) for j in jobs[:2]]
    assert best["rank"] == "1" and best["seeds"] == "0 1" and best["completed"] == "2"
    assert math.isclose(float(best["eval_return_mean"]), statistics.fmean(seed_means))
    assert math.isclose(float(best["eval_return_std"]), statistics.stdev(seed_means))
    assert failed["failed"] == "2" and failed["eval_return_mean"] == "nan"
    assert "4 jobs, 2 completed, 2 failed" in (sweep_dir / "sweep_summary.md").read_text()


def test_optuna_search_completes_reports_best_parameters_and_survives_a_failed_trial(tmp_path):
    # A search space whose lr choice includes an invalid value, so some trial fails.
    config_dir = tmp_path / "conf" / "hparams_search"
    config_dir.mkdir(parents=True)
    (config_dir / "ppo_optuna_with_bad_lr.yaml").write_text(
        "# @package _global_\ndefaults:\n  - ppo_optuna\nhydra:\n  sweeper:\n    n_trials: 4\n"
        "    params:\n      algo.lr: choice(-1.0, 0.001)\n"
    )
    sweep_dir = tmp_path / "sweep"
    result = train(
        "-m",
        "--config-dir",
        str(tmp_path / "conf"),
        "hparams_search=ppo_optuna_with_bad_lr",
        *SMOKE,
        f"hydra.sweep.dir={sweep_dir}",
        timeout=600,
    )
    jobs = read_jobs(sweep_dir)
    assert len(jobs) == 4
    completed = [j for j in jobs if j["status"] == "completed"]
    failed = [j for j in jobs if j["status"] == "failed"]
    assert failed and all("algo.lr=-1.0" in j["overrides"] for j in failed)  # TPE with seed 0 tries lr=-1
    assert all("algo.lr=0.001" in j["overrides"] for j in completed) and completed
    assert result.returncode == 1, result.stderr[-3000:]
    best = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert best["best_value"] == max(float(j["eval_return_mean"]) for j in completed)
    assert best["best_params"]["algo.lr"] == 0.001
    assert set(best["best_params"]) == {
        "algo.lr",
        "algo.gamma",
        "algo.gae_lambda",
        "algo.clip_coef",
        "algo.ent_coef",
        "network.hidden_sizes",
    }


def test_every_optuna_preset_and_the_slurm_launcher_compose():
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    for algo in sorted(
        p.stem.removesuffix("_optuna") for p in (CONF / "hparams_search").glob("*_optuna.yaml")
    ):
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose("train", overrides=[f"hparams_search={algo}_optuna"], return_hydra_config=True)
        assert cfg.algo._target_.lower().endswith(algo)
        assert cfg.hydra.sweeper._target_.endswith("OptunaSweeper")
        assert cfg.hydra.sweeper.direction == "maximize"
        assert "algo.lr" in cfg.hydra.sweeper.params and "network.hidden_sizes" in cfg.hydra.sweeper.params
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=["hydra/launcher=slurm", "hydra.launcher.partition=gpu"],
            return_hydra_config=True,
        )
    GlobalHydra.instance().clear()
    assert (
        cfg.hydra.launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    )
    assert (
        cfg.hydra.launcher.partition,
        cfg.hydra.launcher.cpus_per_task,
        cfg.hydra.launcher.timeout_min,
    ) == ("gpu", 2, 120)
