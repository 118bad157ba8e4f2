"""Pendulum-v1 as a batched tensor program: gymnasium's `PendulumEnv` (torque-driven swing-up, `dt` 0.05 s), float64
state, float32 observations `[cos th, sin th, thdot]`, reward `-(angle_normalize(th)^2 + 0.1 thdot^2 + 0.001 u^2)`,
never terminated, 200-step time limit.

Bit-exact on the cpu: besides following gymnasium's operations and dtypes (under numpy 2's promotion rules the
torque terms are float32 and the rest float64), the sines, cosines and squares are libm's, as numpy's scalar maths
(`pglab.envs.batched.libm`). On cuda the same code runs with CUDA's `sin`, `cos` and `pow`, which can differ from
libm in the last bit, so there a trajectory is gymnasium's only up to those roundings.
"""

import math

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from pglab.envs.batched.base import BatchedEnv, State
from pglab.envs.batched.libm import cos_sin, libm_pow

MAX_SPEED = 8  # an int in gymnasium too (np.clip keeps the float64 state float64)
MAX_TORQUE = 2.0
DT = 0.05  # seconds per step
MASS = 1.0
LENGTH = 1.0
# reset: th uniform in [-DEFAULT_X, DEFAULT_X], thdot in [-DEFAULT_Y, DEFAULT_Y] (gymnasium's names)
DEFAULT_X, DEFAULT_Y = math.pi, 1.0


def angle_normalize(x: Tensor) -> Tensor:
    """gymnasium's `((x + pi) % (2 pi)) - pi`; `torch.remainder` is numpy's `%` (fmod, then + divisor where the signs
    differ), exactly."""
    return torch.remainder(x + math.pi, 2 * math.pi) - math.pi


class Pendulum(BatchedEnv):
    """Batched Pendulum-v1. State `{"x": (N, 2) float64, "last_u": (N,) float32}`: the angle th (0 upright,
    unbounded: not normalized, as in gymnasium) and angular velocity thdot (gymnasium's `state`), and the clipped
    torque of the last step (gymnasium's `last_u`, which only its renderer reads; NaN where gymnasium has None, i.e.
    before an episode's first step). Actions `(N, 1)` float32 torques, clipped to [-2, 2] here.

    Args:
        g: gravity (gymnasium's `g` option of `gymnasium.make("Pendulum-v1", g=...)`), 10.0 by default.
    """

    gymnasium_id = "Pendulum-v1"
    default_max_episode_steps = 200
    reset_draws = 2

    def __init__(self, num_envs: int, device: str | torch.device = "cpu", g: float = 10.0, **kwargs):
        self.g = g
        # gymnasium's coefficients, computed as gymnasium computes them (Python floats): 3 g / (2 l) multiplies the
        # float64 sin(th), 3 / (m l^2) the float32 torque (so the product is float32, as numpy 2 computes it)
        self._gravity_coefficient = float(3 * g / (2 * LENGTH))
        self._torque_coefficient = float(3.0 / (MASS * LENGTH**2))
        high = np.array([1.0, 1.0, MAX_SPEED], dtype=np.float32)  # gymnasium's bounds
        self.single_observation_space = gym.spaces.Box(low=-high, high=high, dtype=np.float32)
        self.single_action_space = gym.spaces.Box(
            low=-MAX_TORQUE, high=MAX_TORQUE, shape=(1,), dtype=np.float32
        )
        super().__init__(num_envs, device, **kwargs)

    def initial_state(self, uniform: Tensor) -> State:
        # numpy's Generator.uniform(low=-high, high=high): low + (high - low) * U, with Python-float bounds (no
        # host-to-device copy in the step's autoreset)
        th = -DEFAULT_X + (DEFAULT_X - -DEFAULT_X) * uniform[:, 0]
        thdot = -DEFAULT_Y + (DEFAULT_Y - -DEFAULT_Y) * uniform[:, 1]
        return {
            "x": torch.stack([th, thdot], dim=1),
            "last_u": torch.full_like(th, math.nan, dtype=torch.float32),
        }

    def dynamics(self, state: State, actions: Tensor) -> tuple[State, Tensor, Tensor]:
        th, thdot = state["x"].unbind(1)
        # float32, as np.clip(u, -2.0, 2.0)[0] is
        u = torch.clamp(actions.to(torch.float32), -MAX_TORQUE, MAX_TORQUE)[:, 0]
        # The operations in gymnasium's order and dtypes, so that every rounding is the same: the torque terms in
        # float32 (a float32 scalar times a Python float stays float32), added to the float64 terms after.
        angle_cost = libm_pow(angle_normalize(th), 2.0) + 0.1 * libm_pow(thdot, 2.0)
        costs = angle_cost + (0.001 * libm_pow(u, 2.0)).to(torch.float64)
        _, sin_th = cos_sin(th)
        torque = (self._torque_coefficient * u).to(torch.float64)
        newthdot = thdot + (self._gravity_coefficient * sin_th + torque) * DT
        newthdot = torch.clamp(newthdot, -MAX_SPEED, MAX_SPEED)
        newth = th + newthdot * DT
        rewards = -costs
        terminated = torch.zeros_like(th, dtype=torch.bool)
        return {"x": torch.stack([newth, newthdot], dim=1), "last_u": u}, rewards, terminated

    def observe(self, state: State) -> Tensor:
        th, thdot = state["x"].unbind(1)
        cos_th, sin_th = cos_sin(th)
        return torch.stack([cos_th, sin_th, thdot], dim=1).to(torch.float32)

    def load_into(self, env: gym.Env, state: State) -> None:
        env.state = state["x"].cpu().numpy().astype(np.float64)
        last_u = float(state["last_u"])
        env.last_u = None if math.isnan(last_u) else np.float32(last_u)

    def read_from(self, env: gym.Env) -> State:
        last_u = math.nan if env.last_u is None else env.last_u
        return {
            "x": torch.as_tensor(np.asarray(env.state, dtype=np.float64), device=self.device),
            "last_u": torch.tensor(last_u, dtype=torch.float32, device=self.device),
        }
