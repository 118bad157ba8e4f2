"""Learning tests: each algorithm reaches a return within an env-step budget at a fixed seed (CPU runs are
deterministic, so these are exact replays). No wall-clock bounds: speed is for scripts/ benchmarks."""

import pytest

from pglab.train import run

pytestmark = pytest.mark.slow


def test_ppo_default_solves_cartpole_within_100k_steps(make_cfg):
    # The default config, unchanged: `python train.py algo=ppo env=cartpole`.
    summary = run(make_cfg("algo=ppo", "env=cartpole", "seed=0", "logger=none"))
    assert summary["progress/env_steps"] <= 100_000 + 256
    assert summary["eval/episode_return_mean"] >= 475  # over 20 deterministic episodes


def test_a2c_solves_cartpole_within_500k_steps(make_cfg):
    summary = run(
        make_cfg(
            "algo=a2c",
            "env=cartpole",
            "seed=0",
            "logger=none",
            "total_env_steps=500_000",
            "callbacks.evaluation.stop_at_score=475",
        )
    )
    assert summary["progress/env_steps"] <= 500_000
    assert summary["eval/episode_return_mean"] >= 475


@pytest.mark.parametrize("algo", ["reinforce", "vpg"])
def test_monte_carlo_algorithms_reach_the_course_bar_within_300k_steps(make_cfg, algo):
    # Hugging Face Deep RL course, unit 4: mean - std >= 350 over 10 evaluation episodes.
    summary = run(
        make_cfg(
            f"algo={algo}",
            "env=cartpole",
            "seed=0",
            "logger=none",
            "total_env_steps=300_000",
            "callbacks.evaluation.episodes=10",
            "callbacks.evaluation.score=mean_minus_std",
            "callbacks.evaluation.stop_at_score=350",
        )
    )
    assert summary["progress/env_steps"] <= 300_000 + 8 * 500
    assert summary["eval/episode_return_mean"] - summary["eval/episode_return_std"] >= 350


def test_ppo_learns_pendulum_within_200k_steps(make_cfg):
    # Random play scores about -1200.
    summary = run(
        make_cfg(
            "experiment=ppo_pendulum", "seed=0", "logger=none", "callbacks.evaluation.stop_at_score=-400"
        )
    )
    assert summary["progress/env_steps"] <= 200_000 + 4096
    assert summary["eval/episode_return_mean"] >= -400
