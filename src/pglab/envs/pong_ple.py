"""Pong as the PyGame Learning Environment plays it, as a native gymnasium environment.

This is the Pong of the Hugging Face Deep RL course (`Pong-PLE-v0` of the course's `gym_pygame` wrappers), not
Atari Pong: a 7-value state against a scripted CPU paddle. PLE (https://github.com/ntasfi/PyGame-Learning-Environment,
MIT license) is not installable from the package registry and does not speak gymnasium, so pglab carries the
game, following `ple/games/pong.py` with PLE's defaults as `gym_pygame` uses them (`PLE(game, fps=30)`, so each
step advances the game by dt = (1000 / 30) / 1000 s; one game frame per action; rewards +1 "positive", -1
"negative", +5 "win", -5 "loss", 0 per tick):

- Screen 64 x 48. Paddles round(0.023 w) = 1 px wide and round(0.15 h) = 7 px tall, centred round(0.0625 w) = 4 px
  from their walls; the ball's radius is round(0.03 h) = 1 px. Speeds scale with the height: the agent's paddle
  0.4 h, the CPU's 0.6 h, the ball 0.75 h (pixels per second).
- The agent's paddle: `vel += dy * dt`, `vel *= 0.9`, `y += vel` (so its velocity is in pixels per step), with
  dy = -speed (up), +speed (down) or 0 (no-op), then clamped to the screen (velocity zeroed at a wall).
- The CPU's paddle: when the ball moves right in the right half it chases the ball at full speed, otherwise it
  drifts towards the middle at a quarter speed; it is clamped to the screen *before* it moves, as in PLE, so it
  can overshoot a wall by one step.
- The ball moves by its velocity times dt. It bounces off a paddle when its path since the last step crosses
  the paddle's centre line (PLE's segment intersection), which reverses and changes its x velocity by 5% of the
  ball speed (`vx = -(vx + 0.05 speed)`, so hits by the agent slow it and hits by the CPU speed it up), adds
  twice the agent paddle's velocity (0.006 times the CPU's, which is always 0) to its y velocity, and, as in
  PLE, adds U(-0.0005, 0.0005) so rallies do not loop. Off the top and bottom walls it keeps 99% of its y speed
  and is nudged 1 px back.
- A point when the ball reaches x <= 0 (the CPU scores, -1) or x >= w (the agent scores, +1); the ball then
  restarts from the middle column (its y is kept, as PLE does) towards the side that lost the point, with a
  random y velocity in U(-0.5, 0.5) ball speeds, and the paddles do not move that step. The game is over when
  either side reaches 11 points, with +5 for winning or -5 for losing on that last step.
- Reset: PLE's `reset_game`, the ball in the centre moving towards a random side.

PLE draws its randomness from one numpy `RandomState`; pglab seeds one per `reset(seed=...)` from gymnasium's
generator, so a seeded reset repeats its episode. Positions are kept as PLE keeps them: Python floats (float64)
updated in PLE's order of operations; observations are cast to float32 as `gym_pygame` does. `gym_pygame`
registers the game with no time limit; pglab registers `pglab/PongPLE-v0` with a 10,000-step limit, as it does
PixelCopter (a game lasts about 700 steps when the agent loses every point).

Observations (`obs_type`):
- "state": PLE's `getGameState()` in its order: player y, player velocity, cpu y, ball x, ball y, ball velocity
  x, ball velocity y (pixels; pixels per step for the paddle, pixels per second for the ball).
- "pixels": the rendered frame, channels first, `(3, 48, 64)` uint8, for `network=cnn`.

Actions `Discrete(3)`: 0 = up (PLE's "w" key), 1 = down ("s"), 2 = no-op, PLE's action set order.
"""

import gymnasium as gym
import numpy as np
import torch

from pglab.rng import pack_random_state, unpack_random_state

FPS = 30
WIDTH, HEIGHT = 64, 48
MAX_SCORE = 11
REWARDS = {"positive": 1.0, "negative": -1.0, "win": 5.0, "loss": -5.0}
UP, DOWN, NOOP = 0, 1, 2
WHITE = (255, 255, 255)
#: the names of the game's state, in PLE's order (and the order of `snapshot()`'s "state" tensor)
STATE_KEYS = (
    "player_y",
    "player_vel",
    "cpu_y",
    "ball_x",
    "ball_y",
    "ball_vx",
    "ball_vy",
    "ball_prev_x",
    "ball_prev_y",
    "agent_score",
    "cpu_score",
)


def _percent_round_int(percent: float, x: float) -> int:
    """PLE's `percent_round_int`: numpy's round half to even of the product."""
    return int(np.round(percent * x))


