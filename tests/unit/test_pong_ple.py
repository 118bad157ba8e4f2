"""PongPLE: the gymnasium API contract, PLE's rules against a slow transcription of `ple/games/pong.py`, seeding,
snapshots and rendering."""

import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils import seeding
from gymnasium.utils.env_checker import check_env

import pglab.envs  # noqa: F401  (registers pglab/PongPLE-v0)
from pglab.envs.pong_ple import DOWN, NOOP, STATE_KEYS, UP, PongPLEEnv

DT = (1000.0 / 30) / 1000.0


# --- a slow transcription of PLE's Pong, object by object, as PLE(fps=30) and gym_pygame step it -------------


class Vec2d:
    def __init__(self, pos):
        self.x, self.y = pos[0], pos[1]


class Ball:
    def __init__(self, radius, speed, rng, pos_init, screen_width, screen_height):
        self.rng, self.radius, self.speed = rng, radius, speed
        self.pos, self.pos_before = Vec2d(pos_init), Vec2d(pos_init)
        self.vel = Vec2d((speed, -1.0 * speed))
        self.screen_width, self.screen_height = screen_width, screen_height
        self.events = []

    @staticmethod
    def line_intersection(p0_x, p0_y, p1_x, p1_y, p2_x, p2_y, p3_x, p3_y):
        s1_x, s1_y = p1_x - p0_x, p1_y - p0_y
        s2_x, s2_y = p3_x - p2_x, p3_y - p2_y
        s = (-s1_y * (p0_x - p2_x) + s1_x * (p0_y - p2_y)) / (-s2_x * s1_y + s1_x * s2_y)
        t = (s2_x * (p0_y - p2_y) - s2_y * (p0_x - p2_x)) / (-s2_x * s1_y + s1_x * s2_y)
        return s >= 0 and s <= 1 and t >= 0 and t <= 1

    def update(self, agent, cpu, dt):
        self.pos.x += self.vel.x * dt
        self.pos.y += self.vel.y * dt
        is_pad_hit = False
        if self.pos.x <= agent.pos.x + agent.rect_width and self.line_intersection(
            self.pos_before.x,
            self.pos_before.y,
            self.pos.x,
            self.pos.y,
            agent.pos.x + agent.rect_width / 2,
            agent.pos.y - agent.rect_height / 2,
            agent.pos.x + agent.rect_width / 2,
            agent.pos.y + agent.rect_height / 2,
        ):
            self.pos.x = max(0, self.pos.x)
            self.vel.x = -1 * (self.vel.x + self.speed * 0.05)
            self.vel.y += agent.vel.y * 2.0
            self.pos.x += self.radius
            is_pad_hit = True
            self.events.append("agent_hit")
        if self.pos.x >= cpu.pos.x - cpu.rect_width and self.line_intersection(
            self.pos_before.x,
            self.pos_before.y,
            self.pos.x,
            self.pos.y,
            cpu.pos.x - cpu.rect_width / 2,
            cpu.pos.y - cpu.rect_height / 2,
            cpu.pos.x - cpu.rect_width / 2,
            cpu.pos.y + cpu.rect_height / 2,
        ):
            self.pos.x = min(self.screen_width, self.pos.x)
            self.vel.x = -1 * (self.vel.x + self.speed * 0.05)
            self.vel.y += cpu.vel.y * 0.006
            self.pos.x -= self.radius
            is_pad_hit = True
            self.events.append("cpu_hit")
        if is_pad_hit:
            self.vel.y += self.rng.random_sample() * 0.001 - 0.0005
        if self.pos.y - self.radius <= 0:
            self.vel.y *= -0.99
            self.pos.y += 1.0
            self.events.append("wall")
        if self.pos.y + self.radius >= self.screen_height:
            self.vel.y *= -0.99
            self.pos.y -= 1.0
            self.events.append("wall")
        self.pos_before.x = self.pos.x
        self.pos_before.y = self.pos.y


