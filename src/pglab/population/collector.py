"""The members' rollouts as one vector env and one batched policy pass per step.

One vector env of P x N sub-envs holds every member's sub-envs, member k's block started as its own run's env
(torch backend: keyed by the member's seed, `BatchedEnv.reset_blocks`; gymnasium: sub-env i of member k reset
with seed `seed_k + i`), so every sub-env plays the episodes it plays in the member's own run; the stacked network
acts for all members at once, member k sampling from its own generator the draws its own run takes. Each member's
collector keeps its counters and episode statistics, as in its own run; its own env is not stepped.

Used when the members' envs have no vector-level wrapper besides episode statistics (observation or reward
normalization and reward clipping keep running statistics over all sub-envs, which would mix the members);
otherwise each member collects with its own collector.
"""

from typing import Any

import numpy as np
import torch
from gymnasium.vector import SyncVectorEnv
from gymnasium.wrappers.vector import RecordEpisodeStatistics
from torch import Tensor

from pglab.envs.batched import BatchedEnv
from pglab.envs.snapshot import load_vector_env_state, vector_env_state
from pglab.errors import ConfigError
from pglab.population.checkpoints import block
from pglab.rollout.batch import Rollout
from pglab.rollout.batched_collector import BatchedRolloutCollector, clip_actions
from pglab.rollout.collector import env_actions


def can_batch(collectors: list) -> bool:
    """Whether the members' collectors can be replaced by one population collector."""
    if len({(type(c), type(c.env.unwrapped), c.num_envs) for c in collectors}) > 1:
        return False
    if all(isinstance(c, BatchedRolloutCollector) for c in collectors):
        return all(c.env is c.base and c.rank == 0 for c in collectors)
    return all(
        isinstance(c.env, RecordEpisodeStatistics) and isinstance(c.env.env, SyncVectorEnv) and c.rank == 0
        for c in collectors
    )


def population_collector(env, collectors: list):
    """The population collector of `env` (made like the members' envs, with P x N sub-envs)."""
    if isinstance(env, BatchedEnv):
        return PopulationCollector(env, collectors)
    return GymnasiumPopulationCollector(env, collectors)


