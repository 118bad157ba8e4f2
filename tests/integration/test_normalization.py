"""Observation normalization and reward scaling: statistics, final observations, and their trip through
checkpoints into evaluation."""

import json

import numpy as np
import pytest
import torch

from pglab.envs.factory import make_vector_env
from pglab.envs.normalization import (
    NormalizeObservation,
    find_wrapper,
    load_normalization_state,
    normalization_state,
)
from pglab.train import run
from tests.cli import run_script


def counter_env(**kwargs):
    return make_vector_env(
        "pglab-test/Counter-v0", num_envs=2, max_episode_steps=3, normalize_obs=True, **kwargs
    )


def test_running_statistics_and_final_observations_use_the_same_normalization():
    env = counter_env()
    obs, _ = env.reset(seed=0)  # raw obs 0, 0
    seen = [[0.0, 0.0]]
    for t in range(1, 4):  # raw obs 1, 2, then the reset obs 0 after the 3-step time limit
        obs, _, terminated, truncated, infos = env.step(np.zeros(2, dtype=np.int64))
        seen.append([0.0, 0.0] if t == 3 else [float(t)] * 2)
    norm = find_wrapper(env, NormalizeObservation)
    values = np.array(seen).ravel()
    assert norm.obs_rms.mean[0] == pytest.approx(values.mean(), rel=1e-3)
    assert norm.obs_rms.var[0] == pytest.approx(values.var(), rel=1e-3)
    assert truncated.all()
    # The final observation (raw 3) is normalized with the statistics of this step, not left raw.
    expected = (3.0 - norm.obs_rms.mean[0]) / np.sqrt(norm.obs_rms.var[0] + 1e-8)
    assert infos["final_obs"][0][0] == pytest.approx(expected, rel=1e-5)
    assert obs[0][0] == pytest.approx(
        (0.0 - norm.obs_rms.mean[0]) / np.sqrt(norm.obs_rms.var[0] + 1e-8), rel=1e-5
    )


def test_statistics_survive_a_weights_only_checkpoint_and_evaluation_envs_freeze_them(tmp_path):
    train_env = counter_env(normalize_reward=True)
    train_env.reset(seed=0)
    for _ in range(7):
        train_env.step(np.zeros(2, dtype=np.int64))
    torch.save({"normalization": normalization_state(train_env)}, tmp_path / "state.pt")
    state = torch.load(tmp_path / "state.pt", weights_only=True)["normalization"]

    eval_env = counter_env(normalize_reward=True, evaluation=True)
    load_normalization_state(eval_env, state)
    before = normalization_state(eval_env)
    assert set(before) == {"obs_rms"}  # an evaluation env never scales rewards
    torch.testing.assert_close(before["obs_rms"]["mean"], normalization_state(train_env)["obs_rms"]["mean"])
    assert before["obs_rms"]["count"] == normalization_state(train_env)["obs_rms"]["count"]
    eval_env.reset(seed=1)
    _, rewards, _, _, _ = eval_env.step(np.zeros(2, dtype=np.int64))
    assert rewards.tolist() == [1.0, 1.0]  # raw rewards
    torch.testing.assert_close(
        normalization_state(eval_env)["obs_rms"]["mean"], before["obs_rms"]["mean"]
    )  # frozen

    # A training env resumed from the state continues the discounted return each sub-env has accumulated.
    resumed = counter_env(normalize_reward=True)
    load_normalization_state(resumed, state)
    torch.testing.assert_close(
        normalization_state(resumed)["accumulated_return"], state["accumulated_return"]
    )
    assert state["accumulated_return"].abs().min() > 0

    with pytest.raises(ValueError, match="has statistics but the env has no env.normalize_obs"):
        load_normalization_state(make_vector_env("pglab-test/Counter-v0", num_envs=2), state)


def test_evaluating_a_checkpoint_with_obs_normalization_reproduces_the_final_training_evaluation(
    make_cfg, tmp_path
):
    cfg = make_cfg(
        "env=pendulum",
        "env.normalize_obs=true",
        "env.normalize_reward=true",
        "debug=smoke",
        "total_env_steps=6000",
        "callbacks.evaluation.episodes=4",
        "logger=none",
    )
    summary = run(cfg)
    ckpt = tmp_path / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(ckpt, weights_only=True)
    stats = checkpoint["collector"]["normalization"]
    assert set(stats) == {"obs_rms", "return_rms", "accumulated_return"} and stats["obs_rms"]["count"] > 6000

    def evaluate(path):
        result = run_script("evaluate.py", f"ckpt_path={path}", "episodes=4")
        assert result.returncode == 0, result.stderr[-3000:]
        (json_path,) = path.parent.glob(f"{path.stem}-eval-*.json")
        return json.loads(json_path.read_text())["episode_return_mean"]

    assert evaluate(ckpt) == summary["eval/episode_return_mean"]
    # The statistics matter: the same weights with identity statistics play differently.
    checkpoint["collector"]["normalization"]["obs_rms"] = {
        "mean": torch.zeros(3, dtype=torch.float64),
        "var": torch.ones(3, dtype=torch.float64),
        "count": 1.0,
    }
    torch.save(checkpoint, tmp_path / "checkpoints" / "identity.ckpt")
    assert evaluate(tmp_path / "checkpoints" / "identity.ckpt") != summary["eval/episode_return_mean"]


def test_normalized_observations_and_scaled_rewards_are_clipped_to_ten():
    env = counter_env(normalize_reward=True)
    env.reset(seed=0)
    norm = find_wrapper(env, NormalizeObservation)
    state = normalization_state(env)
    tiny = {
        "mean": torch.zeros(1, dtype=torch.float64),
        "var": torch.full((1,), 1e-6, dtype=torch.float64),
        "count": 1e6,
    }
    load_normalization_state(env, {**state, "obs_rms": tiny, "return_rms": {**tiny, "mean": torch.zeros(())}})
    norm.update_running_mean = False
    obs, rewards, _, _, _ = env.step(np.zeros(2, dtype=np.int64))  # raw obs 1, raw reward 1: about 1000 each
    assert obs.tolist() == [[10.0], [10.0]] and rewards.max() <= 10.0 and rewards.min() > 9.0
    assert env.single_observation_space.high.tolist() == [10.0]
