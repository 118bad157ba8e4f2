"""PixelCopter: the gymnasium API contract, PLE's dynamics and rewards against a slow reference, seeding."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import pglab.envs  # noqa: F401  (registers pglab/PixelCopter-v0)
from pglab.envs.pixelcopter import NOOP, UP, PixelCopterEnv

DT = 1000.0 / 30


@pytest.mark.parametrize("obs_type", ["state", "pixels"])
def test_passes_gymnasium_env_checker(obs_type):
    check_env(PixelCopterEnv(obs_type=obs_type, render_mode="rgb_array"), skip_render_check=False)


def test_momentum_physics_match_ple_recurrence():
    env = PixelCopterEnv()
    env.reset(seed=3)
    block_x = env.blocks[0].x
    speed = 0.0004 * 48
    y, momentum = 24.0, 0.0
    actions = [NOOP] * 8 + [UP, NOOP, NOOP, UP, NOOP, NOOP]
    for action in actions:
        momentum = (momentum + (speed * -0.875 if action == UP else speed * 0.09) * DT) * 0.99
        y += momentum
        obs, _, terminated, _, _ = env.step(action)
        assert not terminated
        assert obs[0] == pytest.approx(y, abs=1e-4) and obs[1] == pytest.approx(momentum, abs=1e-6)
    # Ceiling and floor are 0.25 h above and below the column's centre: the two distances add up to h / 2.
    assert obs[2] + obs[3] == pytest.approx(24.0)
    # PLE reports the block's "bottom" as its centre plus its height (int(0.2 * 48) = 9), and its distance
    # from the copter's centre x (16) as it scrolls left by 0.64 px per step.
    assert obs[6] - obs[5] == pytest.approx(9.0)
    assert obs[4] == pytest.approx(block_x - 0.0004 * 48 * DT * len(actions) - 16, abs=1e-4)


def test_rewards_count_columns_and_blocks_passed_and_death_costs_five():
    env = PixelCopterEnv()
    obs, _ = env.reset(seed=6)
    columns = [t.x for t in env.terrain]  # initial centres 2, 6, 10, ...: each scores when it reaches x <= -4
    block_x = env.blocks[0].x
    shift = 0.0004 * 48 * DT  # 0.64 px per step
    total_steps, rewards = 0, []
    terminated = False
    while not terminated and total_steps < 400:
        # A hand policy that survives a while: thrust when nearer the floor than the ceiling and not rising fast.
        action = UP if obs[3] < obs[2] + 2 and obs[1] > -0.3 else NOOP
        obs, reward, terminated, _, _ = env.step(action)
        total_steps += 1
        rewards.append(reward)
    assert terminated, "the hand policy crashes eventually"
    k = np.arange(1, total_steps + 1)
    expected = np.array(
        [sum(x - shift * step <= -4 < x - shift * (step - 1) for x in columns) for step in k], float
    )
    expected += np.array([block_x - shift * step <= 16 < block_x - shift * (step - 1) for step in k], float)
    expected[-1] += -5.0
    # Columns added later and later blocks also score: compare the steps the initial layout predicts (the next
    # block enters at x >= 48 when the first passes, so it needs at least (48 - 16) / 0.64 = 50 more steps).
    first_block_pass = int(np.ceil((block_x - 16) / shift))
    horizon = min(int((columns[-1] + 4) / shift) - 1, first_block_pass + 50)
    assert horizon > 100
    np.testing.assert_array_equal(
        np.array(rewards)[: min(horizon, total_steps - 1)], expected[: min(horizon, total_steps - 1)]
    )
    assert rewards[-1] in (-5.0, -4.0) and set(rewards[:-1]) <= {0.0, 1.0, 2.0}
    assert rewards[9] == 1.0 and sum(rewards[:9]) == 0.0  # the first column (x = 2) leaves at step 10


def test_falling_without_thrust_dies_at_the_computed_step():
    env = PixelCopterEnv()
    env.reset(seed=1)
    columns = [(t.x, t.y) for t in env.terrain]
    speed = 0.0004 * 48
    shift = speed * DT
    # Slow reference: the copter's rect spans x in [15, 17) (centre int(0.35 * 48) = 16, width int(2.4) = 2);
    # a column of width 4 centred at x covers [int(x) - 2, int(x) + 2); the copter dies when its centre reaches
    # the floor (column centre + 12) of a column it overlaps, or goes below 0.875 * 48 = 42.
    y, momentum, expected = 24.0, 0.0, None
    for step in range(1, 200):
        momentum = (momentum + speed * 0.09 * DT) * 0.99
        y += momentum
        under = [
            cy for cx, cy in columns if int(cx - shift * step) - 2 < 17 and int(cx - shift * step) + 2 > 15
        ]
        if any(y >= cy + 12 for cy in under) or y > 42:
            expected = step
            break
    assert expected is not None and expected > 5
    for step in range(1, expected + 1):
        obs, reward, terminated, _, _ = env.step(NOOP)
        assert terminated == (step == expected), step
    assert reward == -5.0 and obs[0] == pytest.approx(y, abs=1e-4)


def flat_cave(env: PixelCopterEnv, y: float) -> None:
    """Every column centred at 24 (ceiling 12, floor 36), the block far ahead, the copter at rest at `y`."""
    for t in env.terrain:
        t.y = 24
    env.blocks[0].x = 1000.0
    env.player.y, env.momentum = y, 0.0


def test_ceiling_test_uses_the_copters_float_height():
    # After one no-op step the copter sinks by (0.0192 * 0.09 * DT) * 0.99 = 0.0570 px. PLE kills it when
    # y - 0.05 h <= ceiling (0.05 h = 2.4 px), although its rectangle is only int(2.4) = 2 px tall.
    sink = 0.0004 * 48 * 0.09 * DT * 0.99
    for y_after, dies in ((12 + 2.2, True), (12 + 2.35, True), (12 + 2.5, False)):
        env = PixelCopterEnv()
        env.reset(seed=0)
        flat_cave(env, y_after - sink)
        obs, reward, terminated, _, _ = env.step(NOOP)
        assert obs[0] == pytest.approx(y_after)
        assert terminated == dies and reward == (-5.0 if dies else 0.0), y_after


def test_a_zero_size_copter_never_collides_as_in_pygame():
    # At 16 x 16 the copter is int(0.8) = 0 px wide: pygame's colliderect never reports a zero-size rect, so
    # only the band (y < 2 or y > 14) ends the episode, even inside the block or the cave's walls.
    for small in (True, False):
        size = 16 if small else 48
        env = PixelCopterEnv(width=size, height=size)
        env.reset(seed=0)
        flat_cave(env, size / 2)
        block = env.blocks[0]
        block.x, block.y = env.player.x + env.speed * DT, size / 2  # lands on the copter after one step
        _, _, terminated, _, _ = env.step(UP)
        assert terminated != small


def test_seeded_resets_repeat_episodes_and_pixels_show_the_copter():
    def episode(seed):
        env = gym.make("pglab/PixelCopter-v0")
        obs, _ = env.reset(seed=seed)
        out = [obs]
        for t in range(60):
            obs, _, terminated, _, _ = env.step(UP if t % 3 == 0 else NOOP)
            if terminated:
                break
            out.append(obs)
        return np.stack(out)

    np.testing.assert_array_equal(episode(5), episode(5))
    assert not np.array_equal(episode(5), episode(6))
    env = PixelCopterEnv(obs_type="pixels")
    frame, _ = env.reset(seed=0)
    assert frame.shape == (3, 48, 48) and frame.dtype == np.uint8
    left, top, right, bottom = env.player.rect()
    assert (frame[:, top:bottom, left:right] == 255).all()  # the white copter at its rectangle
    assert (frame[1] == 240).any()  # green cave walls
