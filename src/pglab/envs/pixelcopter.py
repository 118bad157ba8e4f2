"""PixelCopter as a native gymnasium environment, following the PyGame Learning Environment's game.

PLE (https://github.com/ntasfi/PyGame-Learning-Environment, MIT license) is not installable from the package
registry and does not speak gymnasium, so pglab carries the game itself. The rules follow
`ple/games/pixelcopter.py` with PLE's defaults (30 fps, so each step advances the game by dt = 1000/30 ms;
rewards +1 "positive", -5 "loss", 0 per tick):

- Screen `width` x `height` (48 x 48 by default); every size scales with them. The copter is a
  0.05w x 0.05h box at x = int(0.35 w), starting at y = h/2.
- Momentum physics: each step `momentum += (climb if up else fall) * dt`, `momentum *= 0.99`,
  `y += momentum`, with climb = -0.875 speed, fall = 0.09 speed and speed = 0.0004 w (pixels per ms).
- The cave: columns 0.1 w wide scroll left at `speed`; column i's centre height is
  h/2 + 0.125 h sin(freq x_i + U(0, 0.5)), with freq = 4.5/w + U(-0.01, 0.01) per batch of columns. The copter
  dies when its top reaches the ceiling (centre - 0.25 h) or its centre the floor (centre + 0.25 h) of a
  column it overlaps.
- One obstacle block (0.1 w x 0.2 h) at a time, entering at x in [w, 1.5 w] at a height away from the middle;
  touching it kills. The copter also dies above 0.125 h or below 0.875 h.
- Rewards as PLE computes them (the change of the game score in a step): +1 for each column that scrolls off
  the screen and for each block the copter passes, -5 on the death step (plus any +1 of that same step).
- Actions `Discrete(2)`: 0 = up (PLE's "w" key), 1 = no-op.

Geometry is kept in floats as PLE's positions are; collisions use integer rectangles as pygame's sprites do
(`int` truncation of sizes and centres, strict overlap, zero-size rects never collide). The ceiling test uses
the copter's float height 0.05 h, as PLE's does, while its rectangle is int(0.05 h) pixels tall.

Observations (`obs_type`):
- "state": PLE's 7 game-state values in its order: player y, player velocity, distance to ceiling, distance
  to floor, next block's horizontal distance, next block top, next block bottom (PLE's "bottom" is the
  block's centre plus its height, a quirk kept as is). `normalize=True` divides lengths by the screen size
  and the velocity by the copter's height (so one unit is one copter height per step).
- "pixels": the rendered frame, channels first, `(3, height, width)` uint8, for `network=cnn`.
"""

import math
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from pglab.rng import pack_random_state, unpack_random_state

FPS = 30
REWARD_POSITIVE = 1.0
REWARD_LOSS = -5.0
GREEN = (120, 240, 80)
WHITE = (255, 255, 255)
UP, NOOP = 0, 1


@dataclass
class Sprite:
    """A scrolling or moving box: float centre (x, y) and integer rectangle size, as a pygame sprite."""

    x: float
    y: float
    width: int
    height: int

    def rect(self) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) of pygame's rect: centre truncated to int, then minus half the size."""
        left = int(self.x) - self.width // 2
        top = int(self.y) - self.height // 2
        return left, top, left + self.width, top + self.height

    def overlaps(self, other: "Sprite") -> bool:
        """pygame's `colliderect`: strict overlap; a rect of zero width or height collides with nothing."""
        if min(self.width, self.height, other.width, other.height) <= 0:
            return False
        a, b = self.rect(), other.rect()
        return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


