"""The exactness checks every batched env passes against its gymnasium original (used by tests/unit/test_batched_*.py).

1. `check_one_step`: one step from many injected states and actions gives the same float32 observation, reward and
   terminated flag as gymnasium's env stepped from the same state.
2. `check_trajectories`: 16 sub-envs under a fixed action sequence for thousands of steps, against 16 gymnasium envs
   (`gymnasium.make`, so with its `TimeLimit`) that are reset and then set to the batched env's start state at every
   episode start (the random streams differ by design), give identical observations, rewards, flags and resets.
3. `check_episode_statistics`: under a uniform random policy, episode lengths and returns of the batched env and of
   gymnasium's have the same means (within 3 standard errors of the difference) over thousands of episodes.
"""

from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch

from pglab.envs.batched import BatchedEnv


def _row(state: dict, i: int) -> dict:
    return {key: value[i] for key, value in state.items()}


def _stack(rows: list[dict]) -> dict:
    return {key: torch.stack([row[key] for row in rows]) for key in rows[0]}


def _equal(a, b) -> bool:
    return np.array_equal(np.asarray(a), np.asarray(b))


def gymnasium_env(env: BatchedEnv, **kwargs) -> gym.Env:
    return gym.make(env.gymnasium_id, max_episode_steps=env.max_episode_steps, **kwargs)


def check_one_step(
    make: Callable[[int], BatchedEnv],
    random_state: Callable[[np.random.Generator, gym.Env], None],
    count: int = 10_000,
    seed: int = 0,
    **gym_kwargs,
) -> None:
    """`random_state(rng, env)` puts the unwrapped gymnasium env `env` in a random state (any state the env can
    reach, and beyond: near the termination bounds too). The batched env takes the same states through `read_from`."""
    rng = np.random.default_rng(seed)
    env = make(count)
    env.reset(seed=seed)
    original = gymnasium_env(env, **gym_kwargs).unwrapped
    original.reset(seed=seed)
    rows, expected, actions = [], [], []
    for _ in range(count):
        random_state(rng, original)
        rows.append(env.read_from(original))
        action = _random_action(rng, original.action_space)
        actions.append(action)
        obs, reward, terminated, truncated, _ = original.step(action)
        expected.append((obs, reward, terminated))
    env.state = _stack(rows)
    _, rewards, terminated, _, infos = env.step(torch.as_tensor(np.array(actions)))
    mismatches = [
        i
        for i, (obs, reward, term) in enumerate(expected)
        if not (
            _equal(infos["final_obs"][i].cpu().numpy(), obs)
            and float(rewards[i]) == float(reward)
            and bool(terminated[i]) == term
        )
    ]
    assert not mismatches, (
        f"{len(mismatches)} of {count} steps differ; first at {mismatches[0]}: batched "
        f"{infos['final_obs'][mismatches[0]].tolist()} {float(rewards[mismatches[0]])} {bool(terminated[mismatches[0]])}, "
        f"gymnasium {expected[mismatches[0]]}"
    )


def _random_action(rng: np.random.Generator, space: gym.Space):
    if isinstance(space, gym.spaces.Discrete):
        return int(rng.integers(space.n))
    # Box: beyond the bounds too, so the env's own clipping is exercised
    return rng.uniform(space.low * 1.5, space.high * 1.5).astype(space.dtype)


