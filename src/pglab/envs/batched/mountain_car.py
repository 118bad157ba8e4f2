"""MountainCar-v0 and MountainCarContinuous-v0 as batched tensor programs: gymnasium's `MountainCarEnv` and
`Continuous_MountainCarEnv` (Moore's car in a valley, height sin(3x)), with gymnasium's number types, resets
uniform in [-0.6, -0.4] at rest, float32 observations and the 200 / 999-step time limits.

Number types, reproduced exactly:

- MountainCar-v0 keeps its state in float64 throughout (numpy float64 scalars and Python floats).
- MountainCarContinuous-v0 keeps a float64 state only from `reset` to the episode's first step: `step` stores
  `np.array([position, velocity], dtype=np.float32)`, and from then on numpy 2's promotion rules (NEP 50) keep its
  arithmetic in float32: `np.float32 op python_float` casts the Python float to float32 and computes in float32,
  comparisons included (`np.float32(0.45) >= 0.45` holds). Only `math.cos(3 * position)` and `0.0025 * cos` are
  float64 (Python floats), rounded to float32 where they meet the float32 state. The action term
  `force * power` is float32 (`action[0]` is `np.float32`) unless `min(max(action[0], -1.0), 1.0)` replaced an
  out-of-bounds action by the Python float bound, which makes it the float64 ±0.0015 and the velocity update's
  increment float64 (rounded once to float32 when added to a float32 velocity). A batched sub-env therefore also
  carries whether gymnasium would hold its state as float32 (`state["float32"]`), and `dynamics` computes both
  paths and keeps the one that applies.

The cosine is libm's, as `math.cos`'s (`pglab.envs.batched.libm.cos_sin`: torch's float64 `cos` on the CPU differs
from libm's by 1 ulp on about 0.2% of the arguments here, which the float32 observations mostly hide but the float64
state does not). On CUDA it is CUDA's `cos`, so there trajectories can differ from gymnasium's in the last bits.
"""

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from pglab.envs.batched.base import BatchedEnv, State
from pglab.envs.batched.libm import cos_sin

MIN_POSITION, MAX_POSITION = -1.2, 0.6
MAX_SPEED = 0.07
GRAVITY = 0.0025
FORCE = 0.001  # MountainCar-v0: (action - 1) * FORCE
POWER = 0.0015  # MountainCarContinuous-v0: force * POWER
MIN_ACTION, MAX_ACTION = -1.0, 1.0
GOAL_POSITION = 0.5  # MountainCar-v0
CONTINUOUS_GOAL_POSITION = 0.45  # MountainCarContinuous-v0
GOAL_REWARD = 100.0  # MountainCarContinuous-v0, on the step that reaches the goal
ACTION_COST = 0.1  # MountainCarContinuous-v0: minus ACTION_COST * action^2 every step
RESET_LOW, RESET_HIGH = -0.6, -0.4  # the start position is uniform in this range, the start velocity 0


def _f32(value: float) -> float:
    """`value` rounded to float32 (as numpy casts a Python float that meets a float32 number)."""
    return float(np.float32(value))


def _cos(x: Tensor) -> Tensor:
    """float64 cosine with libm's roundings on the CPU, as `math.cos` (module docstring)."""
    return cos_sin(x)[0]


def _observation_space() -> gym.spaces.Box:
    low = np.array([MIN_POSITION, -MAX_SPEED], dtype=np.float32)
    high = np.array([MAX_POSITION, MAX_SPEED], dtype=np.float32)
    return gym.spaces.Box(low, high, dtype=np.float32)


def _start_position(uniform: Tensor) -> Tensor:
    return RESET_LOW + (RESET_HIGH - RESET_LOW) * uniform[:, 0]


