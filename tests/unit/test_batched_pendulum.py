"""Batched Pendulum-v1 against gymnasium's (tests/batched_checks.py): bit-exact observations and float64 rewards,
including the libm `sin` / `cos` / `pow` paths that pendulum.py takes instead of torch's vectorized ones."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from pglab.envs.batched import make_batched_env
from pglab.envs.batched.libm import cos_sin, libm_pow
from pglab.envs.batched.pendulum import Pendulum
from tests.batched_checks import check_episode_statistics, check_one_step, check_trajectories


def random_state(rng: np.random.Generator, env) -> None:
    # angles up to many turns either way (the state's angle is not normalized) and exact multiples of pi (the
    # remainder's edges); speeds beyond max_speed 8 on both sides, close to it and exactly at it
    kind = rng.integers(6)
    if kind == 0:
        th = rng.uniform(-100.0, 100.0)
    elif kind == 1:
        th = rng.integers(-6, 7) * np.pi
    else:
        th = rng.uniform(-3 * np.pi, 3 * np.pi)
    if kind == 2:
        thdot = rng.choice([-8.0, 8.0]) + rng.uniform(-1e-3, 1e-3)
    elif kind == 3:
        thdot = float(rng.choice([-8.0, 8.0, 0.0]))
    else:
        thdot = rng.uniform(-10.0, 10.0)
    env.state = np.array([th, thdot])


def test_one_step_from_random_states_matches_gymnasium():
    # the actions are uniform in [-3, 3], so a third of them are clipped
    check_one_step(Pendulum, random_state, count=12_000)


def test_one_step_gives_gymnasiums_float64_state_and_clipped_torque():
    # finer than the float32 observations check_one_step compares: a 1-ulp difference of sin(th) shows here
    rng = np.random.default_rng(2)
    original = gym.make("Pendulum-v1").unwrapped
    original.reset(seed=0)
    env = Pendulum(1)
    rows, expected, actions = [], [], []
    for _ in range(12_000):
        random_state(rng, original)
        rows.append(env.read_from(original))
        actions.append(rng.uniform(-3.0, 3.0, 1).astype(np.float32))
        original.step(actions[-1])
        expected.append((original.state.copy(), original.last_u))
    state = {key: torch.stack([row[key] for row in rows]) for key in rows[0]}
    next_state, _, _ = env.dynamics(state, torch.as_tensor(np.array(actions)))
    assert np.array_equal(next_state["x"].numpy(), np.array([x for x, _ in expected]))
    assert np.array_equal(next_state["last_u"].numpy(), np.array([u for _, u in expected], dtype=np.float32))


def test_one_step_with_another_gravity_matches_gymnasium():
    check_one_step(lambda n: Pendulum(n, g=9.81), random_state, count=2_000, seed=1, g=9.81)


def test_trajectories_match_gymnasium_through_truncations_and_resets():
    # random torques for 5,000 steps: 25 episodes of 200 steps (never terminated) in each of the 16 sub-envs
    counts = check_trajectories(Pendulum, steps=5_000, num_envs=16)
    assert counts == {"terminated": 0, "truncated": 400, "steps": 80_000}
    counts = check_trajectories(
        lambda n: Pendulum(n, max_episode_steps=7, g=9.81), steps=100, num_envs=16, g=9.81
    )
    assert counts["truncated"] == 16 * 14


def test_random_policy_episode_statistics_match_gymnasium():
    # gymnasium's side steps 100 envs at a time in Python: a 50-step time limit (not 200) keeps it to about 2 s;
    # with no terminations every length is the limit, so the returns are what this compares
    result = check_episode_statistics(lambda n: Pendulum(n, max_episode_steps=50), episodes=2_000)
    assert result["length"] == (50.0, 50.0)
    assert -400 < result["return"][0] < -200  # about -6 a step: a random torque cannot swing the pendulum up


def test_the_libm_paths_differ_from_torchs_vectorized_functions_and_equal_numpy():
    # why pendulum.py takes these paths: on this many inputs torch.sin / cos / pow(x, 2) of float64 and pow of
    # float32 differ from libm (numpy) on some, and the libm paths on none
    rng = np.random.default_rng(0)
    x = rng.uniform(-90.0, 90.0, 20_000)
    t = torch.from_numpy(x)
    cos, sin = cos_sin(t)
    assert np.array_equal(sin.numpy(), np.sin(x)) and np.array_equal(cos.numpy(), np.cos(x))
    squares = np.array([np.float64(v) ** 2 for v in x])
    assert np.array_equal(libm_pow(t, 2.0).numpy(), squares)
    u = rng.uniform(-2.0, 2.0, 20_000).astype(np.float32)
    assert np.array_equal(libm_pow(torch.from_numpy(u), 2.0).numpy(), np.array([v**2 for v in u]))
    assert not np.array_equal(torch.sin(t).numpy(), np.sin(x))  # about 0.2% differ by 1 ulp
    assert not np.array_equal((t * t).numpy(), squares)  # libm's pow(x, 2) is not x * x on about 0.1%


def test_spaces_options_and_registry_are_gymnasiums():
    original = gym.make("Pendulum-v1", g=9.81)
    env = make_batched_env("Pendulum-v1", 4, g=9.81)
    assert (
        isinstance(env, Pendulum)
        and env.g == 9.81
        and env.max_episode_steps == original.spec.max_episode_steps
    )
    assert env.single_observation_space == original.observation_space
    assert env.single_action_space == original.action_space
    obs, _ = env.reset(seed=0)
    assert (
        obs.dtype == torch.float32
        and obs.shape == (4, 3)
        and all(env.single_observation_space.contains(o.numpy()) for o in obs)
    )
    _, rewards, terminated, truncated, _ = env.step(torch.full((4, 1), 5.0))
    assert rewards.dtype == torch.float64 and not terminated.any() and not truncated.any()
    assert env.state["last_u"].tolist() == [2.0] * 4  # clipped


def test_infos_report_final_observations_and_episode_returns_as_gymnasium_does():
    env = Pendulum(8, max_episode_steps=5)
    env.reset(seed=0)
    total = torch.zeros(8, dtype=torch.float64)
    for _ in range(4):
        _, rewards, _, truncated, infos = env.step(torch.zeros(8, 1))
        total += rewards
        assert not truncated.any() and not infos["_episode"].any()
    obs, rewards, terminated, truncated, infos = env.step(torch.zeros(8, 1))
    assert truncated.all() and not terminated.any()
    assert torch.equal(infos["episode"]["r"], total + rewards) and infos["episode"]["l"].tolist() == [5] * 8
    assert (
        not torch.equal(infos["final_obs"], obs) and (obs[:, 2].abs() <= 1).all()
    )  # the next episodes' starts
    assert env.state["last_u"].isnan().all()  # as gymnasium's last_u is None after a reset


def test_frames_are_gymnasiums_torque_arrow_included():
    original = gym.make("Pendulum-v1", render_mode="rgb_array").unwrapped
    original.reset(seed=3)
    env = Pendulum(1, render_mode="rgb_array")
    env.reset(seed=0)
    for action in (None, np.array([1.5], dtype=np.float32), np.array([-0.7], dtype=np.float32)):
        if action is not None:
            original.step(action)
        state = env.read_from(original)
        assert np.array_equal(env.render_state(state), original.render())
    env.close()
    original.close()


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_the_same_start_states_on_every_device_and_close_dynamics(device):
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU: torch.cuda.is_available() is False")
    cpu, other = Pendulum(256), Pendulum(256, device=device)
    cpu_obs, _ = cpu.reset(seed=5)
    other_obs, _ = other.reset(seed=5)
    assert torch.equal(cpu.state["x"], other.state["x"].cpu()) and other_obs.device.type == device
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):  # cuda's sin and pow may round differently from libm's (pendulum.py's docstring)
        actions = 6 * torch.rand((256, 1), generator=generator) - 3
        cpu_obs, cpu_rewards, *_ = cpu.step(actions)
        other_obs, other_rewards, *_ = other.step(actions.to(device))
        torch.testing.assert_close(other_obs.cpu(), cpu_obs, rtol=0, atol=1e-5)
        torch.testing.assert_close(other_rewards.cpu(), cpu_rewards, rtol=0, atol=1e-9)
    assert math.isfinite(float(cpu_rewards.sum()))
