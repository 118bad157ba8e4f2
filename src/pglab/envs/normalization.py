"""Observation normalization and reward scaling with running statistics that checkpoints carry.

Gymnasium's vector wrappers do the work (`NormalizeObservation`: running mean/variance of observations;
`NormalizeReward`: rewards divided by the running std of the discounted return, as SB3's `VecNormalize` and
CleanRL's continuous-control scripts). Two additions:

- `NormalizeObservation` here also normalizes `infos["final_obs"]`, with the same statistics and without
  updating them: the collector bootstraps time-limit truncations from V(final obs), which must see what the
  policy sees. (Gymnasium's vector `NormalizeObservation` refuses same-step autoreset for that reason.)
- `normalization_state(env)` / `load_normalization_state(env, state)` read and write the running
  statistics as tensors, so checkpoints hold them (and load with `torch.load(weights_only=True)`), and
  evaluation and resume use the statistics training ended with. Users of other libraries lose these
  regularly; here they travel inside `last.ckpt` / `best.ckpt`.
"""

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import VectorEnv, VectorWrapper
from gymnasium.vector.utils import batch_space
from gymnasium.wrappers import vector as vector_wrappers
from gymnasium.wrappers.utils import RunningMeanStd

from pglab.envs.batched.wrappers import NormalizeObservationTensor, ScaleRewardTensor, TensorRunningMeanStd

NORMALIZED_CLIP = 10.0  # normalized observations and scaled rewards are clipped to +-this (SB3, CleanRL)


class NormalizeObservation(VectorWrapper):
    """Observations normalized by their running mean and variance (gymnasium's `RunningMeanStd`), as
    gymnasium's vector `NormalizeObservation`, which refuses same-step autoreset because it would leave
    `infos["final_obs"]` raw. This one normalizes the final observations too, with the same statistics and
    without updating them.

    Args:
        env: the vector env.
        epsilon: added to the variance before the square root.
        clip: normalized values are clipped to [-clip, clip].
    """

    def __init__(self, env: VectorEnv, epsilon: float = 1e-8, clip: float = NORMALIZED_CLIP):
        super().__init__(env)
        self.clip = clip
        self.obs_rms = RunningMeanStd(shape=self.single_observation_space.shape, dtype=np.float64)
        self.epsilon = epsilon
        self.update_running_mean = True
        self.single_observation_space = gym.spaces.Box(
            -clip, clip, self.single_observation_space.shape, np.float32
        )
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)

    def normalize(self, obs: np.ndarray) -> np.ndarray:
        normalized = (obs - self.obs_rms.mean) / np.sqrt(self.obs_rms.var + self.epsilon)
        return np.clip(normalized, -self.clip, self.clip).astype(np.float32)

    def _observe(self, obs: np.ndarray) -> np.ndarray:
        if self.update_running_mean:
            self.obs_rms.update(obs)
        return self.normalize(obs)

    def reset(self, *, seed=None, options=None):
        obs, infos = self.env.reset(seed=seed, options=options)
        return self._observe(obs), infos

    def step(self, actions):
        obs, rewards, terminated, truncated, infos = self.env.step(actions)
        obs = self._observe(obs)  # updates the statistics first: final observations use the same ones
        if "final_obs" in infos:
            final_obs = infos["final_obs"].copy()
            for i in np.flatnonzero(infos["_final_obs"]):
                final_obs[i] = self.normalize(final_obs[i])
            infos = {**infos, "final_obs": final_obs}
        return obs, rewards, terminated, truncated, infos


#: the observation normalizers and reward scalers of the numpy and the torch backends
OBSERVATION_NORMALIZERS = (NormalizeObservation, NormalizeObservationTensor)
REWARD_SCALERS = (vector_wrappers.NormalizeReward, ScaleRewardTensor)