def check_trajectories(
    make: Callable[[int], BatchedEnv], steps: int = 5_000, num_envs: int = 16, seed: int = 0, **gym_kwargs
) -> dict[str, int]:
    """Returns the counts of terminations, truncations and steps compared (so a test can require that both kinds
    of episode end were exercised)."""
    rng = np.random.default_rng(seed)
    env = make(num_envs)
    obs, _ = env.reset(seed=seed)
    originals = [gymnasium_env(env, **gym_kwargs) for _ in range(num_envs)]

    def restart(i: int) -> np.ndarray:
        originals[i].reset(seed=seed + i)  # resets the TimeLimit counter
        env.load_into(originals[i].unwrapped, _row(env.state, i))
        return env.observe({k: v[i : i + 1] for k, v in env.state.items()})[0].cpu().numpy()

    for i in range(num_envs):
        assert _equal(restart(i), obs[i].cpu().numpy())
    counts = {"terminated": 0, "truncated": 0, "steps": 0}
    space = originals[0].action_space
    for t in range(steps):
        actions = [_random_action(rng, space) for _ in range(num_envs)]
        obs, rewards, terminated, truncated, infos = env.step(torch.as_tensor(np.array(actions)))
        for i in range(num_envs):
            o, r, term, trunc, _ = originals[i].step(actions[i])
            where = f"step {t}, sub-env {i}"
            assert _equal(infos["final_obs"][i].cpu().numpy(), o), (
                f"{where}: obs {infos['final_obs'][i]} vs {o}"
            )
            assert float(rewards[i]) == float(r), f"{where}: reward {float(rewards[i])} vs {r}"
            assert (bool(terminated[i]), bool(truncated[i])) == (term, trunc), f"{where}: flags"
            if term or trunc:
                counts["terminated" if term else "truncated"] += 1
                assert _equal(restart(i), obs[i].cpu().numpy()), f"{where}: the next episode's first obs"
            else:
                assert _equal(obs[i].cpu().numpy(), o)
        counts["steps"] += num_envs
    return counts


def check_episode_statistics(
    make: Callable[[int], BatchedEnv], episodes: int = 2_000, seed: int = 0, **gym_kwargs
) -> dict[str, tuple[float, float]]:
    """Random-policy episodes of both; asserts equal means of length and return within 3 standard errors.
    Returns `{"length": (batched mean, gymnasium mean), "return": (...)}`."""
    env = make(episodes)
    env.reset(seed=seed)
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.zeros(episodes, dtype=torch.int64)
    returns = torch.zeros(episodes, dtype=torch.float64)
    running = torch.ones(episodes, dtype=torch.bool)
    space = env.single_action_space
    while running.any():
        if isinstance(space, gym.spaces.Discrete):
            actions = torch.randint(space.n, (episodes,), generator=generator)
        else:
            low, high = torch.as_tensor(space.low), torch.as_tensor(space.high)
            actions = low + (high - low) * torch.rand((episodes, *space.shape), generator=generator)
        _, rewards, terminated, truncated, _ = env.step(actions)
        returns += torch.where(running, rewards.cpu(), 0.0)
        lengths += running
        running &= ~(terminated | truncated).cpu()
    original = gym.vector.SyncVectorEnv([lambda: gymnasium_env(env, **gym_kwargs)] * 100)
    ref_lengths, ref_returns = [], []
    original.action_space.seed(seed)
    for chunk in range(episodes // 100):
        original.reset(seed=seed + 1000 * chunk)
        alive = np.ones(100, dtype=bool)
        ret, length = np.zeros(100), np.zeros(100)
        while alive.any():
            _, r, term, trunc, _ = original.step(original.action_space.sample())
            ret += np.where(alive, r, 0.0)
            length += alive
            alive &= ~(term | trunc)
        ref_lengths.extend(length)
        ref_returns.extend(ret)
    original.close()
    result = {}
    for name, ours, theirs in (
        ("length", lengths.double().numpy(), np.array(ref_lengths)),
        ("return", returns.numpy(), np.array(ref_returns)),
    ):
        stderr = np.sqrt(ours.var() / len(ours) + theirs.var() / len(theirs))
        gap = abs(ours.mean() - theirs.mean())
        assert gap <= 3 * stderr + 1e-9, (
            f"{name}: batched {ours.mean():.3f}, gymnasium {theirs.mean():.3f}, 3 SE {3 * stderr:.3f}"
        )
        result[name] = (float(ours.mean()), float(theirs.mean()))
    return result