class Player:
    def __init__(self, speed, rect_width, rect_height, pos_init, screen_width, screen_height):
        self.speed, self.rect_width, self.rect_height = speed, rect_width, rect_height
        self.pos, self.vel = Vec2d(pos_init), Vec2d((0, 0))
        self.screen_width, self.screen_height = screen_width, screen_height

    def update(self, dy, dt):
        self.vel.y += dy * dt
        self.vel.y *= 0.9
        self.pos.y += self.vel.y
        if self.pos.y - self.rect_height / 2 <= 0:
            self.pos.y = self.rect_height / 2
            self.vel.y = 0.0
        if self.pos.y + self.rect_height / 2 >= self.screen_height:
            self.pos.y = self.screen_height - self.rect_height / 2
            self.vel.y = 0.0

    def update_cpu(self, ball, dt):
        dy = 0.0
        if ball.vel.x >= 0 and ball.pos.x >= self.screen_width / 2:
            dy = self.speed
            if self.pos.y > ball.pos.y:
                dy = -1.0 * dy
        else:
            dy = 1.0 * self.speed / 4.0
            if self.pos.y > self.screen_height / 2.0:
                dy = -1.0 * self.speed / 4.0
        if self.pos.y - self.rect_height / 2 <= 0:
            self.pos.y = self.rect_height / 2
            self.vel.y = 0.0
        if self.pos.y + self.rect_height / 2 >= self.screen_height:
            self.pos.y = self.screen_height - self.rect_height / 2
            self.vel.y = 0.0
        self.pos.y += dy * dt


def percent_round_int(percent, x):
    return np.round(percent * x).astype(int)


class ReferencePong:
    """PLE's `Pong` game plus what `PLE.act` and gym_pygame's `BaseEnv.step` add (score-delta rewards)."""

    K_W, K_S = "w", "s"

    def __init__(self, rng, width=64, height=48):
        self.width, self.height, self.rng = width, height, rng
        self.actions = {"up": self.K_W, "down": self.K_S}
        self.action_set = [*self.actions.values(), None]  # PLE's getActionSet with the NOOP appended
        self.rewards = {"positive": 1.0, "negative": -1.0, "tick": 0, "loss": -5.0, "win": 5.0}
        self.ball_radius = percent_round_int(height, 0.03)
        self.cpu_speed_ratio, self.players_speed_ratio, self.ball_speed_ratio = 0.6, 0.4, 0.75
        self.paddle_width = percent_round_int(width, 0.023)
        self.paddle_height = percent_round_int(height, 0.15)
        self.paddle_dist_to_wall = percent_round_int(width, 0.0625)
        self.max_score = 11

    def init(self):
        self.score_counts = {"agent": 0.0, "cpu": 0.0}
        self.score_sum = 0.0
        self.ball = Ball(
            self.ball_radius,
            self.ball_speed_ratio * self.height,
            self.rng,
            (self.width / 2, self.height / 2),
            self.width,
            self.height,
        )
        self.agent = Player(
            self.players_speed_ratio * self.height,
            self.paddle_width,
            self.paddle_height,
            (self.paddle_dist_to_wall, self.height / 2),
            self.width,
            self.height,
        )
        self.cpu = Player(
            self.cpu_speed_ratio * self.height,
            self.paddle_width,
            self.paddle_height,
            (self.width - self.paddle_dist_to_wall, self.height / 2),
            self.width,
            self.height,
        )

    def reset(self):
        self.init()
        self._reset_ball(1 if self.rng.random_sample() > 0.5 else -1)
        self.previous_score = 0.0

    def _reset_ball(self, direction):
        self.ball.pos.x = self.width / 2
        self.ball.vel.x = self.ball.speed * direction
        self.ball.vel.y = (self.rng.random_sample() * self.ball.speed) - self.ball.speed * 0.5

    def game_over(self):
        return self.score_counts["agent"] == self.max_score or self.score_counts["cpu"] == self.max_score

    def step_game(self, key, dt):
        dt /= 1000.0
        self.agent.speed = self.players_speed_ratio * self.height
        self.cpu.speed = self.cpu_speed_ratio * self.height
        self.ball.speed = self.ball_speed_ratio * self.height
        dy = 0  # _handle_player_events: only this step's KEYDOWN moves the paddle
        if key == self.K_W:
            dy = -self.agent.speed
        if key == self.K_S:
            dy = self.agent.speed
        self.score_sum += self.rewards["tick"]
        self.ball.update(self.agent, self.cpu, dt)
        is_terminal_state = False
        if self.ball.pos.x <= 0:
            self.score_sum += self.rewards["negative"]
            self.score_counts["cpu"] += 1.0
            self._reset_ball(-1)
            is_terminal_state = True
        if self.ball.pos.x >= self.width:
            self.score_sum += self.rewards["positive"]
            self.score_counts["agent"] += 1.0
            self._reset_ball(1)
            is_terminal_state = True
        if is_terminal_state:
            if self.score_counts["agent"] == self.max_score:
                self.score_sum += self.rewards["win"]
            if self.score_counts["cpu"] == self.max_score:
                self.score_sum += self.rewards["loss"]
        else:
            self.agent.update(dy, dt)
            self.cpu.update_cpu(self.ball, dt)

    def act(self, action):
        """gym_pygame's step: PLE.act(action_set[action]) at fps=30 (force_fps: dt = 1000 / 30 ms)."""
        if not self.game_over():
            self.step_game(self.action_set[action], 1000.0 / 30)
        reward = self.score_sum - self.previous_score
        self.previous_score = self.score_sum
        return self.state(), reward, self.game_over()

    def state(self):
        values = [
            self.agent.pos.y,
            self.agent.vel.y,
            self.cpu.pos.y,
            self.ball.pos.x,
            self.ball.pos.y,
            self.ball.vel.x,
            self.ball.vel.y,
        ]
        return np.array(values, dtype=np.float32)  # gym_pygame's get_ob

    def load(self, env: PongPLEEnv) -> None:
        """Start from the env's current state (for states a short test would not reach by playing)."""
        self.agent.pos.y, self.agent.vel.y, self.cpu.pos.y = env.player_y, env.player_vel, env.cpu_y
        self.ball.pos.x, self.ball.pos.y, self.ball.vel.x, self.ball.vel.y = (
            env.ball_x,
            env.ball_y,
            env.ball_vx,
            env.ball_vy,
        )
        self.ball.pos_before.x, self.ball.pos_before.y = env.ball_prev_x, env.ball_prev_y
        self.score_counts = {"agent": float(env.agent_score), "cpu": float(env.cpu_score)}


