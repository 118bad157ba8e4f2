"""Batched Acrobot-v1 against gymnasium's (tests/batched_checks.py), and the libm / numpy functions it reproduces."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from pglab.envs.batched import make_batched_env
from pglab.envs.batched.acrobot import (
    MAX_VEL_1,
    MAX_VEL_2,
    Acrobot,
    _cos_sin,
    _libm_pow2,
    _numpy_cos_sin_f32,
)
from tests.batched_checks import check_episode_statistics, check_one_step, check_trajectories

PI = math.pi
LOW = np.array([-PI, -PI, -MAX_VEL_1, -MAX_VEL_2])


def near_terminal(rng: np.random.Generator) -> np.ndarray:
    """A state whose tip height -cos(th1) - cos(th1 + th2) is within 0.05 of the target 1.0, moving slowly (so the
    step ends on either side of it)."""
    theta1 = rng.uniform(0.6, 2 * PI - 0.6)  # -cos(th1) > -0.8: the target is reachable
    tip = np.clip(-1.0 - math.cos(theta1) + rng.uniform(-0.05, 0.05), -1.0, 1.0)  # cos(th1 + th2)
    theta2 = rng.choice([-1, 1]) * math.acos(tip) - theta1
    angles = (np.array([theta1, theta2]) + PI) % (2 * PI) - PI
    return np.concatenate([angles, rng.uniform(-0.5, 0.5, 2)])


def random_state(rng: np.random.Generator, env) -> None:
    kind = rng.integers(4)
    if kind == 0:  # anywhere: every angle, every velocity within the bounds
        state = rng.uniform(LOW, -LOW)
    elif kind == 1:  # fast: velocities at or near their bounds (angles wrap several turns, bounds clip)
        state = rng.uniform(LOW, -LOW)
        state[2:] = rng.choice([-1, 1], 2) * -LOW[2:] * rng.choice([1.0, rng.uniform(0.8, 1.0)], 2)
    elif kind == 2:
        state = near_terminal(rng)
    else:  # a start state, float32 as reset leaves it
        state = rng.uniform(-0.1, 0.1, 4).astype(np.float32)
    env.state = state


def test_the_random_states_cover_terminations_and_the_velocity_bounds():
    rng = np.random.default_rng(0)
    env = gym.make("Acrobot-v1").unwrapped
    env.reset(seed=0)
    terminated, clipped = 0, 0
    for _ in range(1_000):
        random_state(rng, env)
        _, _, term, _, _ = env.step(int(rng.integers(3)))
        terminated += term
        clipped += abs(env.state[2]) == MAX_VEL_1 or abs(env.state[3]) == MAX_VEL_2
    assert 80 < terminated < 250 and clipped > 50


def test_one_step_from_random_states_matches_gymnasium():
    check_one_step(Acrobot, random_state, count=10_000)


def test_trajectories_match_gymnasium_through_terminations_truncations_and_resets():
    # random actions for 5,000 steps (about ten 500-step episodes per sub-env; the chaotic double pendulum leaves a
    # trajectory within a few hundred steps after a single 1-ulp difference, see test_the_libm_functions...)
    counts = check_trajectories(Acrobot, steps=5_000, num_envs=16)
    assert counts["steps"] == 80_000 and counts["truncated"] > 100 and counts["terminated"] > 0


def test_random_policy_episode_statistics_match_gymnasium():
    # A random policy almost never swings the tip up within 500 steps (1.6% of episodes, the earliest after about
    # 240 steps), and gymnasium's side of 2,000 such episodes (1M Python steps) would take about a minute here. So
    # this check runs with a 100-step limit: all episodes of both are truncated (length 100, return -100), which
    # checks the time limit, the reward and that no start state terminates early, not the dynamics (the exact
    # one-step and trajectory checks above do that); test_start_states_match_gymnasiums_distribution checks the
    # starts.
    result = check_episode_statistics(lambda n: Acrobot(n, max_episode_steps=100), episodes=2_000)
    assert result["length"] == (100.0, 100.0) and result["return"] == (-100.0, -100.0)


def test_start_states_match_gymnasiums_distribution():
    # the random streams differ by design; the law is the same: uniform in [-0.1, 0.1], rounded to float32
    env = Acrobot(4_000)
    env.reset(seed=0)
    ours = env.state["x"].numpy()
    original = gym.make("Acrobot-v1").unwrapped
    theirs = []
    for seed in range(4_000):
        original.reset(seed=seed)
        theirs.append(original.state)
    theirs = np.array(theirs)
    assert theirs.dtype == np.float32 and env.state["float32"].all()
    assert np.array_equal(ours.astype(np.float32), ours)  # float32 values, as gymnasium's
    assert ours.min() >= np.float32(-0.1) and ours.max() <= np.float32(0.1)
    stderr = np.sqrt(ours.var(0) / len(ours) + theirs.var(0) / len(theirs))
    assert (abs(ours.mean(0) - theirs.mean(0)) < 4 * stderr).all()
    uniform_var = 0.2**2 / 12
    assert (abs(ours.var(0) - uniform_var) < 0.1 * uniform_var).all()
    assert (abs(theirs.var(0) - uniform_var) < 0.1 * uniform_var).all()


def test_an_episodes_first_observation_is_gymnasiums_float32_one():
    # reset leaves a float32 state, whose observation is numpy's float32 cos / sin, not the float64 ones rounded
    original = gym.make("Acrobot-v1").unwrapped
    original.reset(seed=0)
    env = Acrobot(20_000)
    obs, _ = env.reset(seed=0)
    theirs = []
    for i in range(20_000):
        env.load_into(original, {key: value[i] for key, value in env.state.items()})
        assert original.state.dtype == np.float32
        theirs.append(original._get_ob())
    assert np.array_equal(obs.numpy(), np.array(theirs))
    angles = env.state["x"][:, :2]
    # what rounding the float64 cosine would give instead
    assert (torch.cos(angles).to(torch.float32) != obs[:, [0, 2]]).sum() > 10
    # and gymnasium's start states, read into the batched env
    rows, expected = [], []
    for seed in range(1_000):
        obs, _ = original.reset(seed=seed)
        rows.append(env.read_from(original))
        expected.append(obs)
    state = {key: torch.stack([row[key] for row in rows]) for key in rows[0]}
    assert state["float32"].all() and np.array_equal(env.observe(state).numpy(), np.array(expected))


def test_numpys_float32_cos_and_sin_are_reproduced_bit_for_bit():
    rng = np.random.default_rng(0)
    # the start angles; the 4 of them (found by an exhaustive search of [-0.1, 0.1]) where rounding the sine's last
    # fused multiply-add twice would differ; beyond, every quadrant of numpy's Cody-Waite reduction
    hard = np.array([0.000443632947281003, 0.008789073675870895], dtype=np.float32)
    x = np.concatenate([rng.uniform(-0.1, 0.1, 1_000_000), hard, -hard, rng.uniform(-4, 4, 200_000)]).astype(
        np.float32
    )
    cos, sin = _numpy_cos_sin_f32(torch.from_numpy(x).double())
    assert np.array_equal(cos.numpy().view(np.int32), np.cos(x).view(np.int32))
    assert np.array_equal(sin.numpy().view(np.int32), np.sin(x).view(np.int32))
    start = x[:1_000_000]
    rounded = np.cos(start.astype(np.float64)).astype(np.float32)
    assert (rounded != np.cos(start)).sum() > 100  # why: numpy's float32 cos is not the float64 one rounded


def test_the_libm_functions_are_libms_and_torchs_own_are_not():
    # gymnasium's sin, cos (numpy float64: libm) and x ** 2 (a numpy scalar's power: libm's pow, not x * x)
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-4 * PI, 4 * PI, 100_000), rng.uniform(-60, 60, 100_000)])
    cos, sin = _cos_sin(torch.from_numpy(x).reshape(-1, 4))
    assert cos.flatten().tolist() == [math.cos(v) for v in x]
    assert sin.flatten().tolist() == [math.sin(v) for v in x]
    squares = _libm_pow2(torch.from_numpy(x).reshape(-1, 2))
    assert squares.flatten().tolist() == [math.pow(v, 2.0) for v in x]
    # gymnasium's dtheta**2 (a numpy float64 scalar's power) is libm's pow
    assert all(np.float64(v) ** 2 == math.pow(v, 2.0) for v in x[:20_000])
    # torch's own differ on some of these inputs by 1 ulp: enough to leave gymnasium's trajectory (with them the
    # trajectory check above fails: the float64 state first differs after 14 steps, the observations after 463)
    t = torch.from_numpy(x)
    assert (torch.cos(t).numpy() != np.cos(x)).sum() > 50
    assert ((t * t).numpy() != np.array([math.pow(v, 2.0) for v in x])).sum() > 20


def test_spaces_are_gymnasiums():
    env, original = Acrobot(3), gym.make("Acrobot-v1")
    assert env.single_observation_space == original.observation_space
    assert env.single_action_space == original.action_space
    assert env.max_episode_steps == original.spec.max_episode_steps == 500


def test_a_checkpoint_resumes_every_episode_bit_for_bit():
    generator = torch.Generator().manual_seed(0)
    actions = torch.randint(3, (120, 8), generator=generator)
    env = Acrobot(8, max_episode_steps=25)
    env.reset(seed=11)
    for t in range(40):
        env.step(actions[t])
    saved = env.state_dict()
    expected = [env.step(actions[t])[0] for t in range(40, 120)]
    resumed = make_batched_env("Acrobot-v1", 8, max_episode_steps=25)
    resumed.load_state_dict(saved)
    assert all(torch.equal(resumed.step(actions[t])[0], expected[t - 40]) for t in range(40, 120))


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_the_same_episodes_on_every_device(device):
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU: torch.cuda.is_available() is False")
    cpu, other = Acrobot(64), Acrobot(64, device=device)
    cpu_obs, _ = cpu.reset(seed=5)
    other_obs, _ = other.reset(seed=5)
    assert torch.equal(cpu_obs, other_obs.cpu())  # float32 arithmetic: the same on every device
    assert other_obs.device.type == device
    actions = torch.randint(3, (64,), generator=torch.Generator().manual_seed(0))
    cpu_obs, *_ = cpu.step(actions)
    other_obs, *_ = other.step(actions.to(device))
    # on cuda, CUDA's sin, cos and pow may differ from libm's in the last bit
    assert torch.allclose(cpu_obs, other_obs.cpu(), rtol=0, atol=1e-5)
