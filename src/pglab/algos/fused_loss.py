"""PPO's and A2C's loss of a categorical MLP actor-critic as one autograd node, bit for bit the modular loss.

The modular loss (`ActorCritic.evaluate_actions`, then `pglab.algos.losses`) records about 35 autograd nodes: the
trunks (one `_TrunkFunction` each), the heads, the log-softmax, the entropy, the clipped surrogate, the value loss
and their sum. On a CartPole PPO gradient step of a 64x64 actor-critic on the CPU the engine's bookkeeping and the
backward operations of those nodes are a third of the step. Here the forward runs the same operations without
recording (`loss_forward`), and the backward (`loss_backward`, then the heads' and trunks' products) runs the
operations of autograd's backward formulas of those nodes, in the order autograd's engine runs them, skipping the
ones whose gradients are exact zeros (the entropy's when `ent_coef` is 0; its gradient would add zeros). So the loss,
its terms, and every parameter's gradient come out bit for bit as the modular loss's, which the tests check on many
shapes and coefficients (`tests/unit/test_fused_loss.py`), and which the replayed results records check on whole runs.

Why by hand: no library fuses a policy-gradient loss with its network's backward; `torch.compile` would (with other
roundings, so every record would change), at a compile time of tens of seconds on these 2-core machines, longer than
a CartPole run. Where the fused node does not apply (`fused_loss` returns None: a Gaussian policy, a CNN or shared
trunk, layers `direct_pass` refuses, a hook, autocast, a batch of one row, batch tensors that need gradients or
are of another dtype), the algorithms use the modular loss.

Shape letters: B samples, n actions, F features.
"""

from dataclasses import dataclass

import torch
from torch import Tensor

from pglab.algos.losses import clipped_surrogate_loss, policy_gradient_loss, value_loss
from pglab.networks.actor_critic import ActorCritic
from pglab.networks.distributions import CategoricalHead
from pglab.networks.mlp import _direct_outputs, direct_pass, hooked, trunk_backward


@dataclass(frozen=True)
class LossSpec:
    """Which loss: `clip_coef` set gives PPO's clipped surrogate (`clipped_surrogate_loss`), None A2C's plain policy
    gradient (`policy_gradient_loss`); `clip_vloss` clips the value loss to `clip_coef` (PPO only); the total is
    `policy + vf_coef * value - ent_coef * entropy`, as the algorithms sum it."""

    vf_coef: float
    ent_coef: float
    clip_coef: float | None = None
    clip_vloss: bool = False

    def __post_init__(self):
        if self.clip_vloss and self.clip_coef is None:
            raise ValueError("clip_vloss clips the value loss to clip_coef: it needs clip_coef")


@dataclass
class LossTerms:
    """The loss to minimize (0-d, with gradient) and its terms (0-d; without gradient from the fused node, with it from
    the modular loss): the policy loss, the value loss, the mean entropy; for PPO also the approximate KL and the clip
    fraction (detached; None for A2C)."""

    loss: Tensor
    policy: Tensor
    value: Tensor
    entropy: Tensor
    approx_kl: Tensor | None = None
    clip_fraction: Tensor | None = None


@dataclass
class _Saved:
    """What `loss_backward` needs of `loss_forward`."""

    probs: Tensor  # (B, n) exp(log_p): logsumexp's backward
    index: Tensor  # (B, 1) the actions
    ratio: Tensor | None  # (B,) PPO
    ratio_grad_scale: Tensor | None  # (B,) PPO: which share of the minimum's gradient reaches the ratio
    advantages: Tensor  # (B,)
    value_grads: tuple  # the value loss's (see `_value_loss_forward`)
    clamped: Tensor | None  # (B, n) the entropy's clamped log_p (ent_coef != 0)
    softmax: Tensor | None  # (B, n) the entropy's softmax (ent_coef != 0)


