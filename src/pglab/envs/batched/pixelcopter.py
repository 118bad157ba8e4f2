"""pglab's PixelCopter (`pglab.envs.pixelcopter.PixelCopterEnv`, `pglab/PixelCopter-v0`) as a batched tensor
program: PLE's game rules, integer-rectangle collisions and rewards, state observations (`obs_type="state"`,
optionally `normalize`d), 10,000-step time limit.

The numpy env keeps its cave and its blocks in Python lists; here they are fixed-shape tensors in list order:

- the cave: `C = 13 + n` column slots (`n` = 48 columns per batch at the default 48 x 48; the numpy env never
  holds more than 13 + n, since it appends a batch only when at most 13 are left), the first `terrain_count`
  of them in use (an unused slot's x is +inf, so it meets nothing). A step removes the columns at x <= -width
  wherever they are in the list and closes up the rest in their order, then appends a new batch behind the
  last, as the numpy env's `list.remove` / `append` do. (At 48 x 48 the list is always sorted by x; at other
  sizes a new batch enters left of the previous batch's last columns, so the list is not, and a column can
  leave from its middle.)
- the blocks: 2 slots, `block_count` in use (an unused slot's x is -inf: it meets nothing and is never ahead):
  the game holds one block, or two from the step the copter passes one (a new one enters) until the passed one
  leaves the screen.

The heights of columns and blocks are integers (the numpy env creates them with `int()`); `read_from` refuses
others.

Both follow the numpy env's float64 arithmetic operation by operation (`int()` is `trunc`; the
integer-rectangle tests are rewritten as the equivalent bounds on trunc(x) and on the integer heights), so
observations, rewards and flags are bit for bit the numpy env's from the same state. The one exception is
`sin` in a new cave column's height `int(h/2 + 0.125 h sin(...))`: torch's float64 `sin` differs from libm's
`math.sin` by one unit in the last place on about 0.2% of arguments, which changes the truncated integer
height only when `h/2 + 0.125 h sin(...)` falls within an ulp of an integer (none in 48 million column
arguments drawn as the game draws them). `pglab.envs.batched.libm.cos_sin` would be libm's exactly on the CPU,
at ~20x the cost of `torch.sin`, paid on every step since every step computes the batch a sub-env may need
(~25% of a step at 1,024 envs), so it is not used.

Randomness: the numpy env draws from a `numpy.random.RandomState` at reset (the block, then the cave's
frequency and its columns' phases) and mid-episode (a new block when the copter passes one, a new batch of
columns when 13 are left). Here draw k of sub-env i's e-th episode is `counter_rng.uniform(seed, i, e, ...)`'s
number k, in the same order: the reset takes draws 0 .. `reset_draws - 1`, and the state's `draws` counts the
numbers taken so far. A draw u stands for the numpy call as follows: `uniform(low, high)` is `low + (high -
low) * u` (numpy's own formula), `randint(low, high)` is `low + floor(u * (high - low))` (numpy's `randint`
maps its random bits differently: same distribution, different numbers). A `RandomState`-like object that
returns these numbers in this order, put in the numpy env's `_rng`, makes the numpy env play the batched env's
episodes exactly (the tests do so).
"""

import math

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

import pglab.envs  # noqa: F401  (registers pglab/PixelCopter-v0, which render_env and the metadata look up)
from pglab.envs.batched.base import BatchedEnv, State
from pglab.envs.pixelcopter import FPS, REWARD_LOSS, REWARD_POSITIVE, UP, Sprite

TERRAIN_LEFT = 10 + 3  # the numpy env appends a batch of columns when at most this many are left


def _trunc_at_least(x: Tensor, m: int) -> Tensor:
    """`trunc(x) >= m` for an integer m, without computing trunc(x)."""
    return x >= m if m > 0 else x > m - 1


def _trunc_at_most(x: Tensor, k: int) -> Tensor:
    """`trunc(x) <= k` for an integer k."""
    return x < k + 1 if k >= 0 else x <= k


