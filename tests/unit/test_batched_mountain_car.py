"""Batched MountainCar-v0 and MountainCarContinuous-v0 against gymnasium's (tests/batched_checks.py), plus what the
shared checks do not reach: steps that land exactly on the goal, the wall and the speed bounds (where float32 and
float64 comparisons differ), the float64 state bit for bit, trajectories of a policy that reaches the goal, and the
libm cosine."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from pglab.envs.batched import make_batched_env
from pglab.envs.batched.mountain_car import MountainCar, MountainCarContinuous, _cos
from tests.batched_checks import check_episode_statistics, check_one_step, check_trajectories, gymnasium_env

F32 = np.float32


def _state(position: float, velocity: float, dtype) -> np.ndarray:
    return np.array([position, velocity], dtype=dtype)


def _random_position_velocity(rng: np.random.Generator, goal: float) -> tuple[float, float]:
    """Anywhere (a little beyond the bounds too), or at the places where the clips and the termination act."""
    kind = rng.integers(6)
    if kind == 0:  # at the left wall, moving into it
        return -1.2 + rng.uniform(0.0, 0.08), rng.uniform(-0.075, 0.0)
    if kind == 1:  # on the left wall
        return -1.2, rng.uniform(-0.075, 0.075)
    if kind == 2:  # at a velocity bound
        return rng.uniform(-1.25, 0.65), rng.choice([-0.07, 0.07]) * rng.choice([1.0, 1.0 - 1e-9, 1.0 + 1e-9])
    if kind == 3:  # short of the goal, moving toward it
        return goal - rng.uniform(0.0, 0.08), rng.uniform(0.0, 0.075)
    if kind == 4:  # right at the goal, nearly at rest
        return goal + rng.uniform(-2e-3, 2e-3), rng.uniform(-2e-3, 2e-3)
    return rng.uniform(-1.25, 0.65), rng.uniform(-0.075, 0.075)


def _random_state(rng: np.random.Generator) -> np.ndarray:
    return _state(*_random_position_velocity(rng, 0.5), np.float64)


def _random_continuous_state(rng: np.random.Generator) -> np.ndarray:
    # float32 as after a step, or float64 as after a reset (then usually at rest)
    position, velocity = _random_position_velocity(rng, 0.45)
    if rng.random() < 0.3:
        return _state(position, 0.0 if rng.random() < 0.5 else velocity, np.float64)
    return _state(position, velocity, np.float32)


def random_state(rng: np.random.Generator, env) -> None:
    env.state = _random_state(rng)


def random_continuous_state(rng: np.random.Generator, env) -> None:
    env.state = _random_continuous_state(rng)


# ---- one step, state for state --------------------------------------------------------------------------------
def check_steps(make, cases: list[tuple[np.ndarray, object]], **gym_kwargs) -> list[tuple]:
    """`dynamics` from each gymnasium state with its action, against gymnasium's step: the observation, reward and
    terminated flag, and the next state bit for bit (float64 values, and for the continuous env its dtype).
    Returns gymnasium's `(next state, reward, terminated)` of every case."""
    env = make(len(cases))
    original = gymnasium_env(env, **gym_kwargs).unwrapped
    original.reset(seed=0)
    rows, expected = [], []
    for state, action in cases:
        original.state = state.copy()
        rows.append(env.read_from(original))
        obs, reward, terminated, _, _ = original.step(action)
        expected.append((np.asarray(original.state), obs, reward, terminated))
    state = {key: torch.stack([row[key] for row in rows]) for key in rows[0]}
    actions = env.as_actions(np.array([action for _, action in cases]))
    next_state, rewards, terminated = env.dynamics(state, actions)
    observations = env.observe(next_state).numpy()
    rewards, terminated, x = rewards.tolist(), terminated.tolist(), next_state["x"].tolist()
    single = next_state["float32"].tolist() if "float32" in next_state else None
    for i, (gym_state, obs, reward, term) in enumerate(expected):
        where = f"case {i}: state {cases[i][0]!r} action {cases[i][1]!r}"
        assert np.array_equal(observations[i], obs), f"{where}: obs {observations[i]} vs {obs}"
        assert rewards[i] == float(reward), f"{where}: reward {rewards[i]} vs {reward}"
        assert terminated[i] == term, f"{where}: terminated"
        assert x[i] == gym_state.astype(np.float64).tolist(), f"{where}: next state {x[i]} vs {gym_state}"
        if single is not None:
            assert single[i] == (gym_state.dtype == np.float32), f"{where}: state dtype"
    return [(gym_state, reward, term) for gym_state, _, reward, term in expected]


