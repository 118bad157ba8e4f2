"""Batched PixelCopter against pglab's numpy PixelCopterEnv (tests/batched_checks.py where the shared checks
fit).

The numpy env draws random numbers mid-episode (a new block when the copter passes one, a new batch of cave
columns when 13 are left) from its own `RandomState`. For the exact comparisons its `_rng` is replaced by
`CounterDraws`, which hands out the batched env's counter-based numbers (computed independently, by
`counter_rng.uniform_reference` in plain Python) in the order the numpy env asks for them, mapped to
`uniform` / `randint` as the batched env maps them. With it the two envs play the same episodes, and every
observation, reward, flag and (periodically) the whole game state are compared for equality.
"""

import itertools
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from pglab.envs.batched import make_batched_env
from pglab.envs.batched.counter_rng import uniform_reference
from pglab.envs.batched.pixelcopter import PixelCopter
from pglab.envs.pixelcopter import NOOP, UP, PixelCopterEnv, Sprite
from tests.batched_checks import check_episode_statistics, check_one_step


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: these envs are small, and on a loaded 2-core machine two OpenMP threads run ~6x
    slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class CounterDraws:
    """Stands in for the numpy env's `RandomState`: draws `first`, `first + 1`, ... of (seed, index,
    episode)."""

    def __init__(self, seed: int, index: int, episode: int, first: int):
        self.key, self.draws = (seed, index, episode), first

    def _next(self) -> float:
        value = uniform_reference(*self.key, self.draws)
        self.draws += 1
        return value

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * self._next()

    def randint(self, low: int, high: int) -> int:
        return low + math.floor(self._next() * (high - low))


# ---- one step from injected states -------------------------------------------------------------------------


def _block_y(rng: np.random.Generator) -> int:
    y = int(rng.integers(-12, 12))
    return (y - 4 if y < 0 else y + 4 if y > 0 else y) + 24


def _removal_not_a_prefix(env: PixelCopterEnv) -> bool:
    """Whether the numpy env's next step removes a column from the middle of its list (a kept one before
    it)."""
    leaving = [t.x - env.speed * env.dt <= -t.width for t in env.terrain]
    return any(leaving[k] and not leaving[k - 1] for k in range(1, len(leaving)))


def random_state_maker(tally: dict):
    """`random_state(rng, env)` for check_one_step: reachable-looking games at 48 x 48, each with a
    `CounterDraws` for the sub-env it will be (check_one_step steps sub-env i from its i-th state, seed 0,
    episode 0). `tally` counts the states whose step draws a block or a batch of columns, or removes a column
    from the middle of the list."""
    calls = itertools.count()

    def random_state(rng: np.random.Generator, env: PixelCopterEnv) -> None:
        i = next(calls)
        shift = env.speed * env.dt
        # The cave: 14 .. 61 columns 4 px apart, first at x in (-4, 2]; after a batch was appended (more than
        # 48 columns) a gap of 2 - 2.8 px separates the old columns from the new, or, as at other sizes, the
        # new start up to 3.9 px left of the old's last (so the list is not sorted; one in ten states has one
        # old column, and the new batch's first leaves before it).
        r = rng.random()
        count = 14 if r < 0.2 else 49 if r < 0.3 else int(rng.integers(14, 62))
        x0 = rng.uniform(-3.99, -3.2) if rng.random() < 0.4 else rng.uniform(-3.99, 2.0)
        gaps = np.full(count - 1, 4.0)
        if r >= 0.2 and r < 0.3:
            x0 = rng.uniform(-3.3, -0.5)
            gaps[0] = rng.uniform(-3.99 - x0, -3.4 - x0)
        elif count > 48:
            gaps[count - 48 - 1] = rng.uniform(-3.9, 0.0) if rng.random() < 0.3 else rng.uniform(2.0, 2.8)
        xs = x0 + np.concatenate([[0.0], np.cumsum(gaps)])
        ys = rng.integers(18, 31, size=count)
        env.terrain = [Sprite(float(x), int(y), 4, 72) for x, y in zip(xs, ys, strict=True)]
        # The blocks: one ahead of the copter (sometimes about to pass it, sometimes just placed, at an
        # integer x), or one passed (sometimes about to leave) and the next.
        if rng.random() < 0.5:
            x = rng.uniform(16.0, 16.7) if rng.random() < 0.4 else rng.uniform(16.0, 72.0)
            if rng.random() < 0.1:
                x = float(rng.integers(48, 72))
            env.blocks = [Sprite(x, _block_y(rng), 4, 9)]
        else:
            x = rng.uniform(-3.99, -3.2) if rng.random() < 0.4 else rng.uniform(-3.99, 16.0)
            env.blocks = [
                Sprite(x, _block_y(rng), 4, 9),
                Sprite(x + rng.uniform(31.5, 56.5), _block_y(rng), 4, 9),
            ]
        # The copter: anywhere in the band and beyond it, often next to a block or in the cave's middle.
        r = rng.random()
        near = env.blocks[-1].y if r < 0.3 else int(np.interp(16, xs, ys)) if r < 0.6 else 24
        env.player.y = float(np.clip(near + rng.uniform(-14.0, 14.0), 4.0, 44.0))
        env.momentum = rng.uniform(-7.0, 3.0)
        env._rng = CounterDraws(0, i, 0, PixelCopter.reset_draws)
        b0 = env.blocks[0].x - shift
        tally["block"] += (len(env.blocks) == 1 and b0 <= 16) or (
            len(env.blocks) == 2 and b0 <= -4 and env.blocks[1].x - shift <= 16
        )
        tally["terrain"] += count == 14 and x0 - shift <= -4
        tally["middle"] += _removal_not_a_prefix(env)

    return random_state