def loss_forward(
    logits: Tensor,
    values: Tensor,
    actions: Tensor,
    advantages: Tensor,
    returns: Tensor,
    old_log_probs: Tensor | None,
    old_values: Tensor | None,
    spec: LossSpec,
) -> tuple[LossTerms, _Saved]:
    """The loss of the heads' outputs `logits (B, n)` and `values (B,)` for `actions (B,)`, `advantages (B,)`,
    `returns (B,)` (PPO: `old_log_probs (B,)`, and `old_values (B,)` with `clip_vloss`), computed with the operations
    of `CategoricalHead.log_prob_and_entropy` and `pglab.algos.losses`, without gradients; and what its backward
    needs."""
    log_p = logits - logits.logsumexp(dim=-1, keepdim=True)
    clamped = log_p.clamp(min=torch.finfo(log_p.dtype).min)
    softmax = log_p.softmax(dim=-1)
    entropy = -(clamped * softmax).sum(-1)
    index = actions.long().unsqueeze(-1)
    log_probs = log_p.gather(-1, index).squeeze(-1)
    ratio = scale = approx_kl = clip_fraction = None
    if spec.clip_coef is None:  # policy_gradient_loss
        pg_loss = -(log_probs * advantages).mean()
    else:  # clipped_surrogate_loss
        log_ratio = log_probs - old_log_probs
        ratio = log_ratio.exp()
        unclipped = ratio * advantages
        clamped_ratio = torch.clamp(ratio, 1.0 - spec.clip_coef, 1.0 + spec.clip_coef)
        clipped = clamped_ratio * advantages
        pg_loss = -torch.min(unclipped, clipped).mean()
        ratio_change = ratio - 1.0
        approx_kl = (ratio_change - log_ratio).mean()
        clip_fraction = (ratio_change.abs() > spec.clip_coef).float().mean()
        # The share of the minimum's gradient that reaches the ratio (autograd's `minimum` backward: all of it to
        # the smaller operand, half to each of equal ones; `clamp`'s passes the clipped operand's within the bounds,
        # where clamping leaves the ratio as it is): 1 where the unclipped product is the smaller or the ratio is
        # within the bounds (there the two are equal and the halves add up), 1/2 where equal outside them, 0
        # elsewhere.
        inside = clamped_ratio == ratio
        scale = torch.where((unclipped < clipped) | inside, 1.0, torch.where(unclipped == clipped, 0.5, 0.0))
    v_loss, value_grads = _value_loss_forward(values, returns, old_values, spec)
    entropy_mean = entropy.mean()
    loss = pg_loss + spec.vf_coef * v_loss - spec.ent_coef * entropy_mean
    terms = LossTerms(loss, pg_loss, v_loss, entropy_mean, approx_kl, clip_fraction)
    with_entropy = spec.ent_coef != 0
    saved = _Saved(
        probs=log_p.exp(),
        index=index,
        ratio=ratio,
        ratio_grad_scale=scale,
        advantages=advantages,
        value_grads=value_grads,
        clamped=clamped if with_entropy else None,
        softmax=softmax if with_entropy else None,
    )
    return terms, saved


def _value_loss_forward(
    values: Tensor, returns: Tensor, old_values: Tensor | None, spec: LossSpec
) -> tuple[Tensor, tuple]:
    """`value_loss(values, returns, old_values, clip)` and what its backward needs: the errors and, with value
    clipping, the clipped errors and the masks of autograd's `maximum` and `clamp` backward."""
    errors = values - returns
    unclipped = errors.pow(2)
    if not spec.clip_vloss:
        return 0.5 * unclipped.mean(), (errors,)
    moved = values - old_values
    clipped_errors = (old_values + torch.clamp(moved, -spec.clip_coef, spec.clip_coef)) - returns
    clipped = clipped_errors.pow(2)
    inside = (moved >= -spec.clip_coef) & (moved <= spec.clip_coef)
    return 0.5 * torch.max(unclipped, clipped).mean(), (errors, clipped_errors, unclipped, clipped, inside)


