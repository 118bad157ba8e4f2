"""W&B logging, offline (no credentials, no network), read back with wandb's own reader; and W&B's failures:
online mode without an API key, and online mode without a route to the server."""

import contextlib
import csv
import http.server
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import yaml

from tests.cli import train
from tests.wandb_records import offline_runs, read_records

SMOKE = ("debug=smoke", "callbacks.progress.refresh_every_env_steps=1000000000")
#: a well-formed (40 letters and digits), made-up W&B API key: the online init gets past its format check
DUMMY_KEY = "pglabdummykey0123456789abcdef0123456789a"


@pytest.fixture(autouse=True)
def no_wandb_variables_in_this_process(monkeypatch):
    """`tests.cli.run_script` passes this process's environment under the test's, so `no_credentials` can only
    leave a variable out if this process has none: a developer's WANDB_API_KEY, or the WANDB_SERVICE token that
    an in-process wandb run (the last test here) sets, which would connect the scripts to this process's service."""
    for key in [k for k in os.environ if k.startswith("WANDB_")]:
        monkeypatch.delenv(key)


def no_credentials(tmp_path) -> dict[str, str]:
    """An environment without W&B credentials or mode, whatever the machine running the tests has."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    return env | {"NETRC": str(tmp_path / "no-netrc"), "WANDB_CONFIG_DIR": str(tmp_path / "wandb-config")}


@contextlib.contextmanager
def refusing_server() -> Iterator[str]:
    """The URL of a local port that nothing listens on (bound, read and closed): a connection is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """The URL of a local port that accepts connections (the kernel completes the handshakes) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


class FailingGraphQL(http.server.BaseHTTPRequestHandler):
    """Answers a HEAD request (the logger's probe) and fails every POST (W&B's API calls) with a 500."""

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.end_headers()

    def do_POST(self) -> None:
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def failing_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FailingGraphQL)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def files_holding(root, secret: str) -> list:
    return [
        p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and secret.encode() in p.read_bytes()
    ]


def test_offline_run_with_csv_tensorboard_and_wandb_holds_config_metrics_and_checkpoints(tmp_path):
    run_dir = tmp_path / "run"
    result = train(
        "logger=[csv,tensorboard,wandb]",
        "logger.wandb.log_model=true",
        "callbacks.evaluation.video_every=2",
        *SMOKE,
        f"hydra.run.dir={run_dir}",
        env=no_credentials(tmp_path),
    )
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
    assert all("progress/env_steps" in row for row in history)  # each row carries its env step ...
    env_steps = [row["progress/env_steps"] for row in history]
    assert env_steps == sorted(env_steps) and env_steps[-1] >= 2000
    assert sorted({int(r["step"]) for r in csv_rows}) == sorted(set(env_steps))  # ... the CSV's steps
    assert {
        "glob_name": "*",
        "options": {"defined": True, "step_sync": True},
        "step_metric": "progress/env_steps",
    } in records["metric"]

    # Evaluations at 1024 and 2048: the 2nd records.
    videos = [row for row in history if "eval/video.videos" in row]
    assert [row["progress/env_steps"] for row in videos] == [2048]
    (video,) = videos[0]["eval/video.videos"]
    assert video["_type"] == "video-file" and video["path"].endswith(".mp4") and int(video["size"]) > 1000

    aliases = [set(a["aliases"]) for a in records["artifact"]]
    assert any({"last", f"step-{env_steps[-1]}"} <= a for a in aliases)
    assert any("best" in a for a in aliases)
    assert {e.get("exit_code", 0) for e in records["exit"]} == {0}


@pytest.mark.parametrize("launcher", [(), ("hydra/launcher=population",)], ids=["basic", "population"])
def test_multirun_gives_one_finished_run_per_job_in_one_group_named_by_swept_values(tmp_path, launcher):
    sweep_dir = tmp_path / "sweep"
    result = train(
        "-m",
        "logger=wandb",
        "algo.lr=1e-3",
        "seed=0,1",
        *SMOKE,
        *launcher,
        f"hydra.sweep.dir={sweep_dir}",
        env=no_credentials(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = []
    for job in ("0", "1"):
        (run_file,) = offline_runs(sweep_dir / job)
        records = read_records(run_file)
        (run,) = records["run"]
        assert records["exit"], "the job's W&B run was finished"
        steps = [h["item"]["progress/env_steps"] for h in records["history"]]
        assert steps and steps == sorted(steps)  # the job's own rows, in its own run
        runs.append(run)
    assert runs[0]["run_group"] == runs[1]["run_group"] == "sweep"
    assert [r["display_name"] for r in runs] == [
        "algo.lr=0.001 debug=smoke callbacks.progress.refresh_every_env_steps=1000000000 seed=0",
        "algo.lr=0.001 debug=smoke callbacks.progress.refresh_every_env_steps=1000000000 seed=1",
    ]
    assert runs[0]["run_id"] != runs[1]["run_id"]


def test_api_key_never_lands_in_the_run_dir(tmp_path):
    run_dir = tmp_path / "run"
    secret = "pglab-test-secret-0123456789abcdef0123456789abcdef"
    env = no_credentials(tmp_path) | {"WANDB_API_KEY": secret}
    result = train(
        "logger=[csv,wandb]", "logger.wandb.mode=offline", *SMOKE, f"hydra.run.dir={run_dir}", env=env
    )
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
    cfg = make_cfg(
        "logger=wandb",
        "logger.wandb.mode=offline",
        "env.id=pglab-test/Failing-v0",
        "+env.kwargs.fail_after=300",
        "debug=smoke",
    )
    with pytest.raises(RuntimeError, match="FailingEnv failed after 300 steps"):
        run(cfg)
    assert wandb.run is None  # finished, so the next job of a sweep starts its own run
    (run_file,) = offline_runs(tmp_path)
    records = read_records(run_file)
    assert [e.get("exit_code") for e in records["exit"]] == [1]
    assert [h["item"]["progress/env_steps"] for h in records["history"]][-1] <= 600
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "failed" and "FailingEnv failed after 300 steps" in summary["error"]


def test_constructing_the_logger_writes_and_logs_nothing(tmp_path, monkeypatch, caplog):
    """`pglab.preflight` constructs the loggers to check a config before the run dir exists."""
    from pglab.loggers import EnvStepWandbLogger

    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    save_dir = tmp_path / "run"
    with caplog.at_level(logging.DEBUG):
        EnvStepWandbLogger(mode="auto", save_dir=str(save_dir))
        monkeypatch.setenv("WANDB_API_KEY", DUMMY_KEY)
        EnvStepWandbLogger(mode="online", save_dir=str(save_dir))
    assert not save_dir.exists()
    assert [r.getMessage() for r in caplog.records if r.name.startswith("pglab")] == []


def test_online_mode_without_an_api_key_is_one_config_error_line(tmp_path):
    run_dir = tmp_path / "run"
    result = train(
        "logger=wandb",
        "logger.wandb.mode=online",
        *SMOKE,
        f"hydra.run.dir={run_dir}",
        env=no_credentials(tmp_path),
    )
    output = result.stdout + result.stderr
    lines = [line for line in output.splitlines() if line.strip()]
    assert result.returncode == 2, output[-3000:]
    assert len(lines) <= 3, output[-3000:]
    assert "Traceback" not in output
    (error,) = [line for line in lines if "[ERROR]" in line]
    assert "logger.wandb.mode=online" in error and "no WANDB_API_KEY" in error  # the key and the cause ...
    assert "wandb login" in error and "logger.wandb.mode=offline" in error  # ... and the ways out
    # Refused at the logger's construction, before the run started: W&B never ran, no run was recorded.
    assert not (run_dir / "wandb").exists() and not (run_dir / "summary.json").exists()


NO_ROUTE = [(refusing_server, "Connection refused"), (silent_server, "no answer within 3 s")]


@pytest.mark.parametrize(("server", "cause"), NO_ROUTE, ids=["refused", "silent"])
def test_online_run_without_a_route_to_the_server_falls_back_to_offline_and_trains(tmp_path, server, cause):
    run_dir = tmp_path / "run"
    args = ("logger=[csv,wandb]", "logger.wandb.mode=online", "logger.wandb.log_model=true", *SMOKE)
    with server() as url:
        env = no_credentials(tmp_path) | {"WANDB_API_KEY": DUMMY_KEY, "WANDB_BASE_URL": url}
        start = time.monotonic()
        result = train(*args, f"hydra.run.dir={run_dir}", env=env, timeout=120)
        elapsed = time.monotonic() - start
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert elapsed < 60, f"{elapsed:.0f} s"  # a hang guard only
    (notice,) = [line for line in output.splitlines() if "W&B: cannot log online to" in line]
    assert "WARNING" in notice and f"{url} ({cause})" in notice
    assert f"wandb sync {run_dir}/wandb/offline-run-*" in notice
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"
    assert not list(run_dir.glob("wandb/run-*"))  # no online attempt: the probe failed first
    (run_file,) = offline_runs(run_dir)
    records = read_records(run_file)
    assert [h["item"]["progress/env_steps"] for h in records["history"]][-1] >= 2000
    assert any("last" in a["aliases"] for a in records["artifact"])
    assert {e.get("exit_code", 0) for e in records["exit"]} == {0}
    assert files_holding(tmp_path, DUMMY_KEY) == []
    assert DUMMY_KEY not in output


def test_a_failed_online_init_falls_back_to_offline_also_when_resuming(tmp_path):
    """A server that answers the probe and fails W&B's API calls: `wandb.init` gives up (here after
    WANDB_INIT_TIMEOUT=2 s, which the logger leaves to W&B) and the run goes on offline; resumed under the same
    server, it continues that offline run's id. W&B's account lookup and error report are switched off: they
    only add retries against the failing server."""
    run_dir = tmp_path / "run"
    with failing_server() as url:
        wandb_env = {"WANDB_API_KEY": DUMMY_KEY, "WANDB_BASE_URL": url, "WANDB_INIT_TIMEOUT": "2"}
        quick = {"WANDB__DISABLE_VIEWER": "true", "WANDB_ERROR_REPORTING": "false"}
        env = no_credentials(tmp_path) | wandb_env | quick
        start = time.monotonic()
        args = ("logger=wandb", "logger.wandb.mode=online", *SMOKE, f"hydra.run.dir={run_dir}")
        first = train(*args, env=env, timeout=120)
        elapsed = time.monotonic() - start
        assert first.returncode == 0, (first.stdout + first.stderr)[-3000:]
        assert elapsed < 60, f"{elapsed:.0f} s"  # a hang guard only
        (first_run,) = offline_runs(run_dir)
        resumed = train(f"resume={run_dir}", "total_env_steps=3000", env=env, timeout=120)
        assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-3000:]
    for result in (first, resumed):
        output = result.stdout + result.stderr
        (notice,) = [line for line in output.splitlines() if "W&B: cannot log online to" in line]
        assert url in notice and f"wandb sync {run_dir}/wandb/offline-run-*" in notice
        assert "API key" not in notice  # the online init failed for the server, not for the key's format
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"
    assert len(list(run_dir.glob("wandb/run-*"))) == 2  # the failed online attempts' dirs, with their logs
    (second_run,) = set(offline_runs(run_dir)) - {first_run}
    run_id = first_run.parent.name.rsplit("-", 1)[-1]
    assert second_run.parent.name.endswith(f"-{run_id}")  # the resumed run continues the first one's id
    assert [h["item"]["progress/env_steps"] for h in read_records(second_run)["history"]][-1] >= 3000
    assert files_holding(tmp_path, DUMMY_KEY) == []