class PopulationCollector:
    """Args:
    env: a batched env of `len(collectors) * N` sub-envs (made like the members' own, with more sub-envs).
    collectors: the members' own collectors (their counters are kept; their envs are not stepped).
    """

    def __init__(self, env: BatchedEnv, collectors: list[BatchedRolloutCollector]):
        self.env = env
        self.collectors = collectors
        self.members = len(collectors)
        self.num_envs = collectors[0].num_envs
        self._obs: Tensor | None = None
        self._seeds: list[int] = []  # the seed keying each member's block of sub-envs
        #: the members whose block is at its seeded first reset, not yet played (`collect_episodes` resets the
        #: others' blocks before each rollout, as their own collectors reset their envs)
        self._fresh: set[int] = set()

    def _start(self) -> None:
        """The first reset: every member's block keyed by its seed, as its own env's first reset."""
        self._seeds = [c.seed for c in self.collectors]
        self._obs, _ = self.env.reset_blocks(self._seeds)
        self._fresh = set(range(self.members))

    @torch.no_grad()
    def collect(self, stacked, generators: list[torch.Generator], num_steps: int, training: list[int]):
        """`num_steps` steps of every member's sub-envs; returns the rollouts of the members in `training`."""
        P, N, T = self.members, self.num_envs, num_steps
        if self._obs is None:
            self._start()
        self._fresh -= set(training)
        device = self._obs.device
        first = self.collectors[0]
        obs_buf = torch.empty((P, T, N, *first.observation_space.shape), device=device)
        actions = torch.empty(
            (P, T, N, *first.action_space.shape),
            dtype=torch.int64 if first._discrete else torch.float32,
            device=device,
        )
        log_probs, values, final_values, rewards = (torch.zeros((P, T, N), device=device) for _ in range(4))
        terminated, truncated, ended = (
            torch.empty((P, T, N), dtype=torch.bool, device=device) for _ in range(3)
        )
        episode_returns = torch.empty((P, T, N), dtype=torch.float64, device=device)
        episode_lengths = torch.empty((P, T, N), dtype=torch.int64, device=device)
        policies = stacked.members
        obs = self._obs.view(P, N, *self._obs.shape[1:])
        for t in range(T):
            obs_buf[:, t] = obs
            step_actions, log_probs[:, t], values[:, t] = stacked.act(obs, generators, drawing=training)
            actions[:, t] = step_actions
            next_obs, step_rewards, step_terminated, step_truncated, infos = self.env.step(
                clip_actions(step_actions.flatten(0, 1), first.action_space)
            )
            rewards[:, t] = step_rewards.view(P, N)
            terminated[:, t] = step_terminated.view(P, N)
            truncated[:, t] = step_truncated.view(P, N)
            cut = (step_truncated & ~step_terminated).view(P, N)
            if stacked.has_critic and bool(cut.any()):  # V(final obs) where truncated, per member as its run
                final_obs = infos["final_obs"].view(P, N, *infos["final_obs"].shape[1:])
                for k in cut.any(dim=1).nonzero().flatten().tolist():
                    final_values[k, t, cut[k]] = policies[k].value(final_obs[k][cut[k]])
            episode_returns[:, t] = infos["episode"]["r"].view(P, N)
            episode_lengths[:, t] = infos["episode"]["l"].view(P, N)
            ended[:, t] = infos["_episode"].view(P, N)
            obs = next_obs.view(P, N, *next_obs.shape[1:])
        self._obs = next_obs
        last_values = stacked.value(obs)
        rollouts = {}
        for k in training:
            collector = self.collectors[k]
            collector.env_steps += T * N
            returns, lengths = collector._record(episode_returns[k], episode_lengths[k], ended[k])
            next_values = collector._next_values(
                values[k], last_values[k], final_values[k], terminated[k], truncated[k]
            )
            rollouts[k] = Rollout(
                obs_buf[k],
                actions[k],
                log_probs[k],
                values[k],
                next_values,
                rewards[k],
                terminated[k],
                truncated[k],
                torch.ones((T, N), dtype=torch.bool, device=device),
                returns,
                lengths,
            )
        return rollouts

    @torch.no_grad()
    def collect_episodes(
        self, stacked, generators: list[torch.Generator], num_episodes: int, training: list[int]
    ) -> dict[int, Rollout]:
        """`num_episodes` whole episodes of every member in `training`, each as its own collector's
        `collect_episodes` collects them (`BatchedEpisodeCollection`, vectorized over the members): its block of
        sub-envs starts new episodes (continuing its episode numbering), then every sub-env of the block steps
        until the episodes are complete. A member whose episodes are complete, or that is not training, keeps its
        rows as they were while the others step. For policies without a critic (REINFORCE)."""
        P, N, env = self.members, self.num_envs, self.env
        if self._obs is None:
            self._start()
        device = self._obs.device
        members = torch.zeros(P, dtype=torch.bool, device=device)
        members[training] = True
        resets = members.clone()
        resets[sorted(self._fresh)] = False  # (a block at its seeded first reset starts from it)
        self._fresh -= set(training)
        if bool(resets.any()):  # `env.reset(seed=None)` of these members' envs: their next episodes
            self._obs = self._reset_rows(resets.repeat_interleave(N))
        active = (torch.arange(N, device=device) < num_episodes) & members[:, None]  # (P, N)
        started = torch.full((P,), min(N, num_episodes), device=device)
        steps: list[tuple] = []
        obs = self._obs.view(P, N, *self._obs.shape[1:])
        running = members.clone()
        while True:
            collecting = running.nonzero().flatten().tolist()
            if not collecting:
                break
            mask = active
            actions, log_probs, values = stacked.act(obs, generators, drawing=collecting)
            held = (env.state, env.episode, env.elapsed, env.episode_return, self._obs)
            next_obs, rewards, terminated, truncated, infos = env.step(
                clip_actions(actions.flatten(0, 1), self.collectors[0].action_space)
            )
            if len(collecting) < P:  # the members not collecting keep their rows as they were (all but
                # `env.final_state`, which nothing reads here: `can_batch` admits no video wrapper)
                rows = running.repeat_interleave(N)
                env.state = {name: _where(rows, value, held[0][name]) for name, value in env.state.items()}
                env.episode, env.elapsed, env.episode_return = (
                    torch.where(rows, now, before)
                    for now, before in zip(
                        (env.episode, env.elapsed, env.episode_return), held[1:4], strict=True
                    )
                )
                next_obs = _where(rows, next_obs, held[4])
            ended = infos["_episode"].view(P, N) & active
            steps.append(
                (
                    obs,
                    actions,
                    log_probs,
                    values,
                    mask,
                    rewards.view(P, N),
                    terminated.view(P, N),
                    truncated.view(P, N),
                    infos["episode"]["r"].view(P, N),
                    infos["episode"]["l"].view(P, N),
                    ended,
                    running,
                )
            )
            self._obs = next_obs
            obs = next_obs.view(P, N, *next_obs.shape[1:])
            rank = torch.cumsum(
                ended.long(), 1
            )  # 1, 2, ... over each member's sub-envs whose counted episode ended
            goes_on = ended & (rank <= (num_episodes - started)[:, None])
            active = active & ~(ended & ~goes_on)
            started = started + goes_on.sum(1)
            running = running & active.any(1)
        columns = [torch.stack(column) for column in zip(*steps, strict=True)]
        (
            obs_buf,
            actions,
            log_probs,
            values,
            mask,
            rewards,
            terminated,
            truncated,
            returns,
            lengths,
            ended,
            ran,
        ) = columns
        rollouts = {}
        for k in training:
            T = int(ran[:, k].sum())  # the steps of the member's own collection
            collector = self.collectors[k]
            collector.env_steps += T * N
            member_returns, member_lengths = collector._record(returns[:T, k], lengths[:T, k], ended[:T, k])
            member_values = values[:T, k]
            final_values = torch.zeros_like(member_values)  # no critic: no V(final obs)
            next_values = collector._next_values(
                member_values, member_values[-1], final_values, terminated[:T, k], truncated[:T, k]
            )
            rollouts[k] = Rollout(
                obs_buf[:T, k],
                actions[:T, k],
                log_probs[:T, k],
                member_values,
                next_values,
                rewards[:T, k].to(torch.float32),
                terminated[:T, k],
                truncated[:T, k],
                mask[:T, k],
                member_returns,
                member_lengths,
            )
        return rollouts

    def _reset_rows(self, rows: Tensor) -> Tensor:
        """New episodes in the sub-envs `rows` (`(P * N,)` bool), each the next of its own numbering, as `reset()`
        without a seed starts them; the others as they are. Returns the observations of all sub-envs."""
        env = self.env
        index = rows.nonzero().flatten()
        env.episode = env.episode + rows
        start = env.initial_state(env.draw(env.episode[index], env.reset_draws, rows=index))
        env.state = {name: value.index_put((index,), start[name]) for name, value in env.state.items()}
        env.elapsed = torch.where(rows, 0, env.elapsed)
        env.episode_return = torch.where(rows, 0.0, env.episode_return)
        return self._obs.index_put((index,), env.observe(start))

    def continue_members(self) -> None:
        """Start every member's block where its own collector stands after loading its checkpoint: the sub-envs'
        exact state and observations, or (a checkpoint without them) new episodes keyed as its own run keys
        them, by `seed + env_steps`."""
        self._seeds = [c.base.seed if c._obs is not None else c._first_reset_seed for c in self.collectors]
        self._obs, _ = self.env.reset_blocks(self._seeds)
        self._fresh = {k for k, c in enumerate(self.collectors) if c._obs is None}
        N = self.num_envs
        for k, collector in enumerate(self.collectors):
            if collector._obs is None:
                continue
            rows, own = slice(k * N, (k + 1) * N), collector.base
            for name, value in own.state.items():
                self.env.state[name][rows] = value.to(self.env.device)
            for name in ("episode", "elapsed", "episode_return"):
                getattr(self.env, name)[rows] = getattr(own, name).to(self.env.device)
            self._obs[rows] = collector._obs.to(self._obs.device)

    def member_state(self, k: int) -> tuple[dict | None, Tensor | None]:
        """Member `k`'s block of the env state and observations, as its own collector's `state_dict` holds them
        (none for a block that has not played since its seeded first reset: its own envs have not started)."""
        if self._obs is None or k in self._fresh:
            return None, None
        N, total = self.num_envs, self.env.num_envs
        state = block(self.env.state_dict(), k, N, total)
        state["seed"] = self._seeds[k]  # the seed that keys the block's draws, as its own env's `seed`
        return state, self._obs[k * N : (k + 1) * N].cpu().clone()


