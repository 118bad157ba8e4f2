"""Policy-gradient loss terms as pure functions of minibatch tensors.

Shape letter B: samples in the (mini)batch. Losses are returned as scalars to minimize; diagnostics are
detached.
"""

import torch
from torch import Tensor


def policy_gradient_loss(log_probs: Tensor, weights: Tensor) -> Tensor:
    """Vanilla policy-gradient surrogate -mean(log pi(a|s) * weight).

    Args:
        log_probs: `(B,)` log-probabilities of the taken actions under the current policy (with grad).
        weights: `(B,)` returns or advantages (no grad).
    """
    return -(log_probs * weights).mean()


def clipped_surrogate_loss(
    log_probs: Tensor, old_log_probs: Tensor, advantages: Tensor, clip_coef: float
) -> tuple[Tensor, Tensor, Tensor]:
    """PPO's clipped surrogate objective (Schulman et al., 2017, eq. 7), negated.

    Args:
        log_probs: `(B,)` current-policy log-probabilities of the taken actions (with grad).
        old_log_probs: `(B,)` behaviour-policy log-probabilities.
        advantages: `(B,)` advantages.
        clip_coef: epsilon; the ratio is clipped to [1 - eps, 1 + eps].

    Returns:
        `(loss, approx_kl, clip_fraction)`: approx_kl is the low-variance k3 estimator
        E[(r - 1) - log r] (Schulman, "Approximating KL divergence", 2020), as in CleanRL and SB3.
    """
    log_ratio = log_probs - old_log_probs
    ratio = log_ratio.exp()
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - clip_coef, 1.0 + clip_coef) * advantages
    loss = -torch.min(unclipped, clipped).mean()
    with torch.no_grad():
        approx_kl = ((ratio - 1.0) - log_ratio).mean()
        clip_fraction = ((ratio - 1.0).abs() > clip_coef).float().mean()
    return loss, approx_kl, clip_fraction


def value_loss(
    values: Tensor, returns: Tensor, old_values: Tensor | None = None, clip_coef: float | None = None
) -> Tensor:
    """0.5 * mean((V(s) - R)^2), optionally with PPO2-style value clipping (CleanRL `clip_vloss`).

    Args:
        values: `(B,)` current critic predictions (with grad).
        returns: `(B,)` value targets.
        old_values: `(B,)` behaviour-time predictions; required with `clip_coef`.
        clip_coef: if set, the prediction may move at most this far from `old_values` before the loss
            stops rewarding the move (the max of clipped and unclipped errors is taken).
    """
    unclipped = (values - returns).pow(2)
    if clip_coef is None:
        return 0.5 * unclipped.mean()
    if old_values is None:
        raise ValueError("value clipping needs old_values")
    clipped_values = old_values + torch.clamp(values - old_values, -clip_coef, clip_coef)
    clipped = (clipped_values - returns).pow(2)
    return 0.5 * torch.max(unclipped, clipped).mean()