def loss_backward(grad: Tensor, saved: _Saved, spec: LossSpec) -> tuple[Tensor, Tensor]:
    """The gradients `(B, n)` of the logits and `(B,)` of the values from the gradient `grad` (0-d) of the loss:
    autograd's backward of the operations of `loss_forward`, formula by formula and in its engine's order (the
    entropy's terms, when `ent_coef` is not 0, reach `log_p` after the log-probability's: the softmax's, then the
    clamp's)."""
    batch = saved.advantages.shape[0]
    # loss = (pg + vf * v) - ent * e: the sum's gradient to pg, vf * v's to v, the difference's (negated) to e
    mean_grad = (
        -grad / batch
    )  # -mean(...)'s gradient to each element: negated, expanded, divided by the count
    log_prob_grads = mean_grad * saved.advantages
    if saved.ratio is not None:
        # (scaling by 1, 1/2 or 0 is exact: `(c * a) / 2` is `(c / 2) * a`, the half autograd computes, and two
        # halves add up to the whole)
        log_prob_grads = (log_prob_grads * saved.ratio_grad_scale) * saved.ratio  # exp's backward
    log_p_grad = torch.zeros_like(saved.probs).scatter_add_(-1, saved.index, log_prob_grads.unsqueeze(-1))
    if saved.softmax is not None:
        entropy_grad = ((-grad * spec.ent_coef) / batch).neg()  # -ent * e, e = mean(-sum(...)): to each term
        product_grad = entropy_grad.expand_as(saved.softmax)
        softmax_grad = torch._softmax_backward_data(
            product_grad * saved.clamped, saved.softmax, -1, saved.softmax.dtype
        )
        log_p_grad = (log_p_grad + softmax_grad) + product_grad * saved.softmax
    # log_p = logits - logsumexp(logits): the difference's gradient, then logsumexp's
    logits_grad = log_p_grad + (-log_p_grad).sum(-1, keepdim=True) * saved.probs
    value_grad = ((grad * spec.vf_coef) * 0.5) / batch  # vf * (0.5 * mean(...)): to each element
    errors = saved.value_grads[0]
    if not spec.clip_vloss:
        values_grad = value_grad * (errors * 2.0)
    else:
        errors, clipped_errors, unclipped, clipped, inside = saved.value_grads
        value_grad = value_grad.expand_as(errors)
        halved = torch.where(unclipped == clipped, value_grad / 2, value_grad)
        to_unclipped = halved.masked_fill(unclipped < clipped, 0)
        to_clipped = halved.masked_fill(unclipped > clipped, 0)
        through_clip = torch.where(inside, to_clipped * (clipped_errors * 2.0), 0.0)
        values_grad = through_clip + to_unclipped * (errors * 2.0)
    return logits_grad, values_grad


