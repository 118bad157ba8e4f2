"""Return and advantage estimators: pure functions over time-major tensors.

Shape letters: T rollout steps, N environments. All inputs are time-major `(T, N)`.

Termination and truncation are kept apart (Pardo et al., 2018, "Time Limits in Reinforcement Learning"):
- `terminated[t]`: the episode really ended at step t; nothing is bootstrapped past it.
- `truncated[t]`: the episode was cut (time limit) at step t; the return is bootstrapped from the value of
  the observation that followed (the final observation of the episode).
Either flag cuts the trace: nothing from the next episode leaks into this one. The last step of a rollout
that is neither is also a cut, bootstrapped from the value of the observation after the rollout.

`next_values[t]` is always V(s_{t+1}), the value of the observation that actually followed step t: the final
observation where the episode ended at t, the observation after the rollout at t = T-1. Entries at
terminated steps are ignored.
"""

import torch
from torch import Tensor


def discounted_returns(
    rewards: Tensor, next_values: Tensor, terminated: Tensor, truncated: Tensor, gamma: float
) -> Tensor:
    """Discounted reward-to-go G_t = r_t + gamma * r_{t+1} + ... within each episode segment.

    Args:
        rewards: `(T, N)` float rewards.
        next_values: `(T, N)` float V(s_{t+1}); pass zeros for pure Monte-Carlo returns (no bootstrap).
        terminated: `(T, N)` bool.
        truncated: `(T, N)` bool.
        gamma: discount factor in (0, 1].

    Returns:
        `(T, N)` float returns.
    """
    not_terminated = (~terminated).to(rewards.dtype)
    continues = (~(terminated | truncated)).to(rewards.dtype)
    # The factors of each step's recursion, for all steps at once (elementwise, so the same products as step by
    # step); the loop then runs two products and two sums a step on the rows (`unbind`: views, no copies).
    cut_values = (1.0 - continues) * next_values
    discounts = gamma * not_terminated
    returns = []
    next_return = next_values[-1]
    for reward, discount, go_on, cut_value in zip(
        *(reversed(x.unbind(0)) for x in (rewards, discounts, continues, cut_values)), strict=True
    ):
        # Inside an episode the successor's return is G_{t+1}; at a cut it is V(s_{t+1}); after a termination, 0.
        successor = go_on * next_return + cut_value
        next_return = reward + discount * successor
        returns.append(next_return)
    return torch.stack(returns[::-1])


def generalized_advantage_estimate(
    rewards: Tensor,
    values: Tensor,
    next_values: Tensor,
    terminated: Tensor,
    truncated: Tensor,
    gamma: float,
    gae_lambda: float,
) -> Tensor:
    """GAE(lambda) advantages (Schulman et al., 2016, eq. 16).

    delta_t = r_t + gamma * V(s_{t+1}) * (1 - terminated_t) - V(s_t)
    A_t     = delta_t + gamma * lambda * (1 - done_t) * A_{t+1},   done = terminated | truncated

    With `gae_lambda=1` this is the bootstrapped reward-to-go minus V(s_t); with 0, the one-step TD error.

    Args:
        rewards: `(T, N)` float.
        values: `(T, N)` float V(s_t) under the behaviour policy's critic.
        next_values: `(T, N)` float V(s_{t+1}) (see the module docstring).
        terminated: `(T, N)` bool.
        truncated: `(T, N)` bool.
        gamma: discount factor.
        gae_lambda: trace decay in [0, 1].

    Returns:
        `(T, N)` float advantages; the value targets are `advantages + values`.
    """
    not_terminated = (~terminated).to(rewards.dtype)
    continues = (~(terminated | truncated)).to(rewards.dtype)
    deltas = rewards + gamma * next_values * not_terminated - values
    decays = (
        gamma * gae_lambda * continues
    )  # each step's factor, all at once (elementwise: the same products)
    advantages = []
    running = torch.zeros_like(rewards[0])
    for delta, decay in zip(reversed(deltas.unbind(0)), reversed(decays.unbind(0)), strict=True):
        running = delta + decay * running
        advantages.append(running)
    return torch.stack(advantages[::-1])


def episode_start_values(x: Tensor, terminated: Tensor, truncated: Tensor) -> Tensor:
    """Broadcast, to every step, the value `x` had at the first step of that step's episode.

    Applied to discounted returns it gives every action of an episode the whole-episode return
    G_0 = sum_k gamma^k r_k, the weighting of the original REINFORCE (Williams, 1992) and of introductory
    implementations that scale each log-prob of an episode by its total reward, instead of the reward-to-go.

    Args:
        x: `(T, N)` values per step.
        terminated: `(T, N)` bool.
        truncated: `(T, N)` bool.

    Returns:
        `(T, N)` tensor where entry `[t, n]` equals `x[s, n]`, s the first step of the episode containing t.
    """
    done = terminated | truncated
    out = torch.empty_like(x)
    carried = x[0]
    out[0] = carried
    for t in range(1, x.shape[0]):
        carried = torch.where(done[t - 1], x[t], carried)
        out[t] = carried
    return out


def standardize(x: Tensor, eps: float = 1e-8) -> Tensor:
    """`(x - mean) / (std + eps)` over all elements; returns `x - mean` unchanged in scale for one element."""
    if x.numel() < 2:
        return x - x.mean()
    return (x - x.mean()) / (x.std() + eps)


def explained_variance(predictions: Tensor, targets: Tensor) -> float:
    """1 - Var[targets - predictions] / Var[targets]: 1 is perfect, 0 no better than a constant, NaN if
    the targets are constant."""
    var_targets = targets.var()
    if var_targets == 0:
        return float("nan")
    return float(1.0 - (targets - predictions).var() / var_targets)