class GymnasiumPopulationCollector:
    """`PopulationCollector` for gymnasium vector envs: one `SyncVectorEnv` of every member's sub-envs, the
    member's `RolloutCollector.collect` step for step (numpy observations and flags, V(final obs) of the truncated
    sub-envs per member)."""

    def __init__(self, env, collectors: list):
        self.env = env
        self.collectors = collectors
        self.members = len(collectors)
        self.num_envs = collectors[0].num_envs
        self._obs: np.ndarray | None = None

    @torch.no_grad()
    def collect(self, stacked, generators: list[torch.Generator], num_steps: int, training: list[int]):
        P, N, T = self.members, self.num_envs, num_steps
        if self._obs is None:
            seeds = [c.seed + i for c in self.collectors for i in range(N)]
            self._obs, _ = self.env.reset(seed=seeds)
        first = self.collectors[0]
        device = torch.device("cpu")
        obs_buf = torch.empty((P, T, N, *first.observation_space.shape))
        actions = torch.empty(
            (P, T, N, *first.action_space.shape), dtype=torch.int64 if first._discrete else torch.float32
        )
        log_probs, values, final_values = (torch.zeros((P, T, N)) for _ in range(3))
        rewards = np.empty((P, T, N), dtype=np.float32)
        terminated, truncated = np.empty((P, T, N), dtype=bool), np.empty((P, T, N), dtype=bool)
        episodes: list[list[tuple[float, int]]] = [[] for _ in range(P)]
        obs = first._as_tensor(self._obs, device).view(P, N, *first.observation_space.shape)
        for t in range(T):
            obs_buf[:, t] = obs
            step_actions, log_probs[:, t], values[:, t] = stacked.act(obs, generators, drawing=training)
            actions[:, t] = step_actions
            next_obs, step_rewards, step_terminated, step_truncated, infos = self.env.step(
                env_actions(step_actions.flatten(0, 1), first.action_space)
            )
            self._obs = next_obs
            rewards[:, t] = step_rewards.reshape(P, N)
            terminated[:, t] = step_terminated.reshape(P, N)
            truncated[:, t] = step_truncated.reshape(P, N)
            if step_terminated.any() or step_truncated.any():
                for k in range(P):
                    rows = slice(k * N, (k + 1) * N)
                    cut = np.flatnonzero(step_truncated[rows] & ~step_terminated[rows])
                    if stacked.has_critic and cut.size:
                        final_obs = np.stack(infos["final_obs"][k * N + cut])
                        final_values[k, t, cut] = stacked.members[k].value(
                            first._as_tensor(final_obs, device)
                        )
                    done = infos["_episode"][rows]
                    if k in training and done.any():
                        self.collectors[k]._record_episodes(
                            infos["episode"]["r"][rows][done], infos["episode"]["l"][rows][done], episodes[k]
                        )
            obs = first._as_tensor(next_obs, device).view(P, N, *first.observation_space.shape)
        last_values = stacked.value(obs)
        rollouts = {}
        for k in training:
            collector = self.collectors[k]
            collector.env_steps += T * N
            flags = torch.from_numpy(terminated[k]), torch.from_numpy(truncated[k])
            next_values = collector._next_values(values[k], last_values[k], final_values[k], *flags)
            rollouts[k] = collector._rollout(
                obs_buf[k],
                actions[k],
                log_probs[k],
                values[k],
                next_values,
                torch.from_numpy(rewards[k]),
                *flags,
                torch.ones((T, N), dtype=torch.bool),
                episodes[k],
            )
        return rollouts

    def continue_members(self) -> None:
        """Start every member's sub-envs where its own collector's envs stand after loading its checkpoint: their
        exact state and observations (`pglab.envs.snapshot`), or, where a checkpoint holds none (an env that cannot
        be captured), new episodes seeded as its own run seeds them, `seed + env_steps` (+ the sub-env's index)."""
        started = [c._obs is not None for c in self.collectors]
        if not any(started):
            N = self.num_envs
            self._obs, _ = self.env.reset(
                seed=[c._first_reset_seed + i for c in self.collectors for i in range(N)]
            )
            return
        if not all(started):
            raise ConfigError(
                "some members' checkpoints hold their env state and some do not; resume them on their own "
                "(python train.py resume=<run dir>)"
            )
        load_vector_env_state(
            self.env, joined([vector_env_state(c.env) for c in self.collectors], self.num_envs)
        )
        self._obs = np.concatenate([c._obs for c in self.collectors])

    def member_state(self, k: int) -> tuple[dict | None, Tensor | None]:
        """Member `k`'s sub-envs' exact state and observations, as its own collector's `state_dict` holds them."""
        state = vector_env_state(self.env) if self._obs is not None else None
        if state is None:
            return None, None
        N, total = self.num_envs, self.env.num_envs
        state = block(state, k, N, total)
        # the counts over all sub-envs, as the member's own env has them
        if "num_envs" in state["vector_env"]:
            state["vector_env"]["num_envs"] = N
        for wrapper in state["vector_wrappers"]:
            if (
                "episode_count" in wrapper
            ):  # RecordEpisodeStatistics: the episodes ended in the member's sub-envs
                wrapper["episode_count"] = self.collectors[k].episodes
        return state, torch.from_numpy(np.array(self._obs[k * N : (k + 1) * N]))


