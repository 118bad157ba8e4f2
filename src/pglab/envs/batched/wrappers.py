"""Wrappers of batched envs that stay on the device: observation normalization, reward scaling, videos.

They do what `pglab.envs.normalization.NormalizeObservation` and gymnasium's vector `NormalizeReward` +
`ClipReward` do for numpy vector envs, with the same formulas (gymnasium's `RunningMeanStd` parallel update;
the discounted return accumulated in float32, cut at terminations, restarted at every episode end of same-step
autoreset), on tensors, so a rollout never leaves the device. Their statistics are read and written by
`pglab.envs.normalization.normalization_state` / `load_normalization_state` in the same format as the numpy
wrappers' (float64 tensors), so checkpoints, evaluation and resume treat both backends alike.

Gymnasium's wrappers are not used here because they compute with numpy on the host.
"""

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import VectorEnv, VectorWrapper
from gymnasium.vector.utils import batch_space
from torch import Tensor

from pglab.envs.batched.base import BatchedEnv


class TensorRunningMeanStd:
    """Running mean and variance of batches, gymnasium's `RunningMeanStd` (same initial count 1e-4, same parallel
    update) on float64 tensors."""

    def __init__(
        self, shape: tuple[int, ...] = (), device: torch.device | str = "cpu", epsilon: float = 1e-4
    ):
        self.mean = torch.zeros(shape, dtype=torch.float64, device=device)
        self.var = torch.ones(shape, dtype=torch.float64, device=device)
        self.count = epsilon

    def update(self, x: Tensor) -> None:
        """Add the batch `x` `(B, *shape)`."""
        x = x.to(torch.float64)
        batch_mean, batch_var, batch_count = x.mean(0), x.var(0, correction=0), x.shape[0]
        delta = batch_mean - self.mean
        total = self.count + batch_count
        self.mean = self.mean + delta * batch_count / total
        m2 = (
            self.var * self.count
            + batch_var * batch_count
            + delta.square() * self.count * batch_count / total
        )
        self.var = m2 / total
        self.count = total

    def to(self, device: torch.device) -> None:
        self.mean, self.var = self.mean.to(device), self.var.to(device)


class BatchedWrapper(VectorWrapper):
    """A wrapper of a `BatchedEnv` (or of another such wrapper) that moves with it (`to`)."""

    def to(self, device: str | torch.device) -> "BatchedWrapper":
        self.env.to(device)
        self._to(torch.device(device))
        return self

    def _to(self, device: torch.device) -> None:
        pass

    @property
    def device(self) -> torch.device:
        return self.unwrapped.device


class NormalizeObservationTensor(BatchedWrapper):
    """Observations (and `infos["final_obs"]`, with the same statistics, not updating them) normalized by the running
    mean and variance of the observations seen, clipped to [-clip, clip], float32.

    Args:
        env: the batched env.
        epsilon: added to the variance before the square root.
        clip: the clip bound.
    """

    def __init__(self, env: VectorEnv, epsilon: float = 1e-8, clip: float = 10.0):
        super().__init__(env)
        self.clip, self.epsilon = clip, epsilon
        self.obs_rms = TensorRunningMeanStd(self.single_observation_space.shape, self.unwrapped.device)
        self.update_running_mean = True
        self.single_observation_space = gym.spaces.Box(
            -clip, clip, self.single_observation_space.shape, np.float32
        )
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)

    def normalize(self, obs: Tensor) -> Tensor:
        normalized = (obs - self.obs_rms.mean) / torch.sqrt(self.obs_rms.var + self.epsilon)
        return normalized.clamp(-self.clip, self.clip).to(torch.float32)

    def _observe(self, obs: Tensor) -> Tensor:
        if self.update_running_mean:
            self.obs_rms.update(obs)
        return self.normalize(obs)

    def reset(self, *, seed=None, options=None):
        obs, infos = self.env.reset(seed=seed, options=options)
        return self._observe(obs), infos

    def step(self, actions):
        obs, rewards, terminated, truncated, infos = self.env.step(actions)
        obs = self._observe(obs)
        return obs, rewards, terminated, truncated, {**infos, "final_obs": self.normalize(infos["final_obs"])}

    def _to(self, device: torch.device) -> None:
        self.obs_rms.to(device)


