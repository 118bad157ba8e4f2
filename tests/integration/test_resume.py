"""Exact resume: N env steps, stop, resume to 2N gives the same weights, optimizer state, counters and
metrics as 2N straight (CPU, fixed seed), for envs whose state pglab snapshots and with normalization on."""

import csv
import signal

import pytest
import torch
from omegaconf import open_dict

from pglab.errors import ConfigError
from pglab.train import run

CASES = {
    # PPO on CartPole: 8 envs x 32 steps = 256 per rollout; N = 20 rollouts.
    "ppo-cartpole": (["algo=ppo", "env=cartpole"], 5120),
    # A2C on Pendulum with observation normalization and reward scaling: 4 envs x 5 steps = 20 per rollout.
    "a2c-pendulum-normalized": (
        ["algo=a2c", "env=pendulum", "env.num_envs=4", "env.normalize_obs=true", "env.normalize_reward=true"],
        1500,
    ),
    # MuJoCo: the simulator's integration state continues mid-episode (2 envs x 64 steps = 128 per rollout).
    "ppo-hopper-normalized": (
        [
            "algo=ppo",
            "env=hopper",
            "env.num_envs=2",
            "env.vectorization=sync",
            "algo.num_steps=64",
            "algo.num_minibatches=2",
            "algo.update_epochs=2",
        ],
        640,
    ),
    # PLE's Pong (a native env with snapshot()/restore(), which need a reset game: the checkpoint is loaded before
    # the first reset): mid-game paddles, ball, scores and PLE's RandomState continue.
    "ppo-pong-ple-normalized": (["algo=ppo", "env=pong_ple", "env.normalize_obs=true"], 5120),
    # REINFORCE: whole episodes, the env RNG streams continue across the stop.
    "reinforce-cartpole": (["algo=reinforce", "env=cartpole", "algo.episodes_per_rollout=4"], 3000),
    # The torch backend: the batched env's state tensors and episode counters continue, and so do its tensor
    # normalization statistics; REINFORCE's episode numbering continues too.
    "ppo-cartpole-torch": (["algo=ppo", "env=cartpole", "env.vectorization=torch", "env.num_envs=16"], 5120),
    "a2c-pendulum-torch-normalized": (
        [
            "algo=a2c",
            "env=pendulum",
            "env.vectorization=torch",
            "env.num_envs=4",
            "env.normalize_obs=true",
            "env.normalize_reward=true",
        ],
        1500,
    ),
    "reinforce-cartpole-torch": (
        ["algo=reinforce", "env=cartpole", "env.vectorization=torch", "algo.episodes_per_rollout=4"],
        3000,
    ),
}


def metrics_rows(run_dir):
    with open(run_dir / "csv" / "metrics.csv", newline="") as file:
        # time/ holds wall-clock seconds (wall_s, sps, seconds per phase), which differ between any two runs
        return [{k: v for k, v in row.items() if not k.startswith("time/")} for row in csv.DictReader(file)]


def assert_same_training_state(a, b):
    assert a["collector"]["env_steps"] == b["collector"]["env_steps"]
    assert a["collector"]["episodes"] == b["collector"]["episodes"]
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key in a["state_dict"]:
        assert torch.equal(a["state_dict"][key], b["state_dict"][key]), key  # bit for bit
    for opt_a, opt_b in zip(a["optimizer_states"], b["optimizer_states"], strict=True):
        for param, state in opt_a["state"].items():
            for name, value in state.items():
                assert torch.equal(torch.as_tensor(value), torch.as_tensor(opt_b["state"][param][name])), name
    norm_a, norm_b = a["collector"]["normalization"], b["collector"]["normalization"]
    assert norm_a.keys() == norm_b.keys()
    for stats in norm_a:
        for name, value in (
            norm_a[stats].items() if isinstance(norm_a[stats], dict) else [("", norm_a[stats])]
        ):
            other = norm_b[stats][name] if name else norm_b[stats]
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(other)), (stats, name)


