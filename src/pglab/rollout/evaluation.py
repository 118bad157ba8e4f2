"""Policy evaluation on a separate vector env: each sub-env plays exactly one episode."""

import numpy as np
import torch
from gymnasium.vector import VectorEnv

from pglab.envs.batched import BatchedEnv
from pglab.networks.actor_critic import ActorCritic
from pglab.rollout.batched_collector import clip_actions
from pglab.rollout.collector import env_actions


@torch.no_grad()
def evaluate_policy(
    policy: ActorCritic, env: VectorEnv, seed: int, deterministic: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Play one episode in each of the `env.num_envs` sub-envs, reset with seeds `seed, seed+1, ...`.

    Every sub-env's first episode is used whatever its length, so the estimate is not biased towards short
    episodes. Returns are the raw env rewards summed.

    Args:
        policy: the policy; acts greedily (argmax / Gaussian mean) when `deterministic`, else samples.
        env: a vector env from `pglab.envs.factory.make_vector_env` (same-step autoreset).
        seed: seed of the first sub-env's reset.

    Returns:
        `(returns, lengths)`, each of shape `(env.num_envs,)`.
    """
    device = next(policy.parameters()).device
    if isinstance(env.unwrapped, BatchedEnv):
        return _evaluate_batched(policy, env, seed, deterministic, device)
    space = env.single_action_space
    obs, _ = env.reset(seed=seed)
    n = env.num_envs
    returns = np.zeros(n)
    lengths = np.zeros(n, dtype=np.int64)
    running = np.ones(n, dtype=bool)
    while running.any():
        obs_t = torch.as_tensor(obs, dtype=torch.float32, device=device)
        actions = policy.deterministic_action(obs_t) if deterministic else policy.distribution(obs_t).sample()
        obs, rewards, terminated, truncated, _ = env.step(env_actions(actions, space))
        returns[running] += rewards[running]
        lengths[running] += 1
        running &= ~(terminated | truncated)
    return returns, lengths


def _evaluate_batched(
    policy: ActorCritic, env: VectorEnv, seed: int, deterministic: bool, device: torch.device
) -> tuple[np.ndarray, np.ndarray]:
    """`evaluate_policy` on a batched env, on the policy's device (sub-env i's episode is `(seed, i, 0)`)."""
    env.to(device)
    space = env.single_action_space
    obs, _ = env.reset(seed=seed)
    n = env.num_envs
    returns = torch.zeros(n, dtype=torch.float64, device=device)
    lengths = torch.zeros(n, dtype=torch.int64, device=device)
    running = torch.ones(n, dtype=torch.bool, device=device)
    while bool(running.any()):
        actions = policy.deterministic_action(obs) if deterministic else policy.distribution(obs).sample()
        obs, rewards, terminated, truncated, _ = env.step(clip_actions(actions, space))
        returns += torch.where(running, rewards, 0.0)
        lengths += running
        running &= ~(terminated | truncated)
    return returns.cpu().numpy(), lengths.cpu().numpy()
