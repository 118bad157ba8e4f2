"""The rollout collector: owns the vector env, its current observation, and the env-step and episode
counters. It steps the env with whatever policy it is handed, under `torch.no_grad()`, on that policy's
device, and returns time-major `Rollout`s.

In data-parallel training (`distribute`), every process has its own collector and envs; the counters are
summed over all processes at the end of each rollout, so every process reads the same global counts.
"""

from collections import deque
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import VectorEnv
from torch import Tensor

from pglab.envs.normalization import load_normalization_state, normalization_state
from pglab.envs.snapshot import can_snapshot, load_vector_env_state, vector_env_state
from pglab.networks.actor_critic import ActorCritic, RolloutPolicy
from pglab.rollout.batch import Rollout


def env_actions(actions: Tensor, space: gym.Space) -> np.ndarray:
    """Policy actions as the env takes them: Box actions clipped to the bounds (log-probs keep the raw
    sample), Discrete actions unchanged."""
    actions = actions.cpu().numpy()
    if isinstance(space, gym.spaces.Box):
        return np.clip(actions, space.low, space.high)
    return actions


class RolloutCollector:
    """Collects experience from a gymnasium vector env (same-step autoreset, see `pglab.envs.factory`).

    Args:
        env: the vector env (wrapped in `RecordEpisodeStatistics`).
        seed: seeds the first reset; sub-env i gets `seed + i`.
        recent_episodes: how many recent episode returns `recent_return` averages over.
    """

    def __init__(self, env: VectorEnv, seed: int, recent_episodes: int = 20):
        self.env = env
        self.num_envs = env.num_envs
        self.seed = seed
        self.env_steps = 0
        self.episodes = 0
        self.recent_returns: deque[float] = deque(maxlen=recent_episodes)
        self._obs: np.ndarray | None = None
        self._first_reset_seed = seed
        space = env.single_action_space
        self._discrete = isinstance(space, gym.spaces.Discrete)
        self.rank = 0
        self.seed_offset = 0
        self._sum_over_processes: Callable[[Tensor], Tensor] | None = None

    def distribute(self, rank: int, world_size: int, sum_over_processes: Callable[[Tensor], Tensor]) -> None:
        """Be process `rank`'s collector of `world_size`: its sub-env i is seeded `seed + rank * num_envs + i`
        (every process has distinct episodes), and `env_steps` / `episodes` count all processes' steps and
        episodes (`sum_over_processes` sums a tensor over them, e.g. an all-reduce)."""
        self.rank = rank
        self.seed_offset = rank * self.num_envs
        self._first_reset_seed += self.seed_offset
        self._sum_over_processes = sum_over_processes if world_size > 1 else None

    def _synchronize_counts(self, steps_before: int, episodes_before: int) -> None:
        """Replace this process's count increments of the last rollout by the sum over all processes."""
        if self._sum_over_processes is None:
            return
        local = torch.tensor(
            [self.env_steps - steps_before, self.episodes - episodes_before], dtype=torch.float64
        )
        steps, episodes = self._sum_over_processes(local).tolist()
        self.env_steps, self.episodes = steps_before + int(steps), episodes_before + int(episodes)

    @property
    def observation_space(self) -> gym.Space:
        return self.env.single_observation_space

    @property
    def action_space(self) -> gym.Space:
        return self.env.single_action_space

    @property
    def recent_return(self) -> float:
        """Mean raw return of the last completed episodes (NaN before the first one)."""
        return float(np.mean(self.recent_returns)) if self.recent_returns else float("nan")

    def state_dict(self) -> dict[str, Any]:
        """Counters, the env's normalization statistics and, where `pglab.envs.snapshot` can capture it, the
        envs' exact state and current observations (tensors and numbers only, for checkpoints)."""
        env_state = vector_env_state(self.env) if self._obs is not None else None
        return {
            "env_steps": self.env_steps,
            "episodes": self.episodes,
            "recent_returns": list(self.recent_returns),
            "normalization": normalization_state(self.env),
            "env_state": env_state,
            "obs": torch.from_numpy(np.array(self._obs)) if env_state is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a checkpoint's counters and statistics; the envs continue their episodes exactly when the
        checkpoint holds their state, else the next rollout resets them with seed `seed + env_steps`."""
        self.env_steps = int(state.get("env_steps", 0))
        self.episodes = int(state.get("episodes", 0))
        self.recent_returns.extend(state.get("recent_returns", []))
        load_normalization_state(self.env, state.get("normalization", {}))
        # Checkpoints hold process 0's envs; the other processes of a data-parallel run start new episodes.
        env_state = state.get("env_state")
        # (a checkpoint of the torch backend holds its batched env's state instead: new episodes then)
        if self.rank == 0 and env_state is not None and "sub_envs" in env_state and can_snapshot(self.env):
            load_vector_env_state(self.env, state["env_state"])
            self._obs = state["obs"].numpy().copy()
        else:
            self._obs = None
            self._first_reset_seed = self.seed + self.seed_offset + self.env_steps

    def _reset(self) -> None:
        # Seed only the first reset of this process: later resets continue each sub-env's own RNG stream.
        seed = self._first_reset_seed if self._obs is None else None
        self._obs, _ = self.env.reset(seed=seed)

    def _step(self, policy: ActorCritic, acting: RolloutPolicy, obs: Tensor):
        """One vector step from `obs` (the current observations as a tensor on the policy's device), acting with
        `acting`, the policy's `for_rollout` of this rollout.

        Returns `(actions, log_probs, values, final_values, next_obs, rewards, terminated, truncated, finished)`:
        the policy's outputs as tensors `(N, ...)`, then what `_env_step` returns.
        """
        actions, log_probs, values = acting.act(obs)
        return actions, log_probs, values, *self._env_step(policy, obs, actions)

    def _env_step(self, policy: ActorCritic, obs: Tensor, actions: Tensor):
        """Step the env with the policy's `actions (N, ...)` taken in `obs`.

        Returns `(final_values, next_obs, rewards, terminated, truncated, finished)`: `final_values` holds V(final
        obs) for truncated sub-envs (zeros elsewhere), None when no sub-env was truncated; the env's outputs as
        numpy arrays; `finished` is `(returns, lengths, env_indices)` of the episodes that ended, or None.
        """
        next_obs, rewards, terminated, truncated, infos = self.env.step(
            env_actions(actions, self.action_space)
        )
        self.env_steps += self.num_envs
        self._obs = next_obs
        final_values = finished = None
        if terminated.any() or truncated.any():
            cut = np.flatnonzero(truncated & ~terminated)
            if policy.has_critic and cut.size:
                final_obs = np.stack(infos["final_obs"][cut])
                final_values = torch.zeros(self.num_envs, device=obs.device)
                final_values[cut] = policy.value(self._as_tensor(final_obs, obs.device))
            done = infos["_episode"]
            finished = (infos["episode"]["r"][done], infos["episode"]["l"][done], np.flatnonzero(done))
        return final_values, next_obs, rewards, terminated, truncated, finished

    def _observation_and_action_buffers(self, num_steps: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """Empty `(T, N, *O)` float32 observation and `(T, N, *Act)` action storage (int64 for Discrete)."""
        shape = (num_steps, self.num_envs)
        obs = torch.empty((*shape, *self.observation_space.shape), dtype=torch.float32, device=device)
        action_dtype = torch.int64 if self._discrete else torch.float32
        return obs, torch.empty((*shape, *self.action_space.shape), dtype=action_dtype, device=device)

    @staticmethod
    def _as_tensor(obs: np.ndarray, device: torch.device) -> Tensor:
        return torch.as_tensor(obs, dtype=torch.float32, device=device)

    def _record_episodes(self, returns: np.ndarray, lengths: np.ndarray, into: list) -> None:
        self.episodes += len(returns)
        self.recent_returns.extend(returns.tolist())
        into.extend(zip(returns.tolist(), lengths.tolist(), strict=True))

    @torch.no_grad()
    def collect(self, policy: ActorCritic, num_steps: int) -> Rollout:
        """Step all envs `num_steps` times, continuing the episodes in progress.

        The policy's outputs go into preallocated time-major tensors on its device, the env's rewards and flags
        into numpy arrays that become tensors once per rollout (zero-copy on the CPU).

        Returns a Rollout with T = num_steps; `next_values` bootstraps truncations and the rollout's end.
        """
        device = next(policy.parameters()).device
        if self._obs is None:
            self._reset()
        steps_before, episodes_before = self.env_steps, self.episodes
        T, N = num_steps, self.num_envs
        obs_buf, actions = self._observation_and_action_buffers(T, device)
        log_probs, values = torch.empty((T, N), device=device), torch.empty((T, N), device=device)
        final_values = torch.zeros((T, N), device=device)
        rewards = np.empty((T, N), dtype=np.float32)
        terminated, truncated = np.empty((T, N), dtype=bool), np.empty((T, N), dtype=bool)
        episodes: list[tuple[float, int]] = []

        obs_buf[0] = self._as_tensor(self._obs, device)
        acting = policy.for_rollout(obs_buf[0])
        for t in range(T):
            (
                actions[t],
                log_probs[t],
                values[t],
                final,
                next_obs,
                rewards[t],
                terminated[t],
                truncated[t],
                finished,
            ) = self._step(policy, acting, obs_buf[t])
            if final is not None:
                final_values[t] = final
            if finished is not None:
                self._record_episodes(finished[0], finished[1], episodes)
            if t + 1 < T:
                obs_buf[t + 1] = self._as_tensor(next_obs, device)

        self._synchronize_counts(steps_before, episodes_before)
        last_values = acting.value(self._as_tensor(self._obs, device))
        terminated, truncated = (
            torch.from_numpy(terminated).to(device),
            torch.from_numpy(truncated).to(device),
        )
        next_values = self._next_values(values, last_values, final_values, terminated, truncated)
        return self._rollout(
            obs_buf,
            actions,
            log_probs,
            values,
            next_values,
            torch.from_numpy(rewards).to(device),
            terminated,
            truncated,
            torch.ones((T, N), dtype=torch.bool, device=device),
            episodes,
        )

    @torch.no_grad()
    def collect_episodes(self, policy: ActorCritic, num_episodes: int) -> Rollout:
        """Collect exactly `num_episodes` complete episodes, all started with this policy.

        All sub-envs are reset; each keeps starting new episodes while fewer than `num_episodes` have been
        started, then goes idle (its later steps are masked out). Whether an episode is included is decided
        before it starts, so short episodes are not over-represented. Idle steps still count as env steps:
        the vector env steps every sub-env.

        Returns a Rollout whose T is the length of the longest env's share, with `mask` marking the steps of
        the collected episodes.
        """
        episodes = self.start_episodes(policy, num_episodes)
        act = policy.for_rollout(episodes.obs).act
        while episodes.running:
            episodes.step(*act(episodes.obs))
        return episodes.rollout()

    def start_episodes(self, policy: ActorCritic, num_episodes: int) -> "EpisodeCollection":
        """`collect_episodes` one step at a time (its sub-envs reset now): step the returned collection with the
        policy's `act` of its `obs` while it is `running`, then take its `rollout()`."""
        return EpisodeCollection(self, policy, num_episodes)

    @staticmethod
    def _next_values(
        values: Tensor, last_values: Tensor, final_values: Tensor, terminated: Tensor, truncated: Tensor
    ) -> Tensor:
        """V(s_{t+1}) of each step, `(T, N)`: the next step's value `values[t + 1]`, `last_values` `(N,)` after
        the last step, and where an episode ended `final_values`: V(final obs) where it was truncated, zero where
        it terminated."""
        return torch.where(terminated | truncated, final_values, torch.cat([values[1:], last_values[None]]))

    @staticmethod
    def _rollout(
        obs, actions, log_probs, values, next_values, rewards, terminated, truncated, mask, episodes
    ):
        returns, lengths = zip(*episodes, strict=True) if episodes else ((), ())
        return Rollout(
            obs=obs,
            actions=actions,
            log_probs=log_probs,
            values=values,
            next_values=next_values,
            rewards=rewards,
            terminated=terminated,
            truncated=truncated,
            mask=mask,
            episode_returns=torch.tensor(returns, dtype=torch.float32),
            episode_lengths=torch.tensor(lengths, dtype=torch.int64),
        )

    def close(self) -> None:
        self.env.close()


class EpisodeCollection:
    """One `collect_episodes` of a `RolloutCollector` between its steps, so that whoever holds the policy's
    outputs can step it: the collector itself, or a population stepping its members' collections with one batched
    policy pass (`pglab.population.reinforce`).

    Args:
        collector: the collector whose envs play the episodes (reset here).
        policy: the policy acting (for V(final obs) where it has a critic, and its device).
        num_episodes: the complete episodes to collect.
    """

    def __init__(self, collector: RolloutCollector, policy: ActorCritic, num_episodes: int):
        self.collector = collector
        self.policy = policy
        self.num_episodes = num_episodes
        self.device = next(policy.parameters()).device
        collector._reset()
        self._counts_before = (collector.env_steps, collector.episodes)
        self.active = np.arange(collector.num_envs) < num_episodes
        self.started = int(self.active.sum())
        self.steps: list[tuple] = []
        self.episodes: list[tuple[float, int]] = []
        #: the observations `(N, *O)` to act on next, on the policy's device
        self.obs = collector._as_tensor(collector._obs, self.device)

    @property
    def running(self) -> bool:
        """Whether some sub-env is still playing a collected episode."""
        return bool(self.active.any())

    def step(self, actions: Tensor, log_probs: Tensor, values: Tensor) -> None:
        """One step of every sub-env with the policy's outputs for `obs`: `(N, ...)` tensors."""
        collector = self.collector
        mask = torch.as_tensor(self.active.copy(), device=self.device)
        final, next_obs, rewards, terminated, truncated, finished = collector._env_step(
            self.policy, self.obs, actions
        )
        final = torch.zeros(collector.num_envs, device=self.device) if final is None else final
        self.steps.append((self.obs, actions, log_probs, values, final, mask, rewards, terminated, truncated))
        self.obs = collector._as_tensor(next_obs, self.device)
        if finished is not None:
            returns, lengths, env_ids = finished
            counted = self.active[env_ids]
            collector._record_episodes(returns[counted], lengths[counted], self.episodes)
            for env_id in env_ids[counted]:
                if self.started < self.num_episodes:
                    self.started += 1
                else:
                    self.active[env_id] = False

    def rollout(self) -> Rollout:
        """The collected episodes, once no sub-env is `running`."""
        collector, device = self.collector, self.device
        collector._synchronize_counts(*self._counts_before)
        columns = list(zip(*self.steps, strict=True))
        obs_buf, actions, log_probs, values, final_values, mask = (torch.stack(c) for c in columns[:6])
        rewards = torch.as_tensor(np.stack(columns[6]), dtype=torch.float32, device=device)
        terminated, truncated = (torch.as_tensor(np.stack(c), device=device) for c in columns[7:])
        # Every collected episode has ended by the last step (an idle env's steps are masked out), so the value
        # after it is never used: the last step's own stands in. REINFORCE has no critic: next_values are zeros
        # and returns are pure Monte-Carlo.
        next_values = collector._next_values(values, values[-1], final_values, terminated, truncated)
        return collector._rollout(
            obs_buf,
            actions,
            log_probs,
            values,
            next_values,
            rewards,
            terminated,
            truncated,
            mask,
            self.episodes,
        )
