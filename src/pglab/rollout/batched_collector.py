"""The rollout collector of batched envs (`env.vectorization=torch`): the whole rollout stays on the policy's device.

Same interface, counters and rollouts as `RolloutCollector`, whose bookkeeping it inherits; what differs is that
the env's outputs are already tensors on the device (`pglab.envs.batched`): the storage is preallocated there, no
step goes through numpy, and nothing in a fixed-length rollout waits for the device except once per rollout, when
the episode statistics of the rollout are read (their number varies). On the CPU, where a host check costs nothing,
V(final obs) is computed for the truncated sub-envs only; on an accelerator it is computed for every sub-env at
every step and kept where a sub-env was truncated, which costs one more critic pass but no synchronization.
"""

import functools
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import VectorEnv
from torch import Tensor

from pglab.envs.batched import BatchedEnv
from pglab.envs.normalization import load_normalization_state, normalization_state
from pglab.networks.actor_critic import ActorCritic
from pglab.rollout.batch import Rollout
from pglab.rollout.collector import RolloutCollector

#: how many steps REINFORCE's episode collection takes between checks that some sub-env is still collecting, on
#: an accelerator (each check waits for the device); on the CPU it checks every step. The up to 15 steps after the
#: last episode ended are masked out of the rollout but count as env steps (every sub-env steps), so on an
#: accelerator a REINFORCE run spends its env-step budget slightly faster than on the CPU
EPISODE_CHECK_EVERY = 16


def clip_actions(actions: Tensor, space: gym.Space) -> Tensor:
    """Policy actions as a batched env takes them: Box actions clipped to the bounds, Discrete ones unchanged."""
    if isinstance(space, gym.spaces.Box):
        low, high = _bounds(space.low.tobytes(), space.high.tobytes(), str(space.dtype), actions.device)
        return torch.maximum(torch.minimum(actions, high), low)
    return actions


@functools.cache
def _bounds(low: bytes, high: bytes, dtype: str, device: torch.device) -> tuple[Tensor, Tensor]:
    """A Box's bounds as tensors on `device`, made once (a host-to-device copy per step would wait for the device)."""
    return tuple(torch.from_numpy(np.frombuffer(b, dtype=dtype).copy()).to(device) for b in (low, high))


