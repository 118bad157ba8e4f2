"""Typed containers for rollouts (time-major) and training batches (flat)."""

from dataclasses import dataclass, fields

import torch
from torch import Tensor


@dataclass
class Rollout:
    """Experience from one collection pass, time-major.

    Shapes: T steps, N envs, `*O` observation shape, `*Act` action shape (empty for Discrete, `(A,)` for Box).

    Attributes:
        obs: `(T, N, *O)` float32 observations s_t the actions were taken in.
        actions: `(T, N, *Act)` int64 (Discrete) or float32 (Box, unclipped samples).
        log_probs: `(T, N)` behaviour-policy log pi(a_t|s_t).
        values: `(T, N)` behaviour-time V(s_t) (zeros without a critic).
        next_values: `(T, N)` V(s_{t+1}) of the observation that actually followed step t (the final
            observation where the episode ended); zero at terminated steps and without a critic.
        rewards: `(T, N)` float32 rewards as the (possibly wrapped) env returned them.
        terminated: `(T, N)` bool, the episode ended at step t (no bootstrap).
        truncated: `(T, N)` bool, the episode was cut at step t (bootstrap from next_values).
        mask: `(T, N)` bool, steps that belong to the training data (all True for fixed-length rollouts;
            REINFORCE's episode rollouts mask the steps of envs that finished their share of episodes).
        episode_returns: `(E,)` raw returns of the episodes completed in this rollout.
        episode_lengths: `(E,)` their lengths.
    """

    obs: Tensor
    actions: Tensor
    log_probs: Tensor
    values: Tensor
    next_values: Tensor
    rewards: Tensor
    terminated: Tensor
    truncated: Tensor
    mask: Tensor
    episode_returns: Tensor
    episode_lengths: Tensor

    @property
    def num_steps(self) -> int:
        return self.rewards.shape[0]


@dataclass
class TrainingBatch:
    """Flat samples for a gradient step (B samples; `old_` marks behaviour-policy quantities).

    Attributes:
        obs: `(B, *O)`.
        actions: `(B, *Act)`.
        old_log_probs: `(B,)`.
        old_values: `(B,)`.
        advantages: `(B,)` (for REINFORCE: the return weights).
        returns: `(B,)` value targets.
    """

    obs: Tensor
    actions: Tensor
    old_log_probs: Tensor
    old_values: Tensor
    advantages: Tensor
    returns: Tensor

    @classmethod
    def from_rollout(cls, rollout: Rollout, advantages: Tensor, returns: Tensor) -> "TrainingBatch":
        """Flatten the masked steps of a rollout, time-major; `advantages` and `returns` are `(T, N)`."""
        mask = rollout.mask
        if bool(mask.all()):  # fixed-length rollouts: views instead of boolean indexing's copies

            def take(x: Tensor) -> Tensor:
                return x.flatten(0, 1)
        else:

            def take(x: Tensor) -> Tensor:
                return x[mask]

        return cls(
            obs=take(rollout.obs),
            actions=take(rollout.actions),
            old_log_probs=take(rollout.log_probs),
            old_values=take(rollout.values),
            advantages=take(advantages),
            returns=take(returns),
        )

    def __len__(self) -> int:
        return self.old_log_probs.shape[0]

    def __getitem__(self, index: Tensor) -> "TrainingBatch":
        return TrainingBatch(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def minibatches(self, num_minibatches: int, generator: torch.Generator | None = None):
        """Yield `num_minibatches` minibatches of equal size from one random permutation."""
        size = len(self) // num_minibatches
        order = torch.randperm(len(self), generator=generator).to(self.advantages.device)
        for start in range(0, size * num_minibatches, size):
            yield self[order[start : start + size]]