@pytest.mark.parametrize("normalize, count", [(False, 10_000), (True, 2_000)])
def test_one_step_from_random_states_matches_the_numpy_env(normalize, count):
    tally = {"block": 0, "terrain": 0, "middle": 0}
    check_one_step(
        lambda n: PixelCopter(n, normalize=normalize),
        random_state_maker(tally),
        count=count,
        normalize=normalize,
    )
    # steps that draw a block or a batch of columns, or remove a column from the middle of the list
    assert tally["block"] > count // 10 and tally["terrain"] > count // 20 and tally["middle"] > count // 20


# ---- trajectories ------------------------------------------------------------------------------------------


def pilot(obs: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    """A hand policy on raw observations `(N, 7)` that survives ~200 steps on average (a tenth of its
    episodes over 450): aim a little below the cave's middle, or at the wider side of a block ahead; thrust
    when the height 6 steps ahead (at the current velocity) is below the aim. `noise`: the probability of a
    random action."""
    y, momentum, ceiling, floor, dist, block = obs[:, :6].T
    top, bottom = y - ceiling, y + floor
    middle = (top + bottom) / 2 + 2
    above, below = (top + block - 4) / 2, (block + 5 + bottom) / 2
    dodge = np.where(block - 4 - top > bottom - block - 5, above, below)
    aim = np.where(dist < 20, dodge, middle)
    actions = np.where(y + 6 * momentum > aim, UP, NOOP)
    random = rng.random(len(obs)) < noise
    return np.where(random, rng.integers(0, 2, len(obs)), actions)


def _game(env: PixelCopterEnv) -> tuple:
    """The numpy env's whole game as plain numbers."""
    return (
        env.player.y,
        env.momentum,
        [(b.x, b.y) for b in env.blocks],
        [(t.x, t.y) for t in env.terrain],
    )


def compare_trajectories(
    make,
    steps: int,
    num_envs: int,
    seed: int = 0,
    noise: float = 0.02,
    state_every: int = 25,
    count_middle: bool = False,
    **kwargs,
) -> dict[str, int]:
    """check_trajectories with mid-episode draws: the numpy envs (`gymnasium.make`, so with the TimeLimit)
    are reset, set to the batched env's start state and given the batched env's random numbers
    (`CounterDraws`) at every episode start; then every step's observation, reward and flags must be equal,
    the next episode's first observation too, and every `state_every` steps the whole game (copter, blocks and
    columns in list order) and the draw count. Actions: `pilot`'s, from the batched observations. Returns event counts
    (`middle`: steps that remove a column from the middle of the list, counted if `count_middle`)."""
    rng = np.random.default_rng(seed)
    env = make(num_envs)
    obs, _ = env.reset(seed=seed)
    originals = [
        gym.make(env.gymnasium_id, max_episode_steps=env.max_episode_steps, **kwargs) for _ in range(num_envs)
    ]

    def restart(i: int) -> np.ndarray:
        original = originals[i]
        original.reset(seed=seed + i)  # resets the TimeLimit counter
        row = {k: v[i] for k, v in env.state.items()}
        env.load_into(original.unwrapped, row)
        original.unwrapped._rng = CounterDraws(env.seed, i, int(env.episode[i]), int(row["draws"]))
        return original.unwrapped._observation()

    probe = gym.make(env.gymnasium_id, **kwargs).unwrapped
    probe.reset(seed=0)

    def same_game(i: int) -> bool:
        env.load_into(probe, {k: v[i] for k, v in env.state.items()})
        return _game(probe) == _game(originals[i].unwrapped)

    for i in range(num_envs):
        np.testing.assert_array_equal(restart(i), obs[i].numpy())
    counts = {"terminated": 0, "truncated": 0, "blocks": 0, "batches": 0, "middle": 0, "longest": 0}
    raw = (lambda o: o * env._scale.numpy()) if env.normalize else (lambda o: o)
    for t in range(steps):
        actions = pilot(raw(obs.numpy().astype(np.float64)), rng, noise)
        draws = env.state["draws"].clone()
        obs, rewards, terminated, truncated, infos = env.step(torch.as_tensor(actions))
        final, rewards_np = infos["final_obs"].numpy(), rewards.numpy()
        terminated_np, truncated_np, obs_np = terminated.numpy(), truncated.numpy(), obs.numpy()
        for i in range(num_envs):
            if count_middle:
                counts["middle"] += _removal_not_a_prefix(originals[i].unwrapped)
            o, r, term, trunc, _ = originals[i].step(int(actions[i]))
            where = f"step {t}, sub-env {i}"
            assert np.array_equal(final[i], o), f"{where}: obs {final[i]} vs {o}"
            assert rewards_np[i] == r, f"{where}: reward {rewards_np[i]} vs {r}"
            assert (terminated_np[i], truncated_np[i]) == (term, trunc), f"{where}: flags"
            drawn = originals[i].unwrapped._rng.draws - int(draws[i])
            counts["blocks"] += drawn in (2, 3 + env.columns)
            counts["batches"] += drawn in (1 + env.columns, 3 + env.columns)
            if term or trunc:
                counts["terminated" if term else "truncated"] += 1
                counts["longest"] = max(counts["longest"], int(infos["episode"]["l"][i]))
                assert np.array_equal(restart(i), obs_np[i]), f"{where}: the next episode's first obs"
            else:
                assert np.array_equal(obs_np[i], o), f"{where}: obs"
                if t % state_every == 0:
                    assert int(env.state["draws"][i]) == originals[i].unwrapped._rng.draws, f"{where}: draws"
                    assert same_game(i), f"{where}: game state"
    return counts


def test_trajectories_match_the_numpy_env_through_crashes_blocks_new_columns_and_resets():
    # a 400-step limit truncates the pilot's longest episodes; new batches of columns enter after 222 steps
    counts = compare_trajectories(lambda n: PixelCopter(n, max_episode_steps=400), steps=5_000, num_envs=16)
    assert counts["terminated"] > 200 and counts["truncated"] > 20
    assert counts["blocks"] > 300 and counts["batches"] > 100


def test_trajectories_match_at_another_size_with_normalized_observations():
    # At 64 x 56 columns are 6 px wide: a new batch enters (at x = 67) left of the last columns of the
    # previous one, so the cave's list is not sorted by x and columns leave from its middle.
    counts = compare_trajectories(
        lambda n: PixelCopter(n, width=64, height=56, normalize=True),
        steps=700,
        num_envs=6,
        noise=0.0,
        count_middle=True,
        width=64,
        height=56,
        normalize=True,
    )
    assert (
        counts["terminated"] > 5 and counts["blocks"] > 10 and counts["batches"] > 0 and counts["middle"] > 0
    )


# ---- exact ties at every comparison ----------------------------------------------------------------------


def _preimage(after: float, step) -> float:
    """A float v with `step(v) == after` exactly (searched among the floats next to a first guess)."""
    guess = after
    for _ in range(3):  # the guess: invert step approximately
        guess = guess + (after - step(guess))
    candidates = [guess]
    for direction in (math.inf, -math.inf):
        v = guess
        for _ in range(16):
            v = math.nextafter(v, direction)
            candidates.append(v)
    exact = [v for v in candidates if step(v) == after]
    assert exact, after
    return exact[0]


def boundary_games() -> list[tuple[str, int, object]]:
    """(name, action, set-up) of games whose step lands exactly on, and one float either side of, every boundary
    the numpy env tests: the ceiling and floor (<=, >=), the band (<, >), a block passing the copter (<=) and
    leaving (<=), a column leaving (<=, with a new batch due), the integer rect edges of columns and blocks, the
    nearest-column and next-block ties (first in list order), a block at distance 0 (not ahead)."""
    env = PixelCopterEnv()
    shift, m1 = env.speed * env.dt, (0.0 + env.fall_speed * env.dt) * 0.99  # a no-op step from rest
    # (the copter starts at rest; its height after the step is y + m1)
    x_before = lambda after: _preimage(after, lambda v: v - shift)  # noqa: E731
    games = []

    def add(name, **game):
        def setup(env: PixelCopterEnv) -> None:
            env.player.y, env.momentum = game.get("y", 24.0), 0.0
            env.blocks = [Sprite(x, y, 4, 9) for x, y in game.get("blocks", [(60.0, 24)])]
            columns = game.get("columns", [(float(x), 24) for x in range(2, 194, 4)])
            env.terrain = [Sprite(x, y, 4, 72) for x, y in columns]

        games.append((name, NOOP, setup))

    def around(after: float, step) -> list[float]:
        """The float whose step lands on `after`, and its neighbours."""
        v = _preimage(after, step)
        return [math.nextafter(v, -math.inf), v, math.nextafter(v, math.inf)]

    def y_around(after: float, then=lambda y: y) -> list[float]:
        return around(after, lambda v: then(v + m1))

    def x_around(after: float) -> list[float]:
        return around(after, lambda v: v - shift)

    for y in y_around(12.0, lambda y: y - 48 * 0.05):  # y - 0.05 h <= ceiling 12 (flat cave at 24)
        add(f"ceiling {y!r}", y=y)
    for y in y_around(36.0):  # y >= floor 36
        add(f"floor {y!r}", y=y)
    low = [(float(x), 10) for x in range(2, 194, 4)]  # a cave high enough that y = 6 meets no wall
    high = [(float(x), 38) for x in range(2, 194, 4)]
    for y in y_around(6.0):
        add(f"band low {y!r}", y=y, columns=low)
    for y in y_around(42.0):
        add(f"band high {y!r}", y=y, columns=high)
    for x in x_around(16.0):  # a block passes the copter's x (<=), and is not ahead at distance 0
        add(f"block passes {x!r}", blocks=[(x, 40)])
    for x in x_around(-4.0):  # a passed block leaves (and the next is ahead)
        add(f"block leaves {x!r}", blocks=[(x, 40), (50.0, 10)])
    for x in x_around(-4.0):  # a column leaves, 13 left: a new batch is due
        add(f"column leaves {x!r}", columns=[(x + 4 * k, 24) for k in range(14)])
    for edge in (14.0, 19.0):  # the rects [trunc(x) - 2, trunc(x) + 2) against the copter's [15, 17)
        for x in x_around(edge):
            deadly = [(x, 34)]  # its ceiling test kills the copter if it overlaps
            add(f"column edge {x!r}", columns=deadly + [(x + 4 * k, 24) for k in range(1, 30)])
            add(f"block edge {x!r}", blocks=[(x, 24)])
    for by in (
        18,
        19,
        28,
        29,
    ):  # the block rect [y - 4, y + 5) against the copter's [trunc(y) - 1, trunc(y) + 1)
        for y in y_around(24.0):
            add(f"block rows {by} {y!r}", y=y, blocks=[(x_before(16.5), by)])
    gap = [(x_before(10.0), 20), (x_before(22.0), 28)] + [(x_before(26.0 + 4 * k), 24) for k in range(20)]
    add("nearest column tie", columns=gap)  # no column overlaps: the first of the two nearest
    add("next block tie", blocks=[(x_before(40.0), 10), (x_before(40.0), 38)])
    return games


@pytest.mark.parametrize("normalize", [False, True])
def test_every_comparison_ties_as_in_the_numpy_env(normalize):
    games = boundary_games()
    env = PixelCopter(len(games), normalize=normalize)
    env.reset(seed=0)
    original = PixelCopterEnv(normalize=normalize)
    original.reset(seed=0)
    rows, expected = [], []
    for i, (_, action, setup) in enumerate(games):
        setup(original)
        original._rng = CounterDraws(0, i, 0, PixelCopter.reset_draws)
        rows.append({k: v.clone() for k, v in env.read_from(original).items()})
        expected.append((*original.step(action)[:3], _game(original)))
    env.state = {k: torch.stack([row[k] for row in rows]) for k in rows[0]}
    _, rewards, terminated, _, infos = env.step(torch.tensor([action for _, action, _ in games]))
    outcomes = {(o.tobytes(), r, t) for o, r, t, _ in expected}
    assert len(outcomes) > 15  # the ties go both ways
    probe = PixelCopterEnv()
    probe.reset(seed=0)
    for i, (name, _, _) in enumerate(games):
        obs, reward, term, game = expected[i]
        assert np.array_equal(infos["final_obs"][i].numpy(), obs), f"{name}: {infos['final_obs'][i]} vs {obs}"
        assert (float(rewards[i]), bool(terminated[i])) == (reward, term), (
            f"{name}: {float(rewards[i])} vs {reward}"
        )
        if not term:  # (an ended episode's state is already the next episode's)
            env.load_into(probe, {k: v[i] for k, v in env.state.items()})
            assert _game(probe) == game, f"{name}: game state"


# ---- statistics, spaces, rendering, options ----------------------------------------------------------------


def test_random_policy_episode_statistics_match_the_numpy_env():
    result = check_episode_statistics(PixelCopter, episodes=2_000)
    assert 5 < result["length"][0] < 40


def test_spaces_equal_the_numpy_envs_and_pixels_are_refused():
    env, original = PixelCopter(3), PixelCopterEnv()
    assert env.single_observation_space == original.observation_space
    assert env.single_action_space == original.action_space
    assert env.observation_space.shape == (3, 7) and env.max_episode_steps == 10_000
    assert make_batched_env("pglab/PixelCopter-v0", 2).reset(seed=0)[0].shape == (2, 7)
    with pytest.raises(ValueError, match="env.kwargs.obs_type"):
        PixelCopter(2, obs_type="pixels")
    with pytest.raises(ValueError, match="env.kwargs.obs_type"):
        make_batched_env("pglab/PixelCopter-v0", 2, obs_type="rgb")
    with pytest.raises(ValueError, match="width >= 10"):
        PixelCopter(2, width=8)


def test_renders_the_numpy_envs_frame_of_the_same_state():
    env = PixelCopter(4, render_mode="rgb_array", render_index=2)
    env.reset(seed=1)
    for _ in range(30):
        env.step(torch.tensor([NOOP, UP, NOOP, NOOP]))
    original = PixelCopterEnv()
    original.reset(seed=0)
    env.load_into(original, {k: v[2] for k, v in env.state.items()})
    frame = env.render()
    assert frame.shape == (48, 48, 3) and np.array_equal(frame, original.render_frame())


def test_a_sub_envs_episodes_with_their_mid_episode_draws_do_not_depend_on_the_number_of_envs():
    def run(num_envs: int) -> list[list[float]]:
        env = PixelCopter(num_envs)
        obs, _ = env.reset(seed=3)
        rng = np.random.default_rng(0)
        out, drew = [], False
        for _ in range(300):
            actions = pilot(obs.numpy().astype(np.float64), rng, 0.0)  # each sub-env's from its own obs
            obs, *_ = env.step(torch.as_tensor(actions))
            out.append(obs[2].tolist())
            drew |= int(env.state["draws"][2]) > PixelCopter.reset_draws  # a block or columns were drawn
        assert drew
        return out

    assert run(4) == run(33)


def test_a_checkpoint_resumes_every_episode_bit_for_bit():
    generator = torch.Generator().manual_seed(0)
    actions = torch.randint(2, (300, 16), generator=generator)
    env = PixelCopter(16)
    env.reset(seed=11)
    for t in range(100):
        env.step(actions[t])
    saved = env.state_dict()
    expected = [env.step(actions[t])[0] for t in range(100, 300)]
    resumed = make_batched_env("pglab/PixelCopter-v0", 16)
    resumed.load_state_dict(saved)
    assert all(torch.equal(resumed.step(actions[t])[0], expected[t - 100]) for t in range(100, 300))


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_the_same_episodes_on_every_device(device):
    """On the CPU: its sparse resets against the accelerators' way (every start state drawn, kept where an
    episode ended); on CUDA: against the CPU."""
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU: torch.cuda.is_available() is False")
    cpu, other = PixelCopter(64), PixelCopter(64, device=device)
    other.sparse_resets = False
    cpu_obs, _ = cpu.reset(seed=5)
    other_obs, _ = other.reset(seed=5)
    rng = np.random.default_rng(0)
    for _ in range(300 if device == "cpu" else 2_000):
        assert torch.equal(cpu_obs, other_obs.cpu())
        actions = torch.as_tensor(pilot(cpu_obs.numpy().astype(np.float64), rng, 0.05))
        cpu_obs, *_ = cpu.step(actions)
        other_obs, *_ = other.step(actions.to(device))
    assert torch.equal(cpu.state["terrain_y"], other.state["terrain_y"].cpu())