class BatchedRolloutCollector(RolloutCollector):
    """Collects experience from a batched env (possibly wrapped by `pglab.envs.batched.wrappers`), on the device of
    the policy it is handed (the env moves there at the first rollout).

    Args:
        env: the batched env.
        seed: seeds the first reset; sub-env i's episodes are then `(seed, i, 0), (seed, i, 1), ...`.
        recent_episodes: how many recent episode returns `recent_return` averages over.
    """

    def __init__(self, env: VectorEnv, seed: int, recent_episodes: int = 20):
        super().__init__(env, seed, recent_episodes)
        self.base: BatchedEnv = env.unwrapped
        self._zeros: Tensor | None = None  # (`_zero_values`)
        self._obs: Tensor | None = None

    def distribute(self, rank: int, world_size: int, sum_over_processes: Callable[[Tensor], Tensor]) -> None:
        """As `RolloutCollector.distribute`; process `rank`'s sub-env i is global sub-env `rank * num_envs + i` of
        the same seed, so every process has distinct episodes."""
        super().distribute(rank, world_size, sum_over_processes)
        self._first_reset_seed = self.seed
        self.base.index = torch.arange(self.num_envs, device=self.base.device) + self.seed_offset

    def _on_device(self, device: torch.device) -> None:
        if self.base.device != device:
            self.env.to(device)
            if self._obs is not None:
                self._obs = self._obs.to(device)

    def state_dict(self) -> dict[str, Any]:
        """Counters, normalization statistics and the batched env's exact state (`BatchedEnv.state_dict`)."""
        started = self._obs is not None
        return {
            "env_steps": self.env_steps,
            "episodes": self.episodes,
            "recent_returns": list(self.recent_returns),
            "normalization": normalization_state(self.env),
            "env_state": self.base.state_dict() if started else None,
            "obs": self._obs.cpu().clone() if started else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.env_steps = int(state.get("env_steps", 0))
        self.episodes = int(state.get("episodes", 0))
        self.recent_returns.extend(state.get("recent_returns", []))
        load_normalization_state(self.env, state.get("normalization", {}))
        env_state = state.get("env_state")
        if self.rank == 0 and env_state is not None and "episode" in env_state:
            self.base.load_state_dict(env_state)
            self._obs = state["obs"].to(self.base.device)
        else:  # a checkpoint of another backend, or another process of a data-parallel run: new episodes
            self._obs = None
            self._first_reset_seed = self.seed + self.env_steps

    def _reset(self) -> None:
        seed = self._first_reset_seed if self._obs is None else None
        self._obs, _ = self.env.reset(seed=seed)

    def _env_step(self, policy: ActorCritic, obs: Tensor, actions: Tensor):
        """Step every sub-env with the policy's `actions` taken in `obs`; returns `final_values` (V(final obs) where
        truncated, else 0), the env's `next_obs, rewards, terminated, truncated`, and the episode statistics
        `(returns, lengths, ended)`, all `(N, ...)` tensors (the policy's outputs first from `_step`)."""
        next_obs, rewards, terminated, truncated, infos = self.env.step(
            clip_actions(actions, self.action_space)
        )
        self.env_steps += self.num_envs
        if not policy.has_critic:
            final_values = self._zero_values(obs.device)
        elif obs.device.type == "cpu":
            # (time-limit truncations are rare: one reduction decides most steps)
            final_values = self._zero_values(obs.device)
            if truncated.any():
                cut = truncated & ~terminated
                if cut.any():
                    final_values = torch.zeros(self.num_envs, device=obs.device)
                    final_values[cut] = policy.value(infos["final_obs"][cut])
        else:
            final_values = torch.where(truncated & ~terminated, policy.value(infos["final_obs"]), 0.0)
        statistics = (infos["episode"]["r"], infos["episode"]["l"], infos["_episode"])
        return final_values, next_obs, rewards, terminated, truncated, statistics

    def _zero_values(self, device: torch.device) -> Tensor:
        """`(N,)` zeros on `device`, made once: the `final_values` of a step without truncations (never written
        in place; the collectors copy or stack it)."""
        if self._zeros is None or self._zeros.device != device:
            self._zeros = torch.zeros(self.num_envs, device=device)
        return self._zeros

    def _record(self, returns: Tensor, lengths: Tensor, ended: Tensor) -> tuple[Tensor, Tensor]:
        """Count the episodes marked in `ended` (time-major, then sub-env order); returns their returns and lengths
        on the CPU (this reads the device once)."""
        returns, lengths = returns[ended].cpu(), lengths[ended].cpu()
        self.episodes += len(returns)
        self.recent_returns.extend(returns.tolist())  # float64, as the gymnasium collector's
        return returns.to(torch.float32), lengths

    @torch.no_grad()
    def collect(self, policy: ActorCritic, num_steps: int) -> Rollout:
        """Step all envs `num_steps` times, continuing the episodes in progress (see `RolloutCollector.collect`)."""
        device = next(policy.parameters()).device
        self._on_device(device)
        if self._obs is None:
            self._reset()
        steps_before, episodes_before = self.env_steps, self.episodes
        T, N = num_steps, self.num_envs
        obs_buf, actions = self._observation_and_action_buffers(T, device)
        log_probs, values, final_values, rewards = (torch.empty((T, N), device=device) for _ in range(4))
        terminated, truncated, ended = (
            torch.empty((T, N), dtype=torch.bool, device=device) for _ in range(3)
        )
        episode_returns = torch.empty((T, N), dtype=torch.float64, device=device)
        episode_lengths = torch.empty((T, N), dtype=torch.int64, device=device)

        obs = self._obs
        acting = policy.for_rollout(obs)
        for t in range(T):
            obs_buf[t] = obs
            (
                actions[t],
                log_probs[t],
                values[t],
                final_values[t],
                obs,
                rewards[t],
                terminated[t],
                truncated[t],
                (episode_returns[t], episode_lengths[t], ended[t]),
            ) = self._step(policy, acting, obs_buf[t])
        self._obs = obs
        returns, lengths = self._record(episode_returns, episode_lengths, ended)
        self._synchronize_counts(steps_before, episodes_before)
        last_values = acting.value(obs)
        next_values = self._next_values(values, last_values, final_values, terminated, truncated)
        full = torch.ones((T, N), dtype=torch.bool, device=device)
        return Rollout(
            obs_buf,
            actions,
            log_probs,
            values,
            next_values,
            rewards,
            terminated,
            truncated,
            full,
            returns,
            lengths,
        )

    def start_episodes(self, policy: ActorCritic, num_episodes: int) -> "BatchedEpisodeCollection":
        """`collect_episodes` one step at a time (see `RolloutCollector.start_episodes`), with the rule of
        `RolloutCollector.collect_episodes` (a sub-env whose episode ends starts another while fewer than
        `num_episodes` have been started, in sub-env order, else goes idle), decided on the device."""
        return BatchedEpisodeCollection(self, policy, num_episodes)


class BatchedEpisodeCollection:
    """`EpisodeCollection` of a `BatchedRolloutCollector`: the rule and the storage on the device; on an
    accelerator `running` reads the device every `EPISODE_CHECK_EVERY` steps only."""

    def __init__(self, collector: BatchedRolloutCollector, policy: ActorCritic, num_episodes: int):
        self.collector = collector
        self.policy = policy
        self.num_episodes = num_episodes
        self.device = device = next(policy.parameters()).device
        collector._on_device(device)
        collector._reset()
        self._counts_before = (collector.env_steps, collector.episodes)
        N = collector.num_envs
        self.active = torch.arange(N, device=device) < num_episodes
        self.started = torch.tensor(min(N, num_episodes), device=device)
        self.check_every = 1 if device.type == "cpu" else EPISODE_CHECK_EVERY
        self.steps: list[tuple] = []
        self.counted: tuple[list, list, list] = ([], [], [])  # returns, lengths, ended of each step
        #: the observations `(N, *O)` to act on next
        self.obs = collector._obs

    @property
    def running(self) -> bool:
        return bool(len(self.steps) % self.check_every or self.active.any())

    def step(self, actions: Tensor, log_probs: Tensor, values: Tensor) -> None:
        mask = self.active
        final, next_obs, rewards, terminated, truncated, statistics = self.collector._env_step(
            self.policy, self.obs, actions
        )
        self.steps.append((self.obs, actions, log_probs, values, final, mask, rewards, terminated, truncated))
        self.obs = next_obs
        ended = statistics[2] & self.active
        for column, value in zip(self.counted, (statistics[0], statistics[1], ended), strict=True):
            column.append(value)
        rank = torch.cumsum(ended.long(), 0)  # 1, 2, ... over the sub-envs whose counted episode ended
        goes_on = ended & (rank <= self.num_episodes - self.started)
        self.active = self.active & ~(ended & ~goes_on)
        self.started = self.started + goes_on.sum()

    def rollout(self) -> Rollout:
        collector = self.collector
        collector._obs = self.obs
        returns, lengths = collector._record(*(torch.stack(column) for column in self.counted))
        collector._synchronize_counts(*self._counts_before)
        obs_buf, actions, log_probs, values, final_values, mask, rewards, terminated, truncated = (
            torch.stack(column) for column in zip(*self.steps, strict=True)
        )
        next_values = collector._next_values(values, values[-1], final_values, terminated, truncated)
        return Rollout(
            obs_buf,
            actions,
            log_probs,
            values,
            next_values,
            rewards.to(torch.float32),
            terminated,
            truncated,
            mask,
            returns,
            lengths,
        )


def make_collector(env: VectorEnv, seed: int) -> RolloutCollector:
    """The collector for `env`: `BatchedRolloutCollector` for batched envs, `RolloutCollector` for gymnasium's."""
    if isinstance(env.unwrapped, BatchedEnv):
        return BatchedRolloutCollector(env, seed=seed)
    return RolloutCollector(env, seed=seed)
