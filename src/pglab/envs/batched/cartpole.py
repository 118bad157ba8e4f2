"""CartPole-v1 as a batched tensor program: gymnasium's `CartPoleEnv` (Euler integration, Barto, Sutton and
Anderson's constants), float64 state, float32 observations, +1 per step including the terminating one, 500-step
time limit."""

import math

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from pglab.envs.batched.base import BatchedEnv, State
from pglab.envs.batched.libm import cos_sin

GRAVITY = 9.8
MASSCART = 1.0
MASSPOLE = 0.1
TOTAL_MASS = MASSPOLE + MASSCART
LENGTH = 0.5  # half the pole's length
POLEMASS_LENGTH = MASSPOLE * LENGTH
FORCE_MAG = 10.0
TAU = 0.02  # seconds per step
THETA_THRESHOLD = 12 * 2 * math.pi / 360  # radians
X_THRESHOLD = 2.4
RESET_LOW, RESET_HIGH = -0.05, 0.05  # every state variable starts uniform in this range


class CartPole(BatchedEnv):
    """Batched CartPole-v1. State `{"x": (N, 4) float64}`: cart position, cart velocity, pole angle, pole angular
    velocity (gymnasium's `state`). Actions `(N,)` int64: 0 pushes left, 1 right."""

    gymnasium_id = "CartPole-v1"
    default_max_episode_steps = 500
    reset_draws = 4

    def __init__(self, num_envs: int, device: str | torch.device = "cpu", **kwargs):
        high = np.array(
            [X_THRESHOLD * 2, np.inf, THETA_THRESHOLD * 2, np.inf], dtype=np.float32
        )  # gymnasium's bounds
        self.single_observation_space = gym.spaces.Box(-high, high, dtype=np.float32)
        self.single_action_space = gym.spaces.Discrete(2)
        super().__init__(num_envs, device, **kwargs)

    def initial_state(self, uniform: Tensor) -> State:
        return {"x": RESET_LOW + (RESET_HIGH - RESET_LOW) * uniform}

    def dynamics(self, state: State, actions: Tensor) -> tuple[State, Tensor, Tensor]:
        x, x_dot, theta, theta_dot = state["x"].unbind(1)
        force = torch.where(actions == 1, FORCE_MAG, -FORCE_MAG).to(torch.float64)
        costheta, sintheta = cos_sin(theta)  # libm's, as numpy's (pglab.envs.batched.libm)
        # The operations in gymnasium's order, so that every float64 rounding is the same.
        temp = (force + POLEMASS_LENGTH * (theta_dot * theta_dot) * sintheta) / TOTAL_MASS
        thetaacc = (GRAVITY * sintheta - costheta * temp) / (
            LENGTH * (4.0 / 3.0 - MASSPOLE * (costheta * costheta) / TOTAL_MASS)
        )
        xacc = temp - POLEMASS_LENGTH * thetaacc * costheta / TOTAL_MASS
        next_x = torch.stack(
            [x + TAU * x_dot, x_dot + TAU * xacc, theta + TAU * theta_dot, theta_dot + TAU * thetaacc], dim=1
        )
        x, theta = next_x[:, 0], next_x[:, 2]
        terminated = (
            (x < -X_THRESHOLD) | (x > X_THRESHOLD) | (theta < -THETA_THRESHOLD) | (theta > THETA_THRESHOLD)
        )
        rewards = torch.ones_like(x)
        return {"x": next_x}, rewards, terminated

    def observe(self, state: State) -> Tensor:
        return state["x"].to(torch.float32)

    def load_into(self, env: gym.Env, state: State) -> None:
        env.state = state["x"].cpu().numpy().astype(np.float64)
        env.steps_beyond_terminated = None

    def read_from(self, env: gym.Env) -> State:
        return {"x": torch.as_tensor(np.asarray(env.state, dtype=np.float64), device=self.device)}