class PixelCopter(BatchedEnv):
    """Batched PixelCopter. State entries (N = number of sub-envs, C = cave capacity):

    - `y`, `momentum` `(N,)` float64: the copter's centre height and velocity (pixels, pixels per step);
    - `block_x`, `block_y` `(N, 2)` float64, `block_count` `(N,)` int64: the blocks' centres in list order
      (slot 1 unused, x = -inf, when `block_count` is 1);
    - `terrain_x`, `terrain_y` `(N, C)` float64, `terrain_count` `(N,)` int64: the cave's column centres in
      list order (unused slots: x = +inf, y = 0);
    - `draws` `(N,)` int64: random numbers the episode has drawn so far.

    Actions `(N,)` int64: 0 = up, 1 = no-op (any value other than 0 is a no-op, as in the numpy env).

    Args (beyond `BatchedEnv`'s): width, height, obs_type, normalize as the numpy env's (obs_type "state"
    only).
    """

    gymnasium_id = "pglab/PixelCopter-v0"
    default_max_episode_steps = 10_000
    reset_draws = 2 + 1 + 48  # the block (x, y), the cave's frequency, its 48 columns' phases (at width 48)

    def __init__(
        self,
        num_envs: int,
        device: str | torch.device = "cpu",
        width: int = 48,
        height: int = 48,
        obs_type: str = "state",
        normalize: bool = False,
        **kwargs,
    ):
        if obs_type == "pixels":
            raise ValueError(
                "env.kwargs.obs_type='pixels': the batched PixelCopter (env.vectorization=torch) has state "
                "observations only; use env.kwargs.obs_type=state, or env.vectorization=sync for pixels (as "
                "env=pixelcopter_pixels does)"
            )
        if obs_type != "state":
            raise ValueError(
                f"env.kwargs.obs_type={obs_type!r}: choose 'state' ('pixels' needs env.vectorization=sync)"
            )
        if not (0 < width < 2000 and 0 < height < 2000):
            raise ValueError(f"env.kwargs width={width}, height={height}: both must be in (0, 2000)")
        if int(width * 0.1) < 1 or int(height * 0.25) <= int(height * -0.25):
            raise ValueError(
                f"env.kwargs width={width}, height={height}: PixelCopter needs width >= 10 and height >= 4 "
                "(the numpy env cannot reset below either)"
            )
        self.width, self.height = w, h = int(width), int(height)
        self.obs_type, self.normalize = obs_type, bool(normalize)
        # The numpy env's constants, computed by the same Python float expressions.
        dt = 1000.0 / FPS
        speed = 0.0004 * w
        self.climb_dt = (speed * -0.875) * dt
        self.fall_dt = (speed * 0.09) * dt
        self.shift = speed * dt
        self.player_x = int(w * 0.35)
        self.player_w, self.player_h = int(w * 0.05), int(h * 0.05)
        self.player_height = h * 0.05  # the float height of the ceiling test
        self.block_w, self.block_h = int(w * 0.1), int(h * 0.2)
        self.block_x_range = (w, int(w * 1.5))
        self.block_y_range = (int(h * -0.25), int(h * 0.25))
        self.block_gap, self.block_mid = int(h * 0.10), int(h * 0.50)
        self.terrain_w, self.terrain_h = int(w * 0.1), int(h * 1.5)
        self.half_gap = h * 0.25  # column centre to ceiling / floor
        self.amplitude, self.centre, self.freq_base = h * 0.125, h / 2.0, 4.5 / w
        self.low_band, self.high_band = h * 0.125, h * 0.875
        tw = self.terrain_w
        first = list(range(0 + tw // 2, w * 4 + tw // 2, tw))  # _add_terrain(0, 4 w)
        later = list(range(w + tw // 2, w * 5 + tw // 2, tw))  # _add_terrain(w, 5 w)
        self.columns = len(later)
        self._later_start = later[0]  # the new batch's x: later[0] + width * j
        self.capacity = TERRAIN_LEFT + self.columns
        self.reset_draws = 2 + 1 + len(first)
        self.draws_per_step = 2 + 1 + self.columns  # at most one block and one batch of columns per step
        # The copter's rect [left, left + player_w) overlaps a box of width bw centred at x (rect from
        # trunc(x)) exactly when trunc(x) lies in [low, high]; pygame's zero-size rects meet nothing.
        left = self.player_x - self.player_w // 2
        self._block_hits = min(self.player_w, self.player_h, self.block_w, self.block_h) > 0
        self._terrain_hits = min(self.player_w, self.player_h, self.terrain_w, self.terrain_h) > 0
        self._terrain_span = (left - tw + tw // 2 + 1, left + self.player_w + tw // 2 - 1)
        bw = self.block_w
        self._block_span = (left - bw + bw // 2 + 1, left + self.player_w + bw // 2 - 1)
        self.single_observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(7,), dtype=np.float32)
        self.single_action_space = gym.spaces.Discrete(2)
        super().__init__(num_envs, device, **kwargs)
        self._first = torch.tensor(first, dtype=torch.float64)
        self._later = torch.tensor(later, dtype=torch.float64)
        self._initial_x = torch.full((self.capacity,), math.inf, dtype=torch.float64)
        self._initial_x[: len(first)] = self._first
        self._slots = torch.arange(self.capacity, dtype=torch.int64)
        # `normalize`'s divisors
        self._scale = torch.tensor([h, 0.05 * h, h, h, w, h, h], dtype=torch.float64)
        self._climb = torch.tensor(self.climb_dt, dtype=torch.float64)  # momentum's change per step, up
        self._fall = torch.tensor(self.fall_dt, dtype=torch.float64)  # and no-op
        self._constants_to(self.device)

    def _constants_to(self, device: torch.device) -> None:
        for name in ("_first", "_later", "_initial_x", "_slots", "_scale", "_climb", "_fall"):
            setattr(self, name, getattr(self, name).to(device))

    def to(self, device: str | torch.device) -> "PixelCopter":
        super().to(device)
        self._constants_to(self.device)
        return self

    # ---- the numpy env's random draws ----------------------------------------------------------------------
    def _block(self, u: Tensor) -> tuple[Tensor, Tensor]:
        """`_add_block` from `u` `(N, 2)`: the new block's centre x, y (integer-valued float64)."""
        (x_low, x_high), (y_low, y_high) = self.block_x_range, self.block_y_range
        x = x_low + torch.floor(u[:, 0] * (x_high - x_low))  # randint(x_low, x_high)
        y = y_low + torch.floor(u[:, 1] * (y_high - y_low))
        y = torch.where(y < 0, y - self.block_gap, torch.where(y > 0, y + self.block_gap, y))
        return x, y + self.block_mid

    def _column_heights(self, u: Tensor, steps: Tensor) -> Tensor:
        """`_add_terrain`'s column centre heights `(N, len(steps))` from `u` `(N, 1 + len(steps))`: the cave's
        frequency, then each column's phase."""
        freq = self.freq_base + (-0.01 + (0.01 - -0.01) * u[:, :1])  # uniform(-0.01, 0.01)
        phase = (0.5 - 0.0) * u[:, 1:]  # uniform(0.0, 0.5), whose `0.0 + ` changes no number >= 0
        jitter = self.amplitude * torch.sin(freq * steps + phase)
        return torch.trunc(self.centre + jitter)

    # ---- the game ------------------------------------------------------------------------------------------
    def initial_state(self, uniform: Tensor) -> State:
        n = uniform.shape[0]
        block_x, block_y = self._block(uniform[:, 0:2])
        heights = self._column_heights(uniform[:, 2:], self._first)
        pad = self.capacity - heights.shape[1]
        zeros = torch.zeros(n, dtype=torch.int64, device=uniform.device)
        return {
            "y": torch.full((n,), self.height / 2, dtype=torch.float64, device=uniform.device),
            "momentum": torch.zeros_like(block_x),
            "block_x": torch.stack([block_x, torch.full_like(block_x, -math.inf)], 1),
            "block_y": torch.stack([block_y, torch.zeros_like(block_y)], 1),
            "block_count": zeros + 1,
            "terrain_x": self._initial_x.repeat(n, 1),
            "terrain_y": torch.nn.functional.pad(heights, (0, pad)),
            "terrain_count": zeros + self._first.numel(),
            "draws": zeros + self.reset_draws,
        }

    def _overlaps(
        self, y: Tensor, x: Tensor, cy: Tensor, width: int, height: int, span: tuple[int, int]
    ) -> Tensor:
        """`colliderect` of the copter (centre height `y` `(N,)`) with boxes of size width x height centred
        at `x`, `cy` `(N, K)` (integer heights), as `Sprite.overlaps` computes it, rewritten as bounds on
        trunc(x) (`span`) and on cy: the copter's rect [top, top + ph) overlaps the box's
        [cy - h // 2, cy - h // 2 + h) when top + h // 2 - h < cy < top + ph + h // 2. Unused slots (x = inf
        or -inf) overlap nothing."""
        low, high = span
        top = torch.trunc(y) - self.player_h // 2
        half = height // 2
        return (
            _trunc_at_least(x, low)
            & _trunc_at_most(x, high)
            & (cy > (top + (half - height))[:, None])
            & (cy < (top + (self.player_h + half))[:, None])
        )

    def _block_overlaps(self, y: Tensor, block_x: Tensor, block_y: Tensor) -> Tensor:
        if not self._block_hits:
            return torch.zeros_like(block_x, dtype=torch.bool)
        return self._overlaps(y, block_x, block_y, self.block_w, self.block_h, self._block_span)

    def _terrain_overlaps(self, y: Tensor, terrain_x: Tensor, terrain_y: Tensor) -> Tensor:
        if not self._terrain_hits:
            return torch.zeros_like(terrain_x, dtype=torch.bool)
        return self._overlaps(y, terrain_x, terrain_y, self.terrain_w, self.terrain_h, self._terrain_span)

    def dynamics(self, state: State, actions: Tensor) -> tuple[State, Tensor, Tensor]:
        # The copter: momentum += thrust * dt; momentum *= 0.99; y += momentum
        momentum = (state["momentum"] + torch.where(actions == UP, self._climb, self._fall)) * 0.99
        y = state["y"] + momentum
        # Every sprite scrolls left.
        block_x, block_y = state["block_x"] - self.shift, state["block_y"]
        terrain_x, terrain_y = state["terrain_x"] - self.shift, state["terrain_y"]

        # Collisions (after the scroll, before any sprite leaves or enters).
        block_count = state["block_count"]
        two = block_count == 2
        dead = (y < self.low_band) | (y > self.high_band) | self._block_overlaps(y, block_x, block_y).any(1)
        ceiling = (terrain_y - self.half_gap) >= (y - self.player_height)[:, None]
        floor = (terrain_y + self.half_gap) <= y[:, None]
        dead = dead | (self._terrain_overlaps(y, terrain_x, terrain_y) & (ceiling | floor)).any(1)

        # The blocks' loop over a copy of the list: a block the copter has passed scores and brings the next
        # one while it is the only block; a block at x <= -width leaves.
        x0, x1 = block_x[:, 0], block_x[:, 1]
        add0 = (x0 <= self.player_x) & (block_count == 1)
        remove0 = x0 <= -self.block_w
        left = block_count + add0.long() - remove0.long()
        add1 = two & (x1 <= self.player_x) & (left == 1)
        remove1 = two & (x1 <= -self.block_w)
        added = add0 | add1
        keep0, keep1 = ~remove0, two & ~remove1
        draws = state["draws"]
        u = self.draw(self.episode, self.draws_per_step, first=draws)  # counter_rng.uniform(seed, index, ...)
        new_x, new_y = self._block(u[:, 0:2])
        # The list after the loop: [block 0 if kept, block 1 if kept, the new block if added] (two at most).
        first_x = torch.where(keep0, x0, torch.where(keep1, x1, new_x))
        first_y = torch.where(keep0, block_y[:, 0], torch.where(keep1, block_y[:, 1], new_y))
        block_count = keep0.long() + keep1.long() + added.long()
        second_x = torch.where(keep0 & keep1, x1, torch.where(block_count == 2, new_x, -math.inf))
        second_y = torch.where(keep0 & keep1, block_y[:, 1], new_y)
        draws = draws + 2 * added.long()

        # Columns at x <= -width leave, each scoring; the rest close up in their order (a scatter to their
        # ranks among the kept, the removed to a spare slot C).
        keep = terrain_x > -self.terrain_w  # unused slots (x = inf) too: they stay behind the used ones
        rank = keep.long().cumsum(1)
        removed = self.capacity - rank[:, -1]
        target = torch.where(keep, rank - 1, self.capacity)
        spare = (terrain_x.shape[0], self.capacity + 1)
        terrain_x = terrain_x.new_full(spare, math.inf).scatter_(1, target, terrain_x)[:, :-1]
        terrain_y = terrain_y.new_zeros(spare).scatter_(1, target, terrain_y)[:, :-1]
        count = state["terrain_count"] - removed
        # At most 13 left: a new batch of columns enters behind the last.
        grow = count <= TERRAIN_LEFT
        u_terrain = torch.where(added[:, None], u[:, 2:], u[:, : 1 + self.columns])
        heights = self._column_heights(u_terrain, self._later)
        j = self._slots - torch.where(grow, count, self.capacity)[:, None]  # a slot's index in the new batch
        new = (j >= 0) & (j < self.columns)
        j = j.clamp_(0, self.columns - 1)
        terrain_x = torch.where(new, self._later_start + self.terrain_w * j, terrain_x)  # integers, exact
        terrain_y = torch.where(new, heights.gather(1, j), terrain_y)
        count = count + self.columns * grow.long()
        draws = draws + (1 + self.columns) * grow.long()

        rewards = REWARD_POSITIVE * added.double() + REWARD_POSITIVE * removed.double()
        rewards = torch.where(dead, rewards + REWARD_LOSS, rewards)
        next_state = {
            "y": y,
            "momentum": momentum,
            "block_x": torch.stack([first_x, second_x], 1),
            "block_y": torch.stack([first_y, second_y], 1),
            "block_count": block_count,
            "terrain_x": terrain_x,
            "terrain_y": terrain_y,
            "terrain_count": count,
            "draws": draws,
        }
        return next_state, rewards, dead

    def observe(self, state: State) -> Tensor:
        y, momentum = state["y"], state["momentum"]
        terrain_x, terrain_y = state["terrain_x"], state["terrain_y"]
        # _current_terrain: the first column (in list order) the copter overlaps, else the first of the
        # nearest in x (unused slots are at x = inf): argmin's first minimum of -1 at the overlapped ones,
        # else distance.
        hits = self._terrain_overlaps(y, terrain_x, terrain_y)
        slot = torch.where(hits, -1.0, (terrain_x - self.player_x).abs()).argmin(1, keepdim=True)
        column_y = terrain_y.gather(1, slot)[:, 0]
        # The next block: the first of the nearest of those ahead of the copter, else the list's last.
        block_x, block_y = state["block_x"], state["block_y"]
        two = state["block_count"] == 2
        d0, d1 = block_x[:, 0] - self.player_x, block_x[:, 1] - self.player_x
        ahead0, ahead1 = d0 > 0, d1 > 0  # an unused slot is at -inf
        pick1 = ahead1 & (~ahead0 | (d1 < d0))
        dist = torch.where(pick1, d1, torch.where(ahead0, d0, 999.0))
        last1 = torch.where(ahead0 | ahead1, pick1, two)
        block = torch.where(last1, block_y[:, 1], block_y[:, 0])
        values = torch.stack(
            [
                y,
                momentum,
                y - (column_y - self.half_gap),
                (column_y + self.half_gap) - y,
                dist,
                block,
                block + self.block_h,
            ],
            1,
        )
        if self.normalize:
            values = values / self._scale
        return values.to(torch.float32)

    # ---- the numpy env -------------------------------------------------------------------------------------
    def _check_size(self, env: gym.Env) -> None:
        if (env.width, env.height) != (self.width, self.height):
            raise ValueError(
                f"the numpy env is {env.width} x {env.height}, this batched env {self.width} x {self.height}"
            )

    def load_into(self, env: gym.Env, state: State) -> None:
        """Set the numpy `PixelCopterEnv` to `state`; its own generator `_rng` is left as it is (its later
        draws are its own, see the module docstring)."""
        self._check_size(env)
        s = {key: value.cpu() for key, value in state.items()}
        env.player = Sprite(self.player_x, float(s["y"]), self.player_w, self.player_h)
        env.player_height = self.player_height
        env.momentum = float(s["momentum"])
        blocks = int(s["block_count"])
        env.blocks = [
            Sprite(x, int(y), self.block_w, self.block_h)
            for x, y in zip(s["block_x"][:blocks].tolist(), s["block_y"][:blocks].tolist(), strict=True)
        ]
        count = int(s["terrain_count"])
        env.terrain = [
            Sprite(x, int(y), self.terrain_w, self.terrain_h)
            for x, y in zip(s["terrain_x"][:count].tolist(), s["terrain_y"][:count].tolist(), strict=True)
        ]

    def read_from(self, env: gym.Env) -> State:
        """The numpy env's game as a one-sub-env state; `draws` is a fresh episode's count (`reset_draws`),
        the numpy env's `RandomState` having no counter."""
        self._check_size(env)
        if not 1 <= len(env.blocks) <= 2:
            raise ValueError(f"the numpy env has {len(env.blocks)} blocks; the game holds one or two")
        if len(env.terrain) > self.capacity:
            raise ValueError(
                f"the numpy env has {len(env.terrain)} columns; the game holds {self.capacity} at most"
            )
        if any(float(s.y) != int(s.y) for s in (*env.blocks, *env.terrain)):
            raise ValueError(
                "the numpy env has a block or column at a non-integer height; the game makes integers"
            )
        f64 = dict(dtype=torch.float64, device=self.device)
        blocks = [(float(b.x), float(b.y)) for b in env.blocks] + [(-math.inf, 0.0)] * (2 - len(env.blocks))
        unused = self.capacity - len(env.terrain)
        columns = [(float(t.x), float(t.y)) for t in env.terrain] + [(math.inf, 0.0)] * unused
        blocks_t, columns_t = torch.tensor(blocks, **f64), torch.tensor(columns, **f64)

        def integer(value: int) -> Tensor:
            return torch.tensor(value, dtype=torch.int64, device=self.device)

        return {
            "y": torch.tensor(float(env.player.y), **f64),
            "momentum": torch.tensor(float(env.momentum), **f64),
            "block_x": blocks_t[:, 0].clone(),
            "block_y": blocks_t[:, 1].clone(),
            "block_count": integer(len(env.blocks)),
            "terrain_x": columns_t[:, 0].clone(),
            "terrain_y": columns_t[:, 1].clone(),
            "terrain_count": integer(len(env.terrain)),
            "draws": integer(self.reset_draws),
        }

    def render_env(self) -> gym.Env:
        """The numpy env at this env's size (`render_mode="rgb_array"`) that draws this env's states."""
        if self._render_env is None:
            self._render_env = gym.make(
                self.gymnasium_id, render_mode="rgb_array", width=self.width, height=self.height
            ).unwrapped
            self._render_env.reset(seed=0)
        return self._render_env
