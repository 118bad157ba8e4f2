"""The members' rollouts on the torch backend as one batched env and one batched policy pass per step.

A member's ordinary run steps a batched env of N sub-envs keyed by its seed (`pglab.envs.batched`). Here one env
of P x N sub-envs holds every member's sub-envs, member k's block keyed as its own run's env
(`BatchedEnv.reset_blocks`), so every sub-env plays the episodes it plays in the member's own run; the stacked
network acts for all members at once, member k sampling from its own generator the draws its own run takes. Each
member's collector keeps its counters and episode statistics, as in its own run.

Used when every member's env is an unwrapped batched env (no observation or reward normalization, whose running
statistics would mix the members); otherwise each member collects with its own collector.
"""

import torch
from torch import Tensor

from pglab.envs.batched import BatchedEnv
from pglab.rollout.batch import Rollout
from pglab.rollout.batched_collector import BatchedRolloutCollector, clip_actions


def can_batch(collectors: list) -> bool:
    """Whether the members' collectors can be replaced by one `PopulationCollector`."""
    return (
        all(isinstance(c, BatchedRolloutCollector) and c.env is c.base and c.rank == 0 for c in collectors)
        and len({(type(c.base), c.num_envs, c.base.max_episode_steps) for c in collectors}) == 1
    )


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

    @torch.no_grad()
    def collect(self, stacked, generators: list[torch.Generator], num_steps: int, training: list[int]):
        """`num_steps` steps of every member's sub-envs; returns the rollouts of the members in `training`."""
        P, N, T = self.members, self.num_envs, num_steps
        if self._obs is None:
            self._obs, _ = self.env.reset_blocks([c.seed for c in self.collectors])
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
            step_actions, log_probs[:, t], values[:, t] = stacked.act(obs, generators)
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