class MountainCar(BatchedEnv):
    """Batched MountainCar-v0. State `{"x": (N, 2) float64}`: position, velocity (gymnasium's `state`). Actions
    `(N,)` int64: 0 accelerates left, 1 not at all, 2 right. -1 per step; the episode terminates when
    `position >= 0.5` and `velocity >= goal_velocity`.

    Args:
        goal_velocity: gymnasium's `goal_velocity` option (0).
    """

    gymnasium_id = "MountainCar-v0"
    default_max_episode_steps = 200
    reset_draws = 1

    def __init__(self, num_envs: int, device: str | torch.device = "cpu", goal_velocity: float = 0, **kwargs):
        self.goal_velocity = float(goal_velocity)
        self.single_observation_space = _observation_space()
        self.single_action_space = gym.spaces.Discrete(3)
        super().__init__(num_envs, device, **kwargs)

    def initial_state(self, uniform: Tensor) -> State:
        position = _start_position(uniform)
        return {"x": torch.stack([position, torch.zeros_like(position)], dim=1)}

    def dynamics(self, state: State, actions: Tensor) -> tuple[State, Tensor, Tensor]:
        position, velocity = state["x"].unbind(1)
        # gymnasium: velocity += (action - 1) * force + math.cos(3 * position) * (-gravity), in this order
        push = (actions - 1).to(torch.float64) * FORCE
        velocity = velocity + (push + _cos(3 * position) * (-GRAVITY))
        velocity = velocity.clamp(-MAX_SPEED, MAX_SPEED)
        position = (position + velocity).clamp(MIN_POSITION, MAX_POSITION)
        # the inelastic left wall
        velocity = torch.where((position == MIN_POSITION) & (velocity < 0), 0.0, velocity)
        terminated = (position >= GOAL_POSITION) & (velocity >= self.goal_velocity)
        rewards = torch.full_like(position, -1.0)
        return {"x": torch.stack([position, velocity], dim=1)}, rewards, terminated

    def observe(self, state: State) -> Tensor:
        return state["x"].to(torch.float32)

    def load_into(self, env: gym.Env, state: State) -> None:
        env.state = state["x"].cpu().numpy().astype(np.float64)

    def read_from(self, env: gym.Env) -> State:
        return {"x": torch.as_tensor(np.asarray(env.state, dtype=np.float64), device=self.device)}