def _segments_cross(p0, p1, p2, p3) -> bool:
    """PLE's `line_intersection`: do the segments p0-p1 and p2-p3 meet (end points included)?

    Parallel segments (a zero denominator, which PLE would divide by) never meet here.
    """
    s1_x, s1_y = p1[0] - p0[0], p1[1] - p0[1]
    s2_x, s2_y = p3[0] - p2[0], p3[1] - p2[1]
    denominator = -s2_x * s1_y + s1_x * s2_y
    if denominator == 0:
        return False
    s = (-s1_y * (p0[0] - p2[0]) + s1_x * (p0[1] - p2[1])) / denominator
    t = (s2_x * (p0[1] - p2[1]) - s2_y * (p0[0] - p2[0])) / denominator
    return 0 <= s <= 1 and 0 <= t <= 1


class PongPLEEnv(gym.Env):
    """Args:
    obs_type: "state" (7 values) or "pixels" (rendered frame, channels first).
    render_mode: None or "rgb_array".
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": FPS}

    def __init__(self, obs_type: str = "state", render_mode: str | None = None):
        if obs_type not in ("state", "pixels"):
            raise ValueError(f"obs_type={obs_type!r}: choose 'state' or 'pixels'")
        self.width, self.height = WIDTH, HEIGHT
        self.obs_type, self.render_mode = obs_type, render_mode
        self.dt = (1000.0 / FPS) / 1000.0
        self.ball_radius = _percent_round_int(self.height, 0.03)
        self.paddle_width = _percent_round_int(self.width, 0.023)
        self.paddle_height = _percent_round_int(self.height, 0.15)
        self.player_x = _percent_round_int(self.width, 0.0625)
        self.cpu_x = self.width - self.player_x
        self.player_speed = 0.4 * self.height
        self.cpu_speed = 0.6 * self.height
        self.ball_speed = 0.75 * self.height
        self.paddle_push = {UP: -self.player_speed, DOWN: self.player_speed, NOOP: 0.0}  # dy of each action
        self.action_space = gym.spaces.Discrete(3)
        if obs_type == "state":
            self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(7,), dtype=np.float32)
        else:
            self.observation_space = gym.spaces.Box(
                0, 255, shape=(3, self.height, self.width), dtype=np.uint8
            )
        self._rng: np.random.RandomState | None = None

    # --- PLE's game -------------------------------------------------------------------------------------

    def _restart_ball(self, direction: int) -> None:
        """PLE's `_reset_ball`: back to the middle column (y kept), towards `direction`, random y velocity."""
        self.ball_x = self.width / 2
        self.ball_vx = self.ball_speed * direction
        self.ball_vy = (self._rng.random_sample() * self.ball_speed) - self.ball_speed * 0.5

    def _move_ball(self) -> None:
        """PLE's `Ball.update`, against the paddles where they stood before this step."""
        self.ball_x += self.ball_vx * self.dt
        self.ball_y += self.ball_vy * self.dt
        prev, now = (self.ball_prev_x, self.ball_prev_y), (self.ball_x, self.ball_y)
        half_w, half_h = self.paddle_width / 2, self.paddle_height / 2
        hit = False
        if self.ball_x <= self.player_x + self.paddle_width:
            line_x = self.player_x + half_w
            if _segments_cross(prev, now, (line_x, self.player_y - half_h), (line_x, self.player_y + half_h)):
                self.ball_x = max(0, self.ball_x)
                self.ball_vx = -1 * (self.ball_vx + self.ball_speed * 0.05)
                self.ball_vy += self.player_vel * 2.0
                self.ball_x += self.ball_radius
                hit = True
        if self.ball_x >= self.cpu_x - self.paddle_width:
            line_x = self.cpu_x - half_w
            if _segments_cross(prev, now, (line_x, self.cpu_y - half_h), (line_x, self.cpu_y + half_h)):
                self.ball_x = min(self.width, self.ball_x)
                self.ball_vx = -1 * (self.ball_vx + self.ball_speed * 0.05)
                self.ball_vy += self.cpu_vel * 0.006
                self.ball_x -= self.ball_radius
                hit = True
        if hit:
            self.ball_vy += self._rng.random_sample() * 0.001 - 0.0005
        if self.ball_y - self.ball_radius <= 0:
            self.ball_vy *= -0.99
            self.ball_y += 1.0
        if self.ball_y + self.ball_radius >= self.height:
            self.ball_vy *= -0.99
            self.ball_y -= 1.0
        self.ball_prev_x, self.ball_prev_y = self.ball_x, self.ball_y

    def _move_player(self, dy: float) -> None:
        """PLE's `Player.update` for the agent's paddle."""
        self.player_vel += dy * self.dt
        self.player_vel *= 0.9
        self.player_y += self.player_vel
        if self.player_y - self.paddle_height / 2 <= 0:
            self.player_y, self.player_vel = self.paddle_height / 2, 0.0
        if self.player_y + self.paddle_height / 2 >= self.height:
            self.player_y, self.player_vel = self.height - self.paddle_height / 2, 0.0

    def _move_cpu(self) -> None:
        """PLE's `Player.updateCpu`: clamp first, then move (so the paddle can overshoot a wall for a step)."""
        if self.ball_vx >= 0 and self.ball_x >= self.width / 2:
            dy = self.cpu_speed
            if self.cpu_y > self.ball_y:
                dy = -1.0 * dy
        else:
            dy = 1.0 * self.cpu_speed / 4.0
            if self.cpu_y > self.height / 2.0:
                dy = -1.0 * self.cpu_speed / 4.0
        if self.cpu_y - self.paddle_height / 2 <= 0:
            self.cpu_y, self.cpu_vel = self.paddle_height / 2, 0.0
        if self.cpu_y + self.paddle_height / 2 >= self.height:
            self.cpu_y, self.cpu_vel = self.height - self.paddle_height / 2, 0.0
        self.cpu_y += dy * self.dt

    def game_state(self) -> np.ndarray:
        """PLE's `getGameState()` values, in its order, float64."""
        return np.array(
            [
                self.player_y,
                self.player_vel,
                self.cpu_y,
                self.ball_x,
                self.ball_y,
                self.ball_vx,
                self.ball_vy,
            ],
            dtype=np.float64,
        )

    def _observation(self) -> np.ndarray:
        if self.obs_type == "pixels":
            return self.render_frame().transpose(2, 0, 1).copy()
        return self.game_state().astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        # PLE draws from a numpy RandomState; seed one from gymnasium's generator, so `reset(seed=s)` repeats.
        self._rng = np.random.RandomState(int(self.np_random.integers(2**31 - 1)))
        # PLE's `init()`: scores 0, paddles centred at rest, the ball in the centre; then `reset()` sends it
        # towards a random side.
        self.agent_score, self.cpu_score = 0, 0
        self.player_y, self.player_vel = self.height / 2, 0.0
        self.cpu_y, self.cpu_vel = self.height / 2, 0.0
        self.ball_x, self.ball_y = self.width / 2, self.height / 2
        self.ball_prev_x, self.ball_prev_y = self.ball_x, self.ball_y
        self._restart_ball(1 if self._rng.random_sample() > 0.5 else -1)
        return self._observation(), {}

    def step(self, action):
        if self._rng is None:
            raise RuntimeError("call reset() before step()")
        action = int(action)
        if not 0 <= action < 3:
            raise ValueError(f"action={action}: PongPLE's actions are 0 (up), 1 (down) and 2 (no-op)")
        dy = self.paddle_push[action]
        reward = 0.0
        self._move_ball()
        point = False
        if self.ball_x <= 0:
            reward += REWARDS["negative"]
            self.cpu_score += 1
            self._restart_ball(-1)
            point = True
        if self.ball_x >= self.width:
            reward += REWARDS["positive"]
            self.agent_score += 1
            self._restart_ball(1)
            point = True
        if point:
            if self.agent_score == MAX_SCORE:
                reward += REWARDS["win"]
            if self.cpu_score == MAX_SCORE:
                reward += REWARDS["loss"]
        else:
            self._move_player(dy)
            self._move_cpu()
        terminated = self.agent_score == MAX_SCORE or self.cpu_score == MAX_SCORE
        info = {"score": (self.agent_score, self.cpu_score)}
        return self._observation(), reward, terminated, False, info

    # --- snapshots (exact resume, see pglab.envs.snapshot) ------------------------------------------------

    def snapshot(self) -> dict:
        """The game's whole state as a float64 tensor (in `STATE_KEYS` order) and the packed RandomState."""
        values = [float(getattr(self, key)) for key in STATE_KEYS]
        return {"state": torch.tensor(values, dtype=torch.float64), "rng": pack_random_state(self._rng)}

    def restore(self, state: dict) -> None:
        for key, value in zip(STATE_KEYS, state["state"].tolist(), strict=True):
            setattr(self, key, int(value) if key.endswith("_score") else value)
        self.cpu_vel = 0.0
        self._rng = np.random.RandomState()
        self._rng.set_state(unpack_random_state(state["rng"]))

    # --- rendering ------------------------------------------------------------------------------------------

    def render_frame(self) -> np.ndarray:
        """The screen as PLE draws it, `(height, width, 3)` uint8: white paddles and ball on black.

        Sprites sit at their centres truncated to int, as pygame's integer rects do; the ball is drawn as its
        2r x 2r box (PLE draws a radius-1 circle into that box).
        """
        frame = np.zeros((self.height, self.width, 3), dtype=np.uint8)

        def box(x: float, y: float, width: int, height: int) -> None:
            left, top = int(x) - width // 2, int(y) - height // 2
            x0, x1 = max(left, 0), min(left + width, self.width)
            y0, y1 = max(top, 0), min(top + height, self.height)
            if x0 < x1 and y0 < y1:
                frame[y0:y1, x0:x1] = WHITE

        box(self.player_x, self.player_y, self.paddle_width, self.paddle_height)
        box(self.cpu_x, self.cpu_y, self.paddle_width, self.paddle_height)
        box(self.ball_x, self.ball_y, 2 * self.ball_radius, 2 * self.ball_radius)
        return frame

    def render(self):
        if self.render_mode == "rgb_array":
            return self.render_frame()
        return None