def find_wrapper(env: VectorEnv, kind: type | tuple[type, ...]) -> Any | None:
    """The first wrapper of type `kind` (or of one of the types) in `env`'s wrapper chain, or None."""
    while True:
        if isinstance(env, kind):
            return env
        if not isinstance(env, VectorWrapper):
            return None
        env = env.env


def _rms_state(rms: RunningMeanStd | TensorRunningMeanStd) -> dict[str, Any]:
    if isinstance(rms, TensorRunningMeanStd):
        return {"mean": rms.mean.cpu().clone(), "var": rms.var.cpu().clone(), "count": float(rms.count)}
    return {
        "mean": torch.as_tensor(np.asarray(rms.mean, dtype=np.float64)),
        "var": torch.as_tensor(np.asarray(rms.var, dtype=np.float64)),
        "count": float(rms.count),
    }


def _load_rms(rms: RunningMeanStd | TensorRunningMeanStd, state: dict[str, Any]) -> None:
    if isinstance(rms, TensorRunningMeanStd):
        rms.mean = state["mean"].to(rms.mean.device, torch.float64).reshape(rms.mean.shape)
        rms.var = state["var"].to(rms.var.device, torch.float64).reshape(rms.var.shape)
        rms.count = float(state["count"])
        return
    rms.mean = state["mean"].numpy().astype(np.float64).reshape(np.shape(rms.mean))
    rms.var = state["var"].numpy().astype(np.float64).reshape(np.shape(rms.var))
    rms.count = float(state["count"])


def normalization_state(env: VectorEnv) -> dict[str, Any]:
    """The running statistics of `env`'s normalization wrappers (empty without them)."""
    state = {}
    if (obs_norm := find_wrapper(env, OBSERVATION_NORMALIZERS)) is not None:
        state["obs_rms"] = _rms_state(obs_norm.obs_rms)
    if (reward_norm := find_wrapper(env, REWARD_SCALERS)) is not None:
        state["return_rms"] = _rms_state(reward_norm.return_rms)
        # The discounted return accumulated so far in each sub-env's episode, which the next update adds to.
        state["accumulated_return"] = torch.as_tensor(
            np.array(reward_norm.accumulated_reward)
            if not isinstance(reward_norm.accumulated_reward, torch.Tensor)
            else reward_norm.accumulated_reward.cpu().clone()
        )  # its own dtype
    return state


def load_normalization_state(env: VectorEnv, state: dict[str, Any]) -> None:
    """Set `env`'s running statistics from `normalization_state`'s output.

    Raises ValueError when the state and the env's wrappers do not match (e.g. a checkpoint trained with
    `env.normalize_obs=true` loaded into an env without it).
    """
    obs_norm = find_wrapper(env, OBSERVATION_NORMALIZERS)
    reward_norm = find_wrapper(env, REWARD_SCALERS)
    if ("obs_rms" in state) != (obs_norm is not None):
        raise ValueError(
            f"observation normalization: the checkpoint {'has' if 'obs_rms' in state else 'has no'} "
            f"statistics but the env {'has' if obs_norm is not None else 'has no'} env.normalize_obs"
        )
    if obs_norm is not None:
        _load_rms(obs_norm.obs_rms, state["obs_rms"])
    if reward_norm is not None and "return_rms" in state:
        _load_rms(reward_norm.return_rms, state["return_rms"])
        accumulated = state.get("accumulated_return")
        if accumulated is not None and accumulated.numel() == reward_norm.num_envs:
            previous = reward_norm.accumulated_reward
            reward_norm.accumulated_reward = (
                accumulated.to(previous.device, previous.dtype)
                if isinstance(previous, torch.Tensor)
                else accumulated.numpy().astype(previous.dtype)
            )


def freeze_normalization(env: VectorEnv) -> None:
    """Stop `env`'s normalization wrappers from updating their statistics (evaluation envs)."""
    for kind in (OBSERVATION_NORMALIZERS, REWARD_SCALERS):
        if (wrapper := find_wrapper(env, kind)) is not None:
            wrapper.update_running_mean = False