def reference_for(seed: int) -> ReferencePong:
    """The reference game reset with the RandomState `PongPLEEnv.reset(seed=seed)` seeds from gymnasium's."""
    np_random, _ = seeding.np_random(seed)
    reference = ReferencePong(np.random.RandomState(int(np_random.integers(2**31 - 1))))
    reference.reset()
    return reference


def aiming_policy(offset: float):
    """Meets the ball `offset` px off the paddle's centre while moving (the hits that can beat the CPU)."""

    def act(obs, rng):
        target = obs[4] + (offset if obs[6] > 0 else -offset) if obs[3] < 20 else obs[4]
        return UP if target < obs[0] else DOWN

    return act


def random_policy(obs, rng):
    return int(rng.integers(3))


def tracking_policy(obs, rng):
    if rng.random() < 0.2:
        return NOOP
    return UP if obs[4] < obs[0] else DOWN


def play_both(env, reference, policy, rng, max_steps):
    """Step the env and the reference with the same actions; assert every step equal; return the events."""
    events = {"steps": 0, "agent_points": 0, "cpu_points": 0, "wins": 0, "losses": 0, "clamps": 0}
    obs = reference.state()
    for _ in range(max_steps):
        action = policy(obs, rng)
        obs, reward, terminated, truncated, _ = env.step(action)
        ref_obs, ref_reward, ref_terminated = reference.act(action)
        np.testing.assert_array_equal(obs, ref_obs)
        assert (reward, terminated, truncated) == (ref_reward, ref_terminated, False)
        events["steps"] += 1
        events["agent_points"] += reward in (1.0, 6.0)
        events["cpu_points"] += reward in (-1.0, -6.0)
        events["wins"] += reward == 6.0
        events["losses"] += reward == -6.0
        events["clamps"] += obs[0] in (3.5, 44.5)
        if terminated:
            break
    for name in ("agent_hit", "cpu_hit", "wall"):
        events[name] = reference.ball.events.count(name)
    return events


