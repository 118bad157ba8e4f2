"""W&B logging, offline (no credentials, no network), read back with wandb's own reader."""

import csv
import json
import os

import pytest
import yaml

from tests.cli import train
from tests.wandb_records import offline_runs, read_records

SMOKE = ("debug=smoke", "callbacks.progress.refresh_every_env_steps=1000000000")


def no_credentials(tmp_path) -> dict[str, str]:
    """An environment without W&B credentials or mode, whatever the machine running the tests has."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    return env | {"NETRC": str(tmp_path / "no-netrc"), "WANDB_CONFIG_DIR": str(tmp_path / "wandb-config")}


def test_offline_run_with_csv_tensorboard_and_wandb_holds_config_metrics_and_checkpoints(tmp_path):
    run_dir = tmp_path / "run"
    result = train("logger=[csv,tensorboard,wandb]", "logger.wandb.log_model=true", "callbacks.evaluation.video_every=2",
                   *SMOKE, f"hydra.run.dir={run_dir}", env=no_credentials(tmp_path))  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert output.count("W&B: no API key configured, logging offline") == 1
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    (run_file,) = offline_runs(run_dir)
    records = read_records(run_file)

    config = {}
    for update in records["config"]:
        config.update(update.get("update", {}))
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["algo"] == saved["algo"] and config["env"] == saved["env"] and config["seed"] == 0

    with open(run_dir / "csv" / "metrics.csv") as f:
        csv_rows = list(csv.DictReader(f))
    csv_keys = set(csv_rows[0]) - {"step"}
    history = [h["item"] for h in records["history"]]
    assert csv_keys <= set().union(*history)  # every metric key reaches W&B
    assert all("time/env_steps" in row for row in history)  # each row carries its env step ...
    env_steps = [row["time/env_steps"] for row in history]
    assert env_steps == sorted(env_steps) and env_steps[-1] >= 2000
    assert sorted({int(r["step"]) for r in csv_rows}) == sorted(set(env_steps))  # ... the CSV's steps
    assert {"glob_name": "*", "options": {"defined": True, "step_sync": True}, "step_metric": "time/env_steps"} in records["metric"]

    videos = [row for row in history if "eval/video.videos" in row]  # evaluations at 1024 and 2048: the 2nd records
    assert [row["time/env_steps"] for row in videos] == [2048]
    (video,) = videos[0]["eval/video.videos"]
    assert video["_type"] == "video-file" and video["path"].endswith(".mp4") and int(video["size"]) > 1000

    aliases = [set(a["aliases"]) for a in records["artifact"]]
    assert any({"last", f"step-{env_steps[-1]}"} <= a for a in aliases)
    assert any("best" in a for a in aliases)
    assert {e.get("exit_code", 0) for e in records["exit"]} == {0}


def test_multirun_gives_one_finished_run_per_job_in_one_group_named_by_swept_values(tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = train("-m", "logger=wandb", "algo.lr=1e-3", "seed=0,1", *SMOKE, f"hydra.sweep.dir={sweep_dir}",
                   env=no_credentials(tmp_path))  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    runs = []
    for job in ("0", "1"):
        (run_file,) = offline_runs(sweep_dir / job)
        records = read_records(run_file)
        (run,) = records["run"]
        assert records["exit"], "the job's W&B run was finished"
        runs.append(run)
    assert runs[0]["run_group"] == runs[1]["run_group"] == "sweep"
    assert [r["display_name"] for r in runs] == ["algo.lr=0.001 debug=smoke callbacks.progress.refresh_every_env_steps=1000000000 seed=0",
                                                 "algo.lr=0.001 debug=smoke callbacks.progress.refresh_every_env_steps=1000000000 seed=1"]  # fmt: skip
    assert runs[0]["run_id"] != runs[1]["run_id"]


def test_api_key_never_lands_in_the_run_dir(tmp_path):
    run_dir = tmp_path / "run"
    secret = "pglab-test-secret-0123456789abcdef0123456789abcdef"
    env = no_credentials(tmp_path) | {"WANDB_API_KEY": secret}
    result = train("logger=[csv,wandb]", "logger.wandb.mode=offline", *SMOKE, f"hydra.run.dir={run_dir}", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert len(files) > 10
    assert not [p for p in files if secret.encode() in p.read_bytes()]
    assert secret not in result.stdout + result.stderr


def test_a_job_that_fails_mid_training_finishes_its_wandb_run_as_failed(make_cfg, tmp_path, monkeypatch):
    import wandb

    from pglab.train import run

    for key in [k for k in os.environ if k.startswith("WANDB_")]:
        monkeypatch.delenv(key)
    cfg = make_cfg("logger=wandb", "logger.wandb.mode=offline", "env.id=pglab-test/Failing-v0", "+env.kwargs.fail_after=300",
                   "debug=smoke")  # fmt: skip
    with pytest.raises(RuntimeError, match="FailingEnv failed after 300 steps"):
        run(cfg)
    assert wandb.run is None  # finished, so the next job of a sweep starts its own run
    (run_file,) = offline_runs(tmp_path)
    records = read_records(run_file)
    assert [e.get("exit_code") for e in records["exit"]] == [1]
    assert [h["item"]["time/env_steps"] for h in records["history"]][-1] <= 600
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "failed" and "FailingEnv failed after 300 steps" in summary["error"]