class ScaleRewardTensor(BatchedWrapper):
    """Rewards divided by the running standard deviation of the discounted return (gymnasium's vector
    `NormalizeReward` under same-step autoreset), then clipped to [-clip, clip] (`ClipReward`).

    Args:
        env: the batched env.
        gamma: the return's discount.
        epsilon: added to the variance before the square root.
        clip: the clip bound.
    """

    def __init__(self, env: VectorEnv, gamma: float = 0.99, epsilon: float = 1e-8, clip: float = 10.0):
        super().__init__(env)
        self.gamma, self.epsilon, self.clip = float(gamma), epsilon, clip
        self.return_rms = TensorRunningMeanStd((), self.unwrapped.device)
        self.accumulated_reward = torch.zeros(
            self.num_envs, dtype=torch.float32, device=self.unwrapped.device
        )
        self.update_running_mean = True

    def reset(self, *, seed=None, options=None):
        self.accumulated_reward = torch.zeros_like(self.accumulated_reward)
        return self.env.reset(seed=seed, options=options)

    def step(self, actions):
        obs, rewards, terminated, truncated, infos = self.env.step(actions)
        accumulated = self.accumulated_reward * self.gamma * (~terminated) + rewards
        self.accumulated_reward = accumulated.to(torch.float32)
        if self.update_running_mean:
            self.return_rms.update(self.accumulated_reward)
        self.accumulated_reward = torch.where(terminated | truncated, 0.0, self.accumulated_reward)
        scaled = rewards / torch.sqrt(self.return_rms.var + self.epsilon)
        return obs, scaled.clamp(-self.clip, self.clip), terminated, truncated, infos

    def _to(self, device: torch.device) -> None:
        self.return_rms.to(device)
        self.accumulated_reward = self.accumulated_reward.to(device)


class RecordEpisodeVideos(BatchedWrapper):
    """Renders the first episode of sub-envs `0 .. episodes - 1` to `<video_dir>/<name_prefix>-<i>-episode-0.mp4`
    (the file names of gymnasium's `RecordVideo`), drawing each state with gymnasium's own renderer
    (`BatchedEnv.render_state`). Frames are taken on the host, so only evaluation envs record.

    Args:
        env: the batched env.
        video_dir: the folder of the videos.
        episodes: how many sub-envs record.
        name_prefix: file name prefix.
    """

    def __init__(self, env: VectorEnv, video_dir: str | Path, episodes: int, name_prefix: str):
        super().__init__(env)
        self.video_dir = Path(video_dir)
        self.recorded = min(int(episodes), self.num_envs)
        self.name_prefix = name_prefix
        self.frames: list[list[np.ndarray]] = [[] for _ in range(self.recorded)]
        self.recording = [True] * self.recorded
        self.written = False

    def _capture(self, state: dict[str, Tensor]) -> None:
        base: BatchedEnv = self.unwrapped
        for i in range(self.recorded):
            if self.recording[i]:
                self.frames[i].append(base.render_state({k: v[i] for k, v in state.items()}))

    def reset(self, *, seed=None, options=None):
        result = self.env.reset(seed=seed, options=options)
        self._capture(self.unwrapped.state)
        return result

    def step(self, actions):
        base: BatchedEnv = self.unwrapped
        obs, rewards, terminated, truncated, infos = self.env.step(actions)
        done = (terminated | truncated)[: self.recorded].tolist()
        for i in range(self.recorded):
            if not self.recording[i]:
                continue
            row = {k: v[i] for k, v in base.final_state.items()}  # the state this step reached
            self.frames[i].append(base.render_state(row))
            if done[i]:
                self.recording[i] = False
        return obs, rewards, terminated, truncated, infos

    def write(self) -> None:
        """Write the videos recorded so far (once)."""
        if self.written:
            return
        self.written = True
        from moviepy.video.io.ImageSequenceClip import ImageSequenceClip  # as gymnasium's RecordVideo

        self.video_dir.mkdir(parents=True, exist_ok=True)
        fps = self.unwrapped.metadata.get("render_fps", 30)
        for i, frames in enumerate(self.frames):
            if frames:
                clip = ImageSequenceClip(frames, fps=fps)
                clip.write_videofile(
                    str(self.video_dir / f"{self.name_prefix}-{i}-episode-0.mp4"), logger=None
                )

    def close(self, **kwargs: Any) -> None:
        self.write()
        super().close(**kwargs)