def test_passes_gymnasium_env_checker():
    check_env(PongPLEEnv(render_mode="rgb_array"), skip_render_check=False)
    check_env(PongPLEEnv(obs_type="pixels", render_mode="rgb_array"), skip_render_check=False)
    env = gym.make("pglab/PongPLE-v0")
    assert env.spec.max_episode_steps == 10_000 and env.action_space.n == 3


@pytest.mark.parametrize(
    "policy, seeds",
    [(random_policy, range(0, 12)), (tracking_policy, range(12, 20)), (aiming_policy(2.0), range(20, 26))],
    ids=["random", "tracking", "aiming"],
)
def test_whole_games_equal_the_slow_transcription_of_ple(policy, seeds):
    totals: dict[str, int] = {}
    for seed in seeds:
        env = PongPLEEnv()
        obs, _ = env.reset(seed=seed)
        reference = reference_for(seed)
        np.testing.assert_array_equal(obs, reference.state())
        events = play_both(env, reference, policy, np.random.default_rng(seed), max_steps=4000)
        totals = {k: totals.get(k, 0) + v for k, v in events.items()}
    # The games exercised every rule: both paddles' hits (with PLE's random term), the walls, both sides'
    # points, the paddle's clamp at the walls, and games lost at 11.
    assert totals["agent_hit"] > 20 and totals["cpu_hit"] > 20 and totals["wall"] > 20, totals
    assert totals["clamps"] > 0, totals
    if policy is random_policy:
        assert totals["losses"] == len(seeds) and totals["cpu_points"] == 11 * len(seeds), totals
    else:
        assert totals["agent_points"] > 0 and totals["cpu_points"] > 0, totals


def test_the_winning_point_equals_the_transcription_and_pays_six():
    # Scoring 11 takes an agent a long game: start from 10 - 10 (copied into the reference) instead.
    env = PongPLEEnv()
    env.reset(seed=40)
    reference = reference_for(40)
    env.agent_score = env.cpu_score = 10
    reference.load(env)
    events = play_both(env, reference, aiming_policy(2.0), np.random.default_rng(0), max_steps=20_000)
    assert events["wins"] + events["losses"] == 1 and events["steps"] < 20_000
    for seed in range(41, 46):
        env = PongPLEEnv()
        env.reset(seed=seed)
        reference = reference_for(seed)
        env.agent_score = reference.score_counts["agent"] = 10
        reference.load(env)
        events = play_both(env, reference, aiming_policy(2.0), np.random.default_rng(seed), 20_000)
        if events["wins"]:
            break
    assert events["wins"] == 1, "the aiming policy wins one of these points"


def test_a_passive_agent_loses_eleven_nil_for_minus_sixteen():
    env = gym.make("pglab/PongPLE-v0")
    obs, _ = env.reset(seed=3)
    assert obs[[0, 1, 2, 3, 4]].tolist() == [24.0, 0.0, 24.0, 32.0, 24.0]
    assert abs(obs[5]) == pytest.approx(36.0) and abs(obs[6]) <= 18.0  # 0.75 h px/s; U(-0.5, 0.5) ball speeds
    rewards, terminated, steps = [], False, 0
    while not terminated:
        _, reward, terminated, truncated, info = env.step(NOOP)
        rewards.append(reward)
        steps += 1
        assert not truncated
    assert sum(rewards) == -16.0 and info["score"] == (0, 11)
    assert sorted(r for r in rewards if r) == [-6.0] + [-1.0] * 10
    assert 300 < steps < 700  # the ball crosses 64 px at 1.2 px a step, about 27 to 53 steps a point


def test_paddle_physics_follow_ples_recurrence_and_stop_at_the_walls():
    env = PongPLEEnv()
    env.reset(seed=0)
    env.ball_x, env.ball_vx = 32.0, 1e-9  # a ball that stays in the middle: no point, no hit
    env.ball_prev_x = env.ball_x
    y, vel, clamped = 24.0, 0.0, 0
    for step in range(36):
        action = UP if step < 30 else DOWN
        vel = (vel + (-19.2 if action == UP else 19.2) * DT) * 0.9
        y += vel
        if y - 3.5 <= 0:
            y, vel, clamped = 3.5, 0.0, clamped + 1
        obs, *_ = env.step(action)
        assert obs[0] == np.float32(y) and obs[1] == np.float32(vel), step
    assert clamped > 5 and 3.5 < y < 44.5  # the paddle rested at the top wall, then came back down
    # The terminal velocity of holding a key: v = 0.9 (v + 0.64), so v -> 5.76 px per step.
    env.player_y, env.player_vel = 24.0, 0.0
    for _ in range(12):
        obs, *_ = env.step(DOWN)
    assert obs[0] == 44.5 and obs[1] == 0.0  # clamped at h - 3.5 with its velocity zeroed