class MountainCarContinuous(BatchedEnv):
    """Batched MountainCarContinuous-v0. State `{"x": (N, 2) float64, "float32": (N,) bool}`: position and velocity
    (gymnasium's `state`, exactly), and whether gymnasium holds them as float32 (after an episode's first step)
    rather than float64 (from `reset`); see the module docstring. Actions `(N, 1)` float32, clipped to [-1, 1] for
    the force (as gymnasium does); reward `-0.1 * action^2` of the unclipped action, +100 on the step that
    reaches the goal (`position >= 0.45` and `velocity >= goal_velocity`), which terminates the episode.

    Args:
        goal_velocity: gymnasium's `goal_velocity` option (0).
    """

    gymnasium_id = "MountainCarContinuous-v0"
    default_max_episode_steps = 999
    reset_draws = 1

    def __init__(self, num_envs: int, device: str | torch.device = "cpu", goal_velocity: float = 0, **kwargs):
        self.goal_velocity = float(goal_velocity)
        self.single_observation_space = _observation_space()
        self.single_action_space = gym.spaces.Box(MIN_ACTION, MAX_ACTION, shape=(1,), dtype=np.float32)
        super().__init__(num_envs, device, **kwargs)

    def initial_state(self, uniform: Tensor) -> State:
        position = _start_position(uniform)
        return {
            "x": torch.stack([position, torch.zeros_like(position)], dim=1),
            "float32": torch.zeros_like(position, dtype=torch.bool),
        }

    def dynamics(self, state: State, actions: Tensor) -> tuple[State, Tensor, Tensor]:
        position, velocity = state["x"].unbind(1)
        single = state["float32"]
        action = actions.reshape(-1, 1)[:, 0].to(torch.float32)
        position32, velocity32 = position.to(torch.float32), velocity.to(torch.float32)
        # gymnasium: velocity += force * power - 0.0025 * math.cos(3 * position); 3 * position is float32 for a
        # float32 state, the cosine and 0.0025 * cosine are float64 (Python floats).
        angle = torch.where(single, (3 * position32).to(torch.float64), 3 * position)
        gravity = GRAVITY * _cos(angle)
        # force = min(max(action[0], -1.0), 1.0): the np.float32 action where it is within the bounds (ties
        # included), else the Python float bound.
        bounded = (action < MIN_ACTION) | (action > MAX_ACTION)
        increment = torch.where(
            bounded,
            torch.where(action > 0, MAX_ACTION, MIN_ACTION).to(torch.float64) * POWER - gravity,  # float64
            (action * POWER - gravity.to(torch.float32)).to(torch.float64),  # float32 (NEP 50)
        )

        # float32 state: float32 arithmetic and comparisons, every bound rounded to float32. Where gymnasium
        # replaces the velocity or position by a Python float bound (only beyond the float32 bound: the comparison
        # is float32), the result rounds to the same float32.
        velocity32 = velocity32 + increment.to(torch.float32)
        replaced = velocity32.abs() > _f32(MAX_SPEED)
        velocity32 = velocity32.clamp(_f32(-MAX_SPEED), _f32(MAX_SPEED))
        position32 = (position32 + velocity32).clamp(_f32(MIN_POSITION), _f32(MAX_POSITION))
        velocity32 = torch.where((position32 == _f32(MIN_POSITION)) & (velocity32 < 0), 0.0, velocity32)
        # `velocity >= goal_velocity` compares the Python float +-0.07 in float64, a float32 velocity in float32
        # (a velocity the wall reset to 0 never meets a position at the goal)
        bound = torch.where(velocity32 > 0, 1.0, -1.0).to(torch.float64) * MAX_SPEED  # +-0.07 as float64
        goal32 = torch.where(replaced, bound >= self.goal_velocity, velocity32 >= _f32(self.goal_velocity))
        terminated32 = (position32 >= _f32(CONTINUOUS_GOAL_POSITION)) & goal32

        # float64 state (the episode's first step): float64 arithmetic and comparisons.
        velocity64 = (velocity + increment).clamp(-MAX_SPEED, MAX_SPEED)
        position64 = (position + velocity64).clamp(MIN_POSITION, MAX_POSITION)
        velocity64 = torch.where((position64 == MIN_POSITION) & (velocity64 < 0), 0.0, velocity64)
        terminated64 = (position64 >= CONTINUOUS_GOAL_POSITION) & (velocity64 >= self.goal_velocity)

        # either way gymnasium stores np.array([position, velocity], dtype=np.float32)
        next_x = torch.where(
            single[:, None],
            torch.stack([position32, velocity32], dim=1),
            torch.stack([position64, velocity64], dim=1).to(torch.float32),
        ).to(torch.float64)
        terminated = torch.where(single, terminated32, terminated64)
        # reward = (100.0 if terminated else 0) - math.pow(action[0], 2) * 0.1, with the unclipped action (the
        # square of a float32 is exact in float64, so libm's pow(a, 2) is a * a)
        action64 = action.to(torch.float64)
        rewards = (
            torch.where(terminated, GOAL_REWARD, 0.0).to(torch.float64) - (action64 * action64) * ACTION_COST
        )
        return {"x": next_x, "float32": torch.ones_like(single)}, rewards, terminated

    def observe(self, state: State) -> Tensor:
        return state["x"].to(torch.float32)

    def load_into(self, env: gym.Env, state: State) -> None:
        dtype = np.float32 if bool(state["float32"]) else np.float64
        env.state = state["x"].cpu().numpy().astype(dtype)

    def read_from(self, env: gym.Env) -> State:
        x = np.asarray(env.state)
        return {
            "x": torch.as_tensor(x.astype(np.float64), device=self.device),
            "float32": torch.tensor(x.dtype == np.float32, device=self.device),
        }