class _FusedLoss(torch.autograd.Function):
    """`apply(obs, actions, advantages, returns, old_log_probs, old_values, spec, actor_layers, critic_layers,
    *actor_params, logits_weight, logits_bias, *critic_params, value_weight, value_bias)` -> the loss (0-d, with
    gradient) and its detached terms (see `fused_loss`)."""

    @staticmethod
    def forward(
        ctx, obs, actions, advantages, returns, old_log_probs, old_values, spec, actor, critic, *params
    ):
        # (the form without `setup_context`: its argument binding costs about 0.1 ms a call)
        a, c = 2 * len(actor), 2 * len(critic)
        actor_params, (logits_w, logits_b) = params[:a], params[a : a + 2]
        critic_params, (value_w, value_b) = params[a + 2 : a + 2 + c], params[a + 2 + c :]
        actor_outputs = _direct_outputs(obs, actor, actor_params)
        critic_outputs = _direct_outputs(obs, critic, critic_params)
        logits = torch.addmm(logits_b, actor_outputs[-1], logits_w.t())  # F.linear of a 2-D input
        values = torch.addmm(value_b, critic_outputs[-1], value_w.t()).squeeze(-1)
        terms, saved = loss_forward(
            logits, values, actions, advantages, returns, old_log_probs, old_values, spec
        )
        ctx.spec, ctx.actor, ctx.critic, ctx.loss_saved = spec, actor, critic, saved
        ctx.outputs = (actor_outputs, critic_outputs)
        # The inputs the backward reads, saved so that an in-place change before it raises (as in the modular loss);
        # the other tensors kept are made here.
        ctx.save_for_backward(
            *actor_params[0::2], logits_w, *critic_params[0::2], value_w, obs, actions, advantages
        )
        diagnostics = [t for t in (terms.approx_kl, terms.clip_fraction) if t is not None]
        outputs = (terms.loss, terms.policy, terms.value, terms.entropy, *diagnostics)
        ctx.mark_non_differentiable(*outputs[1:])
        return outputs

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad, *_):
        needs = ctx.needs_input_grad[9:]
        a, c = 2 * len(ctx.actor), 2 * len(ctx.critic)
        actor_outputs, critic_outputs = ctx.outputs
        weights = ctx.saved_tensors[:-3]
        actor_weights, logits_w = weights[: a // 2], weights[a // 2]
        critic_weights, value_w = weights[a // 2 + 1 : -1], weights[-1]
        logits_grad, values_grad = loss_backward(grad, ctx.loss_saved, ctx.spec)
        values_grad = values_grad.unsqueeze(-1)
        grads = []
        for head_grad, outputs, layers, weights, head_w, head_needs, trunk_needs in (
            (logits_grad, actor_outputs, ctx.actor, actor_weights, logits_w, needs[a : a + 2], needs[:a]),
            (
                values_grad,
                critic_outputs,
                ctx.critic,
                critic_weights,
                value_w,
                needs[-2:],
                needs[a + 2 : a + 2 + c],
            ),
        ):
            # the head's `addmm(bias, features, weight^T)` backward, as `_TrunkFunction`'s layers
            head_grads = [
                head_grad.t().mm(outputs[-1]) if head_needs[0] else None,
                head_grad.sum(0) if head_needs[1] else None,
            ]
            _, trunk_grads = trunk_backward(
                head_grad.mm(head_w), layers, outputs, weights, False, trunk_needs
            )
            grads += [*trunk_grads, *head_grads]
        return (None,) * 9 + tuple(grads)


def fused_loss(
    policy: ActorCritic,
    obs: Tensor,
    actions: Tensor,
    advantages: Tensor,
    returns: Tensor,
    spec: LossSpec,
    old_log_probs: Tensor | None = None,
    old_values: Tensor | None = None,
) -> LossTerms | None:
    """The loss of `policy` on a batch (`obs (B, D)`, `actions (B,)`, `advantages (B,)`, `returns (B,)`, and for PPO
    `old_log_probs (B,)`, `old_values (B,)`) as one autograd node, bit for bit the modular loss (module docstring);
    None where the node does not apply (a policy other than a categorical actor-critic of two separate MLP trunks
    that `direct_pass` runs directly, hooks on its heads, autocast, a batch of fewer than 2 rows, no gradients being
    recorded, batch tensors that need gradients themselves or are not of the heads' dtype)."""
    data = (obs, advantages, returns, old_log_probs, old_values)
    if (
        not torch.is_grad_enabled()
        or any(x is not None and (x.requires_grad or x.dtype != obs.dtype) for x in data)
        or actions.requires_grad
        or type(policy.action_head) is not CategoricalHead
        or policy.value_head is None
        or policy.shared_trunk
        or obs.dim() != 2
        or obs.shape[0] < 2
    ):
        return None
    if (
        type(policy.actor_trunk) is not torch.nn.Sequential
        or type(policy.critic_trunk) is not torch.nn.Sequential
    ):
        return None
    actor_layers, critic_layers = list(policy.actor_trunk), list(policy.critic_trunk)
    actor, critic = direct_pass(actor_layers, obs), direct_pass(critic_layers, obs)
    heads = (policy.action_head.logits, policy.value_head)
    if (
        actor is None
        or critic is None
        or any(hooked(m) for m in (policy.actor_trunk, policy.critic_trunk, *heads))
        or any(
            type(h) is not torch.nn.Linear or h.bias is None or not h.weight.is_contiguous() for h in heads
        )
        or any(h.weight.dtype != obs.dtype for h in heads)
    ):
        return None
    params = [
        *(p for linear in actor_layers[0::2] for p in (linear.weight, linear.bias)),
        heads[0].weight,
        heads[0].bias,
        *(p for linear in critic_layers[0::2] for p in (linear.weight, linear.bias)),
        heads[1].weight,
        heads[1].bias,
    ]
    outputs = _FusedLoss.apply(
        obs, actions, advantages, returns, old_log_probs, old_values, spec, actor, critic, *params
    )
    return LossTerms(*outputs)


def actor_critic_loss(
    policy: ActorCritic,
    obs: Tensor,
    actions: Tensor,
    advantages: Tensor,
    returns: Tensor,
    spec: LossSpec,
    old_log_probs: Tensor | None = None,
    old_values: Tensor | None = None,
    fused: bool = True,
) -> LossTerms:
    """PPO's or A2C's loss (`spec`) of `policy` on a batch (shapes as in `fused_loss`): the fused node where it applies
    (with `fused`), else the modular loss, `ActorCritic.evaluate_actions` and `pglab.algos.losses`. Both give the same
    bits."""
    terms = (
        fused_loss(policy, obs, actions, advantages, returns, spec, old_log_probs, old_values)
        if fused
        else None
    )
    if terms is not None:
        return terms
    log_probs, entropy, values = policy.evaluate_actions(obs, actions)
    approx_kl = clip_fraction = None
    if spec.clip_coef is None:
        pg_loss = policy_gradient_loss(log_probs, advantages)
    else:
        pg_loss, approx_kl, clip_fraction = clipped_surrogate_loss(
            log_probs, old_log_probs, advantages, spec.clip_coef
        )
    v_loss = value_loss(values, returns, old_values, spec.clip_coef if spec.clip_vloss else None)
    entropy = entropy.mean()
    loss = pg_loss + spec.vf_coef * v_loss - spec.ent_coef * entropy
    return LossTerms(loss, pg_loss, v_loss, entropy, approx_kl, clip_fraction)