def joined(states: list[dict[str, Any]], size: int) -> dict[str, Any]:
    """One vector env's state (`vector_env_state`) of every member's sub-envs from the members' own, `size`
    sub-envs each, the inverse of `pglab.population.checkpoints.block`: the sub-envs' list concatenated, and each
    vector wrapper's and the vector env's attributes joined (`_joined_attributes`)."""
    return {
        "vector_wrappers": [
            _joined_attributes(list(wrappers), size)
            for wrappers in zip(*(s["vector_wrappers"] for s in states), strict=True)
        ],
        "vector_env": _joined_attributes([s["vector_env"] for s in states], size),
        "sub_envs": [sub_env for s in states for sub_env in s["sub_envs"]],
    }


def _joined_attributes(attributes: list[dict[str, Any]], size: int) -> dict[str, Any]:
    """Per-sub-env arrays (leading dim `size`) concatenated, `RecordEpisodeStatistics.episode_count` summed,
    other values (settings, scalars) the first member's."""
    result = {}
    for key, first in attributes[0].items():
        values = [a[key] for a in attributes]
        if key == "episode_count":
            result[key] = sum(values)
        elif isinstance(first, torch.Tensor) and first.ndim and first.shape[0] == size:
            result[key] = torch.cat(values)
        else:
            result[key] = first
    return result


def _where(rows: Tensor, now: Tensor, before: Tensor) -> Tensor:
    """`now` in the sub-envs `rows` (`(N,)` bool), `before` in the others, for `(N, ...)` tensors."""
    return torch.where(rows.reshape(rows.shape + (1,) * (now.dim() - 1)), now, before)