def _around(value, count: int, dtype=np.float64) -> list:
    """`value` and its `count` neighbours on each side in `dtype`."""
    value = dtype(value)
    below, above = [value], [value]
    for _ in range(count):
        below.append(np.nextafter(below[-1], dtype(-np.inf)))
        above.append(np.nextafter(above[-1], dtype(np.inf)))
    return sorted(set(below + above))


def test_one_step_from_random_states_matches_gymnasium():
    check_one_step(MountainCar, random_state, count=10_000)
    # and the next float64 state, bit for bit
    rng = np.random.default_rng(1)
    check_steps(MountainCar, [(_random_state(rng), int(rng.integers(3))) for _ in range(5_000)])


def test_continuous_one_step_from_random_states_matches_gymnasium():
    check_one_step(MountainCarContinuous, random_continuous_state, count=10_000)
    # and the next state bit for bit, with actions on the bounds too
    rng = np.random.default_rng(1)
    actions = [
        np.array([rng.choice([rng.uniform(-1.5, 1.5), 1.0, -1.0])], dtype=np.float32) for _ in range(5_000)
    ]
    check_steps(MountainCarContinuous, [(_random_continuous_state(rng), action) for action in actions])


def test_steps_that_land_exactly_on_the_goal_and_the_wall_match_gymnasium():
    # pushing right at the speed bound from 0.43: the velocity is clipped to exactly 0.07, and the new position
    # p + 0.07 lands on the goal 0.5, one ulp short of it or past it
    cases = [(_state(p, 0.07, np.float64), 2) for p in _around(0.5 - 0.07, 3)]
    # at the goal with a velocity that the step brings to exactly 0 (terminates: velocity >= 0), or just below 0
    for action in range(3):
        increment = (action - 1) * 0.001 + math.cos(3 * 0.5) * (-0.0025)
        cases += [(_state(0.5, v, np.float64), action) for v in _around(-increment, 2)]
    # landing on the wall -1.2 exactly, or just beside it, at full speed left (clipped to exactly -0.07)
    cases += [(_state(p, -0.0725, np.float64), 0) for p in _around(-1.2 + 0.07, 3)]
    results = check_steps(MountainCar, cases)
    positions = [state[0] for state, _, _ in results]
    assert 0.5 in positions and any(0.5 - 1e-12 < p < 0.5 for p in positions)
    assert any(term and state[0] == 0.5 and state[1] == 0.0 for state, _, term in results)
    assert {term for _, _, term in results} == {True, False}
    assert -1.2 in positions
    # the goal velocity option: 0.07 is reached exactly, the next float above it is not
    for goal_velocity in (0.07, np.nextafter(0.07, 1.0)):
        make = lambda n, g=goal_velocity: MountainCar(n, goal_velocity=g)  # noqa: E731
        check_steps(make, cases, goal_velocity=goal_velocity)


def test_continuous_steps_that_land_exactly_on_the_goal_and_the_wall_match_gymnasium():
    # float32 state (after an episode's first step): compared in float32, so landing on float32(0.45) (below 0.45)
    # terminates. At the speed bound pushing right, with in-bounds actions (float32 force) and beyond (float64).
    actions = [np.array([a], dtype=np.float32) for a in (1.0, np.nextafter(F32(1.0), F32(2.0)), 1.5, 0.7)]
    target = F32(0.45) - F32(0.07)
    cases = [(_state(p, F32(0.07), np.float32), a) for p in _around(target, 3, np.float32) for a in actions]
    # float64 state (the first step of an episode, at rest): compared in float64, so landing on exactly 0.45
    # terminates and one float64 ulp short of it does not
    for a in actions + [np.array([-1.0], dtype=np.float32), np.array([-1.7], dtype=np.float32)]:
        force = min(max(a[0], -1.0), 1.0)
        start = 0.45
        for _ in range(4):  # the start position p with p + increment(p) = 0.45, within an ulp
            start = 0.45 - float(force * 0.0015 - 0.0025 * math.cos(3 * start))
        cases += [(_state(p, 0.0, np.float64), a) for p in _around(start, 3)]
    # velocity exactly float32(0.07) after the update, so not replaced by the Python float 0.07 (float32 compare
    # with goal_velocity), and velocities just beside it
    position = F32(0.3)
    for a in actions[:2] + [np.array([0.2], dtype=np.float32)]:
        force = min(max(a[0], -1.0), 1.0)
        increment = force * 0.0015 - 0.0025 * math.cos(3 * position)
        cases += [
            (_state(position, v, np.float32), a) for v in _around(F32(0.07) - F32(increment), 3, np.float32)
        ]
    # the left wall, float32 and float64
    for dtype in (np.float32, np.float64):
        cases += [
            (_state(p, -0.0725, dtype), np.array([-1.0], dtype=np.float32))
            for p in _around(-1.2 + 0.07, 3, dtype)
        ]
    results = check_steps(MountainCarContinuous, cases)
    positions = [float(state[0]) for state, _, _ in results]
    # on float32(0.45) < 0.45: from a float32 state it terminates; from a float64 one, one ulp short of 0.45, not
    assert {term for (state, _, term) in results if state[0] == F32(0.45)} == {True, False}
    assert {term for _, _, term in results} == {True, False}
    assert any(r > 99 for _, r, _ in results) and float(F32(-1.2)) in positions
    for goal_velocity in (0.07, np.nextafter(0.07, 1.0), 0.05):
        make = lambda n, g=goal_velocity: MountainCarContinuous(n, goal_velocity=g)  # noqa: E731
        check_steps(make, cases, goal_velocity=goal_velocity)


