"""`hydra/launcher=population` from the command line: members are jobs, results equal the basic launcher's, failed
jobs fail alone, each algorithm's jobs train as its own population, Optuna gets every trial,
SIGINT checkpoints every member."""

import json
import os
import shlex
import signal
import subprocess
import sys
import time

import torch
import yaml

from tests.cli import train
from tests.conftest import ROOT
from tests.e2e.test_sweeps import read_jobs

QUIET = ("logger=csv", "callbacks.progress.refresh_every_env_steps=1000000000")
TORCH_PPO = (
    "experiment=ppo_cartpole_torch",
    "total_env_steps=4096",
    "callbacks.evaluation.every_env_steps=2048",
)
POPULATION = ("hydra/launcher=population", "hydra.launcher.n_jobs=2")


def test_a_population_sweep_runs_every_job_as_the_basic_launcher_does_and_bad_jobs_fail_alone(tmp_path):
    grid = ("algo.lr=1e-3,3e-3", "algo.clip_coef=0.2,-1", "seed=0,1")
    runs = {}
    for name, launcher in (("basic", ()), ("population", POPULATION)):
        sweep_dir = tmp_path / name
        result = train(
            "-m", *grid, *TORCH_PPO, *QUIET, *launcher, f"hydra.sweep.dir={sweep_dir}", timeout=600
        )
        assert result.returncode == 1, result.stderr[-3000:]  # the jobs with clip_coef=-1 failed
        jobs = read_jobs(sweep_dir)
        assert len(jobs) == 8 and len({j["job"] for j in jobs}) == 8  # every job once, in its own dir
        for job in jobs:
            if "algo.clip_coef=-1" in job["overrides"]:
                assert job["status"] == "failed" and "algo.clip_coef" in job["error"]
                continue
            assert job["status"] == "completed", job
            job_dir = sweep_dir / job["job"]
            for part in ("config.yaml", "csv/metrics.csv", "learning_curve.png", "checkpoints/last.ckpt"):
                assert (job_dir / part).is_file(), part
            summary = json.loads((job_dir / "summary.json").read_text())
            assert summary["progress/env_steps"] == 4096
            config = yaml.safe_load((job_dir / "config.yaml").read_text())
            assert str(config["seed"]) == job["seed"]
        runs[name] = {(j["overrides"], j["seed"]): (j["status"], j["eval_return_mean"]) for j in jobs}
    assert runs["population"] == runs["basic"]


def test_each_algorithms_jobs_train_as_its_own_population(tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = train(
        "-m",
        "algo=ppo,a2c,vpg,reinforce",
        "seed=0,1",
        "debug=smoke",
        *QUIET,
        *POPULATION,
        f"hydra.sweep.dir={sweep_dir}",
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stderr + result.stdout
    # PPO's, A2C's, VPG's and REINFORCE's jobs as four populations
    assert output.count("Population of 2 jobs") == 4, output[-3000:]
    jobs = read_jobs(sweep_dir)
    assert sorted((j["overrides"].split()[0], j["seed"], j["status"]) for j in jobs) == [
        ("algo=a2c", "0", "completed"),
        ("algo=a2c", "1", "completed"),
        ("algo=ppo", "0", "completed"),
        ("algo=ppo", "1", "completed"),
        ("algo=reinforce", "0", "completed"),
        ("algo=reinforce", "1", "completed"),
        ("algo=vpg", "0", "completed"),
        ("algo=vpg", "1", "completed"),
    ]


def test_optuna_asking_for_several_trials_at_a_time_gets_every_trials_return(tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = train(
        "-m",
        "hparams_search=ppo_optuna",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.n_jobs=2",
        "debug=smoke",
        "network.hidden_sizes=[64,64]",
        *QUIET,
        *POPULATION[:1],
        f"hydra.sweep.dir={sweep_dir}",
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = read_jobs(sweep_dir)
    assert len(jobs) == 4 and {j["status"] for j in jobs} == {"completed"}
    best = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert best["best_value"] == max(float(j["eval_return_mean"]) for j in jobs)


def test_sigint_checkpoints_every_member_which_resume_as_a_population_or_each_as_its_own_run(tmp_path):
    sweep_dir = tmp_path / "sweep"
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "train.py"),
            "-m",
            "seed=0,1",
            "experiment=ppo_cartpole_torch",
            "total_env_steps=2000000",
            *QUIET,
            "hydra/launcher=population",
            f"hydra.sweep.dir={sweep_dir}",
        ],
        cwd=ROOT,
        env={**os.environ, "HYDRA_FULL_ERROR": "0"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    metrics = [sweep_dir / str(k) / "csv" / "metrics.csv" for k in (0, 1)]
    while not all(p.is_file() and len(p.read_text().splitlines()) > 3 for p in metrics):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()[1][-3000:]
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr[-3000:]
    for k in (0, 1):
        summary = json.loads((sweep_dir / str(k) / "summary.json").read_text())
        assert summary["status"] == "interrupted" and summary["signal"] == "SIGINT"
        checkpoint = torch.load(sweep_dir / str(k) / "checkpoints" / "last.ckpt", weights_only=False)
        assert checkpoint["collector"]["env_steps"] == summary["progress/env_steps"] > 0
    stopped_at = summary["progress/env_steps"]
    # The log spells out the command that continues the population; both members take it from their last.ckpt.
    log = (stdout + stderr).decode()
    (command,) = [line for line in log.splitlines() if "Continue the population with:" in line]
    arguments = shlex.split(command.split("Continue the population with: python train.py ", 1)[1])
    assert arguments == ["-m", "hydra/launcher=population", f"resume={sweep_dir / '0'},{sweep_dir / '1'}"]
    together = train(
        *arguments,
        f"total_env_steps={stopped_at + 2048}",
        f"hydra.sweep.dir={tmp_path / 'continued'}",
        timeout=300,
    )
    assert together.returncode == 0, together.stderr[-3000:]
    assert "Continuing 2 members from their checkpoints" in together.stdout + together.stderr
    for k in (0, 1):
        after = json.loads((sweep_dir / str(k) / "summary.json").read_text())
        assert after["status"] == "completed" and after["progress/env_steps"] == stopped_at + 2048
    # The continuing sweep's summary has a row per member, read from the run it continued.
    rows = read_jobs(tmp_path / "continued")
    assert [(r["job"], r["status"], int(r["env_steps"])) for r in rows] == [
        ("0", "completed", stopped_at + 2048),
        ("1", "completed", stopped_at + 2048),
    ]
    assert [r["seed"] for r in rows] == ["0", "1"]
    resumed = train(f"resume={sweep_dir / '1'}", f"total_env_steps={stopped_at + 4096}", timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    after = json.loads((sweep_dir / "1" / "summary.json").read_text())
    assert after["status"] == "completed" and after["progress/env_steps"] == stopped_at + 4096