def test_cpu_chases_a_ball_coming_its_way_and_drifts_otherwise():
    env = PongPLEEnv()
    env.reset(seed=0)
    env.ball_x, env.ball_y, env.ball_vx, env.ball_vy = 40.0, 10.0, 36.0, 0.0
    env.ball_prev_x, env.ball_prev_y = env.ball_x, env.ball_y
    env.cpu_y = 30.0
    obs, *_ = env.step(NOOP)
    assert obs[2] == np.float32(30.0 - 28.8 * DT)  # full speed (0.6 h px/s) towards the ball
    env.ball_vx = -36.0
    before = env.cpu_y
    obs, *_ = env.step(NOOP)
    assert obs[2] == np.float32(before - 7.2 * DT)  # a quarter speed towards the middle (it is below it)


def test_a_paddle_hit_reverses_the_ball_with_ples_random_term():
    env = PongPLEEnv()
    env.reset(seed=5)
    env.player_y, env.player_vel = 24.0, 0.0
    env.ball_x, env.ball_y, env.ball_vx, env.ball_vy = 5.5, 24.0, -36.0, 0.0
    env.ball_prev_x, env.ball_prev_y = env.ball_x, env.ball_y
    state = env._rng.get_state()
    obs, reward, *_ = env.step(NOOP)
    draw = np.random.RandomState()
    draw.set_state(state)
    # The path from x = 5.5 to 4.3 crosses the paddle's centre line x = 4.5: vx = -(-36 + 1.8) = 34.2, the ball
    # pushed back by its radius, vy = U(-0.0005, 0.0005) from PLE's RandomState.
    assert reward == 0.0 and obs[3] == np.float32(5.5 - 36 * DT + 1) and obs[5] == np.float32(34.2)
    assert obs[6] == np.float32(draw.random_sample() * 0.001 - 0.0005)


def test_seeded_resets_repeat_and_snapshots_continue_exactly():
    def episode(env, seed, steps=300):
        obs, _ = env.reset(seed=seed)
        out = [obs]
        for t in range(steps):
            obs, _, terminated, _, _ = env.step(t % 3)
            out.append(obs)
            if terminated:
                break
        return np.stack(out)

    np.testing.assert_array_equal(episode(PongPLEEnv(), 5), episode(PongPLEEnv(), 5))
    assert not np.array_equal(episode(PongPLEEnv(), 5), episode(PongPLEEnv(), 6))
    env = PongPLEEnv()
    env.reset(seed=9)
    for t in range(100):
        env.step(t % 3)
    copy = PongPLEEnv()
    copy.restore(env.snapshot())
    assert [getattr(copy, key) for key in STATE_KEYS] == [getattr(env, key) for key in STATE_KEYS]
    for t in range(600):
        a, b = env.step((t * 7) % 3), copy.step((t * 7) % 3)
        np.testing.assert_array_equal(a[0], b[0])
        assert a[1:3] == b[1:3]
        if a[2]:
            break


def test_rendering_draws_both_paddles_and_the_ball():
    env = PongPLEEnv(obs_type="pixels", render_mode="rgb_array")
    frame, _ = env.reset(seed=0)
    assert frame.shape == (3, 48, 64) and frame.dtype == np.uint8
    image = env.render()
    np.testing.assert_array_equal(image.transpose(2, 0, 1), frame)
    assert (image[21:28, 4] == 255).all() and (image[21:28, 60] == 255).all()  # 7 px paddles centred at y 24
    assert (image[23:25, 31:33] == 255).all()  # the ball's 2 x 2 box at (32, 24)
    white = (image == 255).all(axis=2).sum()
    assert white == 7 + 7 + 4
    assert math.isclose(env.game_state()[0], 24.0)