class PixelCopterEnv(gym.Env):
    """Args:
    width, height: screen size in pixels.
    obs_type: "state" (7 values) or "pixels" (rendered frame, channels first).
    normalize: scale the state values (obs_type="state").
    render_mode: None or "rgb_array".
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": FPS}

    def __init__(
        self,
        width: int = 48,
        height: int = 48,
        obs_type: str = "state",
        normalize: bool = False,
        render_mode: str | None = None,
    ):
        if obs_type not in ("state", "pixels"):
            raise ValueError(f"obs_type={obs_type!r}: choose 'state' or 'pixels'")
        if not (0 < width < 2000 and 0 < height < 2000):
            raise ValueError(f"width={width}, height={height}: both must be in (0, 2000)")
        self.width, self.height = int(width), int(height)
        self.obs_type, self.normalize, self.render_mode = obs_type, normalize, render_mode
        self.dt = 1000.0 / FPS
        self.speed = 0.0004 * self.width
        self.climb_speed = self.speed * -0.875
        self.fall_speed = self.speed * 0.09
        self.action_space = gym.spaces.Discrete(2)
        if obs_type == "state":
            self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(7,), dtype=np.float32)
        else:
            self.observation_space = gym.spaces.Box(
                0, 255, shape=(3, self.height, self.width), dtype=np.uint8
            )
        self._rng: np.random.RandomState | None = None

    # --- PLE's game -------------------------------------------------------------------------------------

    def _add_terrain(self, start: int, end: int) -> None:
        w = int(self.width * 0.1)
        steps = range(start + w // 2, end + w // 2, w)
        freq = 4.5 / self.width + self._rng.uniform(-0.01, 0.01)
        for step in steps:
            jitter = (self.height * 0.125) * math.sin(freq * step + self._rng.uniform(0.0, 0.5))
            self.terrain.append(Sprite(step, int(self.height / 2.0 + jitter), w, int(self.height * 1.5)))

    def _add_block(self) -> None:
        x = self._rng.randint(self.width, int(self.width * 1.5))
        y = self._rng.randint(int(self.height * -0.25), int(self.height * 0.25))
        if y < 0:
            y -= int(self.height * 0.10)
        if y > 0:
            y += int(self.height * 0.10)
        y += int(self.height * 0.50)
        self.blocks.append(Sprite(x, y, int(self.width * 0.1), int(self.height * 0.2)))

    def _current_terrain(self) -> Sprite:
        hits = [t for t in self.terrain if t.overlaps(self.player)]
        return hits[0] if hits else min(self.terrain, key=lambda t: abs(t.x - self.player.x))

    def game_state(self) -> np.ndarray:
        """PLE's `getGameState()` values, in its order (raw pixels and pixels per step)."""
        ahead = [(b.x - self.player.x, b) for b in self.blocks if b.x - self.player.x > 0]
        dist, block = min(ahead, key=lambda d: d[0]) if ahead else (999.0, self.blocks[-1])
        terrain = self._current_terrain()
        return np.array(
            [
                self.player.y,
                self.momentum,
                self.player.y - (terrain.y - self.height * 0.25),
                (terrain.y + self.height * 0.25) - self.player.y,
                dist,
                block.y,
                block.y + block.height,
            ],
            dtype=np.float64,
        )

    def _observation(self) -> np.ndarray:
        if self.obs_type == "pixels":
            return self.render_frame().transpose(2, 0, 1).copy()
        state = self.game_state()
        if self.normalize:
            size = np.array(
                [
                    self.height,
                    0.05 * self.height,
                    self.height,
                    self.height,
                    self.width,
                    self.height,
                    self.height,
                ]
            )
            state = state / size
        return state.astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        # PLE draws from a numpy RandomState; seed one from gymnasium's generator, so `reset(seed=s)` repeats.
        self._rng = np.random.RandomState(int(self.np_random.integers(2**31 - 1)))
        self.player = Sprite(
            int(self.width * 0.35), self.height / 2, int(self.width * 0.05), int(self.height * 0.05)
        )
        self.player_height = self.height * 0.05  # PLE's float height, used by the ceiling test
        self.momentum = 0.0
        self.blocks: list[Sprite] = []
        self.terrain: list[Sprite] = []
        self._add_block()
        self._add_terrain(0, self.width * 4)
        return self._observation(), {}

    def step(self, action):
        if self._rng is None:
            raise RuntimeError("call reset() before step()")
        reward = 0.0
        lives = 1
        self.momentum += (self.climb_speed if int(action) == UP else self.fall_speed) * self.dt
        self.momentum *= 0.99
        self.player.y += self.momentum
        for sprite in (*self.blocks, *self.terrain):
            sprite.x -= self.speed * self.dt

        lives -= sum(block.overlaps(self.player) for block in self.blocks)
        for t in self.terrain:
            if t.overlaps(self.player):
                if self.player.y - self.player_height <= t.y - self.height * 0.25:
                    lives -= 1
                if self.player.y >= t.y + self.height * 0.25:
                    lives -= 1
        for b in list(self.blocks):
            if b.x <= self.player.x and len(self.blocks) == 1:
                reward += REWARD_POSITIVE
                self._add_block()
            if b.x <= -b.width:
                self.blocks.remove(b)
        for t in list(self.terrain):
            if t.x <= -t.width:
                reward += REWARD_POSITIVE
                self.terrain.remove(t)
        if self.player.y < self.height * 0.125 or self.player.y > self.height * 0.875:
            lives -= 1
        if len(self.terrain) <= 10 + 3:
            self._add_terrain(self.width, self.width * 5)
        terminated = lives <= 0
        if terminated:
            reward += REWARD_LOSS
        return self._observation(), reward, terminated, False, {}

    # --- snapshots (exact resume, see pglab.envs.snapshot) ------------------------------------------------

    def snapshot(self) -> dict:
        """The game's whole state as numbers and tensors."""

        def boxes(sprites: list[Sprite]) -> torch.Tensor:
            return torch.tensor(
                [[s.x, s.y, s.width, s.height] for s in sprites], dtype=torch.float64
            ).reshape(-1, 4)

        return {
            "player": boxes([self.player]),
            "momentum": float(self.momentum),
            "blocks": boxes(self.blocks),
            "terrain": boxes(self.terrain),
            "player_height": float(self.player_height),
            "rng": pack_random_state(self._rng),
        }

    def restore(self, state: dict) -> None:
        def sprites(boxes: torch.Tensor) -> list[Sprite]:
            return [Sprite(float(x), float(y), int(w), int(h)) for x, y, w, h in boxes.tolist()]

        (self.player,) = sprites(state["player"])
        self.momentum = state["momentum"]
        self.blocks, self.terrain = sprites(state["blocks"]), sprites(state["terrain"])
        self.player_height = state["player_height"]
        self._rng = np.random.RandomState()
        self._rng.set_state(unpack_random_state(state["rng"]))

    # --- rendering ------------------------------------------------------------------------------------------

    def render_frame(self) -> np.ndarray:
        """The screen as PLE draws it, `(height, width, 3)` uint8: copter, then blocks, then the cave on top."""
        frame = np.zeros((self.height, self.width, 3), dtype=np.uint8)

        def fill(left: float, top: float, right: float, bottom: float, color: tuple[int, int, int]) -> None:
            x0, x1 = max(int(left), 0), min(int(right), self.width)
            y0, y1 = max(int(top), 0), min(int(bottom), self.height)
            if x0 < x1 and y0 < y1:
                frame[y0:y1, x0:x1] = color

        fill(*self.player.rect(), WHITE)
        for b in self.blocks:
            fill(*b.rect(), GREEN)
        for t in self.terrain:
            left, top, right, _ = t.rect()
            fill(left, top, right, top + self.height * 0.5, GREEN)  # ceiling part of the column's image
            fill(left, top + self.height * 1.05, right, top + self.height * 1.55, GREEN)  # floor part
        return frame

    def render(self):
        if self.render_mode == "rgb_array":
            return self.render_frame()
        return None
