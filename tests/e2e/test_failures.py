"""Clean failures, as a user meets them: every bad input is one short error, a non-zero exit, and nothing written;
no hang after an error; one process per run dir; a quiet console. Real processes throughout."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from tests.cli import train
from tests.conftest import ROOT

QUIET = ("callbacks.progress.refresh_every_env_steps=1000000000",)
CONFIG_ERROR_MAX_LINES = 3
# A former hang (an error raised while async env workers were alive) must exit this soon after it starts: the error
# comes from the config check, before any worker starts.
EXITS_WITHIN_S = 20


def no_wandb_credentials(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    return env | {"NETRC": str(tmp_path / "no-netrc"), "WANDB_CONFIG_DIR": str(tmp_path / "wandb-config")}


def lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]


# (command-line arguments, what the one error line says, whether it once hung)
CONFIG_ERRORS = [
    (["env=pong", "network=mlp"], "network=mlp needs a flat (1-D Box) observation space", True),
    (["env.vectorization=async", "algo.lr=-1"], "algo.lr=-1 is out of range: allowed (0.0, inf]", True),
    (
        ["logger=wandb", "logger.wandb.mode=online", "env.vectorization=async"],
        "logger.wandb.mode=online",
        True,
    ),
    (["seed=abc"], "seed='abc' is not a number: allowed integers in [0, 4294967295]", False),
    (["seed=-1"], "seed=-1 is out of range: allowed integers in [0, 4294967295]", False),
    (["seed=1.5"], "seed=1.5 is not a whole number: allowed integers in [0, 4294967295]", False),
    (["torch_threads=0"], "torch_threads=0 is out of range: allowed integers in [1, inf] or null", False),
    (
        ["total_env_steps=1.5"],
        "total_env_steps=1.5 is not a whole number: allowed integers in [1, inf]",
        False,
    ),
    (["total_env_steps=0"], "total_env_steps=0 is out of range: allowed integers in [1, inf]", False),
    (["algo.num_steps=abc"], "algo.num_steps='abc' is not a number: allowed integers in [1, inf]", False),
    (["algo.gamma=1.5"], "algo.gamma=1.5 is out of range: allowed (0.0, 1.0]", False),
    (["algo.lrr=1"], "algo.lrr is not a key of algo; its keys: _partial_, _target_, anneal_lr,", False),
    (["env.num_envs=0"], "env.num_envs=0 is out of range: allowed integers in [1, inf]", False),
    (
        ["env.vectorization=threads"],
        "env.vectorization='threads' is not supported; choose one of ['async', 'sync', 'torch']",
        False,
    ),
    (
        ["env.id=CartPol-v1"],
        "env.id='CartPol-v1' is not a registered gymnasium environment; did you mean CartPole-v1",
        False,
    ),
    (
        ["+env.kwargs.foo=1"],
        "env.id='CartPole-v1' with env.kwargs={'foo': 1} cannot be made: TypeError",
        False,
    ),
    (
        ["on_nonfinite=ignore"],
        "on_nonfinite='ignore' is not supported; choose one of ['stop', 'skip']",
        False,
    ),
    (["trainer.strategy=bogus"], "trainer: ValueError: You selected an invalid strategy name", False),
    (["callbacks.checkpoint.mode=best"], "callbacks.checkpoint.mode='best' is not supported", False),
    (["ckpt_path=missing/last.ckpt"], "ckpt_path=missing/last.ckpt does not exist", False),
    (["env=gym"], "env.id must be set: it has no default (e.g. env=gym env.id=CartPole-v1)", False),
    (
        ["+algo.foo=1"],
        "algo.foo is not a hyperparameter of pglab.algos.ppo.PPO; its hyperparameters: anneal_lr, clip_coef,",
        False,
    ),
    (
        ["+callbacks.evaluation.foo=1"],
        "callbacks.evaluation.foo is not an argument of pglab.callbacks.PeriodicEvaluation",
        False,
    ),
    (
        ["trainer.max_epochs=1.5"],
        "trainer.max_epochs=1.5 is not a whole number: allowed integers or null",
        False,
    ),
]


@pytest.mark.parametrize(
    ("args", "message", "hung"), CONFIG_ERRORS, ids=[" ".join(c[0]) for c in CONFIG_ERRORS]
)
def test_a_config_error_is_one_short_message_and_writes_nothing(tmp_path, args, message, hung):
    run_dir = tmp_path / "run"
    started = time.monotonic()
    result = train(*args, f"hydra.run.dir={run_dir}", env=no_wandb_credentials(tmp_path), timeout=120)
    elapsed = time.monotonic() - started
    output = lines(result)
    assert result.returncode == 2, result.stderr[-3000:]
    assert len(output) <= CONFIG_ERROR_MAX_LINES, output
    assert any(line.startswith("[pglab][ERROR] - ") and message in line for line in output), output
    assert "Traceback" not in result.stdout + result.stderr
    assert (
        not run_dir.exists()
    )  # Hydra's .hydra/ and train.log included: the config is checked before it writes
    if hung:
        assert elapsed < EXITS_WITHIN_S


def test_a_run_refused_in_a_used_dir_leaves_it_untouched_and_names_the_way_out(tmp_path):
    run_dir = tmp_path / "run"
    assert train("debug=smoke", *QUIET, f"hydra.run.dir={run_dir}").returncode == 0
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    for args in (["seed=5"], ["seed=abc"]):  # a valid and an invalid command: both refused, nothing touched
        result = train("debug=smoke", *args, f"hydra.run.dir={run_dir}")
        assert result.returncode == 2 and len(lines(result)) <= CONFIG_ERROR_MAX_LINES, result.stderr[-3000:]
        assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before
    assert f"continue that run with resume={run_dir}" in result.stderr or "seed='abc'" in result.stderr
    for args in (
        ["+algo.foo=1"],
        ["algo.lr=-1"],
        ["env.num_envs=4"],
    ):  # refused resumes change no file either
        result = train(f"resume={run_dir}", *args)
        assert result.returncode == 2 and len(lines(result)) <= CONFIG_ERROR_MAX_LINES, result.stderr[-3000:]
        assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before


def test_whole_number_floats_are_accepted_for_integer_keys(tmp_path):
    run_dir = tmp_path / "run"
    result = train(
        "debug=smoke",
        *QUIET,
        "total_env_steps=2e3",
        "env.num_envs=2.0",
        "algo.num_steps=3.2e1",
        "callbacks.evaluation.every_env_steps=1e3",
        f"hydra.run.dir={run_dir}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert (config["total_env_steps"], config["env"]["num_envs"], config["algo"]["num_steps"]) == (
        2000,
        2,
        32,
    )
    assert json.loads((run_dir / "summary.json").read_text())["progress/env_steps"] == 2048


def test_a_run_that_failed_before_its_first_update_is_no_dead_end(tmp_path):
    # What a run that failed before its first update leaves (run() writes it so): no checkpoint, 0 env steps.
    run_dir = tmp_path / "run"
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / "config.yaml").write_text("seed: 0\n")
    failed = {"status": "failed", "error": "RuntimeError: env worker died", "progress/env_steps": 0}
    (run_dir / "summary.json").write_text(json.dumps(failed))
    result = train("debug=smoke", *QUIET, f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"
    # Stopped (Ctrl-C, a kill) after writing its config but before its first update: nothing to keep either.
    stopped = tmp_path / "stopped"
    (stopped / ".hydra").mkdir(parents=True)
    (stopped / "config.yaml").write_text("seed: 0\n")
    assert train("debug=smoke", *QUIET, f"hydra.run.dir={stopped}").returncode == 0
    # One that logged metrics before it failed is a run to keep; the message gives the way out that works for it.
    other = tmp_path / "other"
    (other / "csv").mkdir(parents=True)
    (other / "config.yaml").write_text("seed: 0\n")
    (other / "csv" / "metrics.csv").write_text("rollout/episodes,step\n3,4096\n")
    (other / "summary.json").write_text(json.dumps(failed | {"progress/env_steps": 4096}))
    result = train("debug=smoke", *QUIET, f"hydra.run.dir={other}")
    assert result.returncode == 2
    assert (
        f"It has no checkpoints/last.ckpt to resume from: choose a new dir, or delete that one (rm -r {other})"
        in result.stderr
    )


def start_training(run_dir, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), *QUIET, *args, f"hydra.run.dir={run_dir}"],
        cwd=ROOT,
        env={**os.environ, "HYDRA_FULL_ERROR": "0"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(path, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)


def test_a_second_process_on_a_run_dir_is_refused_and_writes_nothing(tmp_path):
    run_dir = tmp_path / "run"
    first = start_training(run_dir, "debug=smoke", "total_env_steps=100000000")
    try:
        wait_for(run_dir / "config.yaml", first)  # written under the lock, once the first run has started
        second = train("debug=smoke", "seed=7", f"hydra.run.dir={run_dir}")
        assert first.poll() is None  # still training: the second process met a live run
        first.send_signal(signal.SIGINT)  # the first run stops, checkpoints and writes its summary
        _, stderr = first.communicate(timeout=120)
    finally:
        first.kill()
    assert second.returncode == 2
    assert len(lines(second)) <= CONFIG_ERROR_MAX_LINES
    assert f"hydra.run.dir={run_dir} is in use by another pglab process" in second.stderr
    assert first.returncode == 130, stderr[-3000:]
    # Everything in the dir is the first run's: its seed, its summary, each CSV step once.
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["seed"] == 0
    assert "seed=7" not in (run_dir / ".hydra" / "overrides.yaml").read_text()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["progress/env_steps"] > 0
    with open(run_dir / "csv" / "metrics.csv", newline="") as file:
        steps = [int(float(row["step"])) for row in csv.DictReader(file) if row.get("rollout/episodes")]
    assert steps == list(range(64, steps[-1] + 1, 64))  # debug=smoke: 2 envs x 32 steps per rollout


def test_a_lock_left_by_a_killed_run_does_not_block_the_next_run(tmp_path):
    run_dir = tmp_path / "run"
    process = start_training(
        run_dir, "debug=smoke", "total_env_steps=1000000", "callbacks.checkpoint.every_env_steps=500"
    )
    try:
        wait_for(run_dir / "checkpoints" / "last.ckpt", process)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        process.kill()
    assert (run_dir / ".pglab.lock").exists()
    result = train(f"resume={run_dir}", "total_env_steps=3000", *QUIET)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"


def test_env_pong_brings_the_cnn_and_trains(tmp_path):
    run_dir = tmp_path / "run"
    # `python train.py env=pong` as a user types it, for time with one rollout (8 envs x 128 steps) and two evaluation
    # episodes instead of 20, cut at 250 agent steps (a Pong game is 800-4000).
    result = train(
        "env=pong",
        "total_env_steps=1024",
        "env.max_episode_steps=250",
        "callbacks.evaluation.episodes=2",
        *QUIET,
        f"hydra.run.dir={run_dir}",
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["network"]["trunk"] == "cnn" and config["env"]["id"] == "ALE/Pong-v5"
    assert json.loads((run_dir / "summary.json").read_text())["progress/env_steps"] == 1024


NOISE = ("litlogger", "deprecated", "FLOPs", "XDG_RUNTIME_DIR", "GPU available", "TPU available", "Traceback")


def test_a_default_run_prints_each_line_once_and_no_library_noise(tmp_path):
    run_dir = tmp_path / "run"
    # The default config with a small budget, and a video evaluation (pygame renders it); a fresh interpreter, so
    # that what the libraries print when imported is seen too.
    result = train(
        "total_env_steps=3000",
        "callbacks.evaluation.every_env_steps=1500",
        "callbacks.evaluation.episodes=2",
        "callbacks.evaluation.video_every=1",
        f"hydra.run.dir={run_dir}",
        fresh=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    console = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    # The progress bar redraws itself with carriage returns; what is left are pglab's log lines.
    logged = [line for line in console if "env steps:" not in line]
    log_file = [line.split(" - ", 1)[1] for line in (run_dir / "train.log").read_text().splitlines()]
    for stream in (logged, log_file):
        assert len(stream) == len(set(stream)), stream
        assert not [line for line in stream if any(word in line for word in NOISE)], stream
    assert not [line for line in console if any(word in line for word in NOISE)]
    messages = [line.split(" - ", 1)[1] for line in logged]
    evaluations = [line for line in log_file if line.startswith("Evaluation at ")]
    assert len(evaluations) == 2 and evaluations[-1].endswith("(final)")
    assert [line for line in log_file if not line.startswith("Evaluation at ")] == messages  # the same lines
    assert list((run_dir / "videos").glob("*.mp4"))


def test_ctrl_c_during_the_imports_exits_130_quietly(tmp_path):
    process = start_training(tmp_path / "run", "debug=smoke")
    time.sleep(1.0)  # a fresh interpreter spends several seconds importing torch and lightning
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, (stdout + stderr)[-3000:]
    assert "Traceback" not in stdout + stderr and "KeyboardInterrupt" not in stdout + stderr


def test_a_sweep_dir_whose_jobs_all_failed_their_config_check_can_be_used_again(tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = train("-m", "debug=smoke", *QUIET, "algo.gamma=1.5,2.5,3.5", f"hydra.sweep.dir={sweep_dir}")
    assert result.returncode == 1  # every job failed, and the sweep summary says so
    assert "3 jobs (3 failed)" in result.stdout + result.stderr
    result = train("-m", "debug=smoke", *QUIET, "algo.gamma=0.9,0.99", f"hydra.sweep.dir={sweep_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in sweep_dir.iterdir() if p.is_dir()) == ["0", "1"]  # the old job 2 is gone
    assert "2 jobs (0 failed)" in result.stdout + result.stderr


def test_an_async_env_left_open_does_not_hang_the_exit():
    # Its workers ignore SIGTERM (so a terminal's Ctrl-C cannot kill them mid-update); multiprocessing's exit
    # handler would SIGTERM them and wait forever. pglab's exit handler SIGKILLs them first.
    script = (
        "from pglab.envs.factory import make_vector_env\n"
        "env = make_vector_env('CartPole-v1', num_envs=2, vectorization='async')\n"
        "raise SystemExit(3)\n"
    )
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 3, result.stderr[-3000:]
    assert time.monotonic() - started < EXITS_WITHIN_S


def test_ctrl_c_during_the_first_rollout_stops_after_it_with_a_checkpoint(tmp_path):
    run_dir, log = tmp_path / "run", tmp_path / "output.txt"
    # REINFORCE's first rollout of 5,000 CartPole episodes (about 110k steps) takes several seconds, all of it before
    # Lightning's on_train_start; the signal is sent 2 s after the run logged its start, inside that rollout.
    args = ["algo=reinforce", "algo.episodes_per_rollout=5000", "total_env_steps=100000000", *QUIET]
    with open(log, "w") as output:
        process = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *args, f"hydra.run.dir={run_dir}"],
                                   cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while "Training for" not in log.read_text():
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.05)
            time.sleep(2.0)
            process.send_signal(signal.SIGINT)
            process.wait(timeout=120)
        finally:
            process.kill()
    assert process.returncode == 130, log.read_text()[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["progress/env_steps"] >= 50_000  # one whole rollout
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