@pytest.mark.parametrize("case", list(CASES))
def test_stop_at_n_and_resume_to_2n_equals_2n_straight(make_cfg, tmp_path, case):
    overrides, n = CASES[case]
    common = [
        *overrides,
        "seed=3",
        f"total_env_steps={2 * n}",
        "logger=csv",
        "callbacks.evaluation.episodes=3",
        f"callbacks.evaluation.every_env_steps={n // 2}",
        f"callbacks.checkpoint.every_env_steps={n}",
    ]
    straight = run(make_cfg(*common, output_dir=tmp_path / "straight"))

    # Stopped as by SIGINT at N (tests.fakes.StopAt), then `resume=<run dir>` continues it in place.
    cfg = make_cfg(*common, output_dir=tmp_path / "stopped")
    with open_dict(cfg):
        cfg.callbacks.stop = {"_target_": "tests.fakes.StopAt", "env_steps": n}
    first = run(cfg)
    assert first["status"] == "interrupted" and n <= first["progress/env_steps"] < 2 * n
    resumed = run(make_cfg(f"resume={tmp_path / 'stopped'}"))

    assert resumed["status"] == "completed"
    assert resumed["eval/episode_return_mean"] == straight["eval/episode_return_mean"]
    assert resumed["progress/env_steps"] == straight["progress/env_steps"]
    a = torch.load(tmp_path / "straight" / "checkpoints" / "last.ckpt", weights_only=True)
    b = torch.load(tmp_path / "stopped" / "checkpoints" / "last.ckpt", weights_only=True)
    assert_same_training_state(a, b)
    # One CSV curve: the resumed run appended after the stop, no gap, no duplicate step.
    assert metrics_rows(tmp_path / "stopped") == metrics_rows(tmp_path / "straight")


def test_a_periodic_checkpoint_loaded_with_ckpt_path_continues_exactly(make_cfg, tmp_path):
    overrides, n = CASES["ppo-cartpole"]
    common = [
        *overrides,
        "seed=1",
        f"total_env_steps={2 * n}",
        "logger=none",
        f"callbacks.checkpoint.every_env_steps={n}",
    ]
    cfg = make_cfg(*common, output_dir=tmp_path / "straight")
    with open_dict(cfg):
        cfg.callbacks.keep = {
            "_target_": "tests.fakes.KeepCheckpoint",
            "dirpath": str(tmp_path / "straight" / "checkpoints"),
        }
    run(cfg)
    periodic = tmp_path / "straight" / "checkpoints" / f"{n}.ckpt"
    assert torch.load(periodic, weights_only=True)["collector"]["env_steps"] == n

    run(make_cfg(*common, f"ckpt_path={periodic}", output_dir=tmp_path / "continued"))
    assert_same_training_state(
        torch.load(tmp_path / "straight" / "checkpoints" / "last.ckpt", weights_only=True),
        torch.load(tmp_path / "continued" / "checkpoints" / "last.ckpt", weights_only=True),
    )


def test_resuming_a_run_at_its_budget_collects_nothing_and_a_refused_resume_changes_nothing(
    make_cfg, tmp_path
):
    sigint, sigterm = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    done = run(
        make_cfg(
            "total_env_steps=512",
            "logger=csv",
            "callbacks.evaluation.episodes=2",
            output_dir=tmp_path / "run",
        )
    )
    # StopOnSignals put back the handlers found before training (not Lightning's, which it restores itself).
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == (sigint, sigterm)
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    saved, summary = last.read_bytes(), (tmp_path / "run" / "summary.json").read_text()

    again = run(make_cfg(f"resume={tmp_path / 'run'}"))
    assert again["progress/env_steps"] == done["progress/env_steps"] == 512  # no extra rollout collected
    assert torch.load(last, weights_only=True)["collector"]["env_steps"] == 512

    summary = (tmp_path / "run" / "summary.json").read_text()
    saved = last.read_bytes()
    with pytest.raises(ConfigError, match=r"algo.lr=-1.0 is out of range"):
        run(make_cfg(f"resume={tmp_path / 'run'}"), overrides=["algo.lr=-1.0"])
    assert (tmp_path / "run" / "summary.json").read_text() == summary
    assert last.read_bytes() == saved


def test_a_resume_with_another_optimizer_is_refused_naming_the_key(make_cfg, tmp_path):
    run(
        make_cfg("algo=a2c", "total_env_steps=400", "logger=csv", output_dir=tmp_path / "run"),
        ["algo=a2c", "total_env_steps=400"],
    )
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    saved, summary = last.read_bytes(), (tmp_path / "run" / "summary.json").read_text()
    with pytest.raises(ConfigError, match=r"algo.optimizer: checkpoint 'rmsprop', this run 'adam'"):
        run(make_cfg(f"resume={tmp_path / 'run'}"), overrides=["algo.optimizer=adam"])
    assert (tmp_path / "run" / "summary.json").read_text() == summary
    assert last.read_bytes() == saved