# ---- trajectories -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [MountainCar, MountainCarContinuous])
def test_trajectories_match_gymnasium_through_truncations_and_resets(cls):
    # random actions: truncated at the 200 / 999-step limits, they hardly ever reach the goal (the next test does)
    counts = check_trajectories(cls, steps=5_000, num_envs=16)
    assert (
        counts["truncated"] >= 16 * (5_000 // cls.default_max_episode_steps) - 4 and counts["steps"] == 80_000
    )


def pump(env, obs: np.ndarray, rng: np.random.Generator, explore: float = 0.2):
    """Energy pumping (push in the direction of the velocity), with random actions `explore` of the time; for the
    continuous env the push is 0.5 to 1.5 (beyond the bound 1 too)."""
    random = rng.random(len(obs)) < explore
    right = obs[:, 1] >= 0
    if isinstance(env.single_action_space, gym.spaces.Discrete):
        return np.where(random, rng.integers(3, size=len(obs)), np.where(right, 2, 0))
    push = np.where(right, 1.0, -1.0) * rng.uniform(0.5, 1.5, len(obs))
    return np.where(random, rng.uniform(-1.5, 1.5, len(obs)), push).astype(np.float32)[:, None]


def check_policy_trajectories(
    make, steps: int, num_envs: int = 16, seed: int = 0, **gym_kwargs
) -> dict[str, int]:
    """`check_trajectories` under `pump`, which reaches the goal; compares also the whole state, bit for bit, of
    every sub-env whose episode goes on."""
    rng = np.random.default_rng(seed)
    env = make(num_envs)
    obs, _ = env.reset(seed=seed)
    originals = [gymnasium_env(env, **gym_kwargs) for _ in range(num_envs)]

    def restart(i: int) -> None:
        originals[i].reset(seed=seed + i)
        env.load_into(originals[i].unwrapped, {key: value[i] for key, value in env.state.items()})

    for i in range(num_envs):
        restart(i)
    counts = {"terminated": 0, "truncated": 0, "steps": 0}
    for t in range(steps):
        actions = pump(env, obs.numpy(), rng)
        obs, rewards, terminated, truncated, infos = env.step(torch.as_tensor(actions))
        final_obs = infos["final_obs"].numpy()
        state = {key: value.numpy() for key, value in env.state.items()}
        for i in range(num_envs):
            o, r, term, trunc, _ = originals[i].step(actions[i])
            where = f"step {t}, sub-env {i}"
            assert np.array_equal(final_obs[i], o), f"{where}: obs {final_obs[i]} vs {o}"
            assert float(rewards[i]) == float(r), f"{where}: reward {float(rewards[i])} vs {r}"
            assert (bool(terminated[i]), bool(truncated[i])) == (term, trunc), f"{where}: flags"
            if term or trunc:
                counts["terminated" if term else "truncated"] += 1
                restart(i)
            else:
                gym_state = np.asarray(originals[i].unwrapped.state)
                assert state["x"][i].tolist() == gym_state.astype(np.float64).tolist(), f"{where}: state"
                if "float32" in state:
                    assert bool(state["float32"][i]) == (gym_state.dtype == np.float32), (
                        f"{where}: state dtype"
                    )
        counts["steps"] += num_envs
    return counts


def test_trajectories_of_a_policy_that_reaches_the_goal_match_gymnasium():
    # pumping reaches the goal in about 130 steps (MountainCar) or 110 (continuous); a 140-step limit cuts some
    counts = check_policy_trajectories(MountainCar, steps=800)
    assert counts["terminated"] > 60
    counts = check_policy_trajectories(lambda n: MountainCar(n, max_episode_steps=140), steps=500)
    assert counts["terminated"] > 10 and counts["truncated"] > 10
    counts = check_policy_trajectories(MountainCarContinuous, steps=800)
    assert counts["terminated"] > 80


def test_random_policy_episode_statistics_match_gymnasium():
    # a random policy never reaches the goal: every episode runs to the time limit, so a 50-step limit (which keeps
    # the gymnasium side short) checks the same thing as 200 steps
    result = check_episode_statistics(lambda n: MountainCar(n, max_episode_steps=50), episodes=2_000)
    assert result["length"][0] == 50 and result["return"][0] == -50


def test_continuous_random_policy_episode_statistics_match_gymnasium():
    # the action cost -0.1 a^2 (about -3.3 over 100 steps); a 100-step limit keeps the test short
    result = check_episode_statistics(
        lambda n: MountainCarContinuous(n, max_episode_steps=100), episodes=2_000
    )
    assert result["length"][0] == 100 and -3.6 < result["return"][0] < -3.1


# ---- the rest ---------------------------------------------------------------------------------------------------
def test_the_cosine_is_libms_bit_for_bit():
    # torch.cos (SLEEF, vectorized) differs from math.cos by 1 ulp on ~0.2% of these arguments; _cos must not
    rng = np.random.default_rng(0)
    angles = np.concatenate(
        [
            rng.uniform(-3.6, 1.8, 100_000),
            3 * rng.uniform(-1.2, 0.6, 50_000).astype(np.float32).astype(np.float64),
        ]
    )
    values = _cos(torch.from_numpy(angles)).tolist()
    assert values == [math.cos(x) for x in angles]


@pytest.mark.parametrize("cls", [MountainCar, MountainCarContinuous])
def test_spaces_resets_and_the_registry_agree_with_gymnasium(cls):
    original = gym.make(cls.gymnasium_id)
    env = make_batched_env(cls.gymnasium_id, 256)
    assert type(env) is cls and env.max_episode_steps == original.spec.max_episode_steps
    assert env.single_observation_space == original.observation_space
    assert env.single_action_space == original.action_space
    obs, _ = env.reset(seed=4)
    assert obs.dtype == torch.float32 and obs.shape == (256, 2)
    assert (obs[:, 0] >= -0.6).all() and (obs[:, 0] <= -0.4).all() and (obs[:, 1] == 0).all()
    assert obs[:, 0].unique().numel() == 256
    original.reset(seed=0)
    env.load_into(original.unwrapped, {key: value[3] for key, value in env.state.items()})
    assert np.asarray(original.unwrapped.state).dtype == np.float64  # as after gymnasium's reset
    read = env.read_from(original.unwrapped)
    assert all(torch.equal(read[key], env.state[key][3]) for key in read)


def test_the_continuous_state_is_float64_until_the_first_step_and_resumes_bit_for_bit():
    env = MountainCarContinuous(32, max_episode_steps=50)
    env.reset(seed=2)
    assert not env.state["float32"].any()
    generator = torch.Generator().manual_seed(0)
    actions = torch.rand((200, 32, 1), generator=generator) * 3 - 1.5
    env.step(actions[0])
    assert env.state["float32"].all()
    assert torch.equal(env.state["x"], env.state["x"].float().double())
    for t in range(1, 70):  # past the 50-step limit: the new episodes start from float64 states again
        _, _, _, truncated, _ = env.step(actions[t])
        if truncated.any():
            assert not env.state["float32"][truncated].any()
    saved = env.state_dict()
    expected = [env.step(actions[t])[0] for t in range(70, 200)]
    resumed = make_batched_env("MountainCarContinuous-v0", 32, max_episode_steps=50)
    resumed.load_state_dict(saved)
    assert all(torch.equal(resumed.step(actions[t])[0], expected[t - 70]) for t in range(70, 200))


@pytest.mark.parametrize("cls", [MountainCar, MountainCarContinuous])
def test_the_cpu_s_sparse_resets_and_the_accelerator_s_dense_resets_give_the_same_episodes(cls):
    sparse, dense = cls(64, max_episode_steps=30), cls(64, max_episode_steps=30)
    dense.sparse_resets = False
    sparse.reset(seed=8)
    dense.reset(seed=8)
    rng = np.random.default_rng(0)
    for _ in range(100):
        actions = torch.as_tensor(pump(sparse, sparse.observe(sparse.state).numpy(), rng, explore=0.5))
        a, b = sparse.step(actions), dense.step(actions)
        assert all(torch.equal(x, y) for x, y in zip(a[:4], b[:4], strict=True))
        assert torch.equal(a[4]["final_obs"], b[4]["final_obs"])
        assert all(torch.equal(sparse.state[key], dense.state[key]) for key in sparse.state)
    assert int(sparse.episode.sum()) >= 64 * 3
