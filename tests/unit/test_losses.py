"""Loss functions: PPO reduces to the vanilla policy gradient at ratio 1; clipping and value clipping."""

import math

import pytest
import torch

from pglab.algos.losses import clipped_surrogate_loss, policy_gradient_loss, value_loss


def test_ppo_gradient_equals_vanilla_pg_gradient_at_ratio_one():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 3, generator=g, requires_grad=True)
    actions = torch.randint(0, 3, (64,), generator=g)
    advantages = torch.randn(64, generator=g)

    def log_probs():
        return torch.distributions.Categorical(logits=logits).log_prob(actions)

    old = log_probs().detach()
    ppo, approx_kl, clip_fraction = clipped_surrogate_loss(log_probs(), old, advantages, clip_coef=0.2)
    (ppo_grad,) = torch.autograd.grad(ppo, logits)
    pg = policy_gradient_loss(log_probs(), advantages)
    (pg_grad,) = torch.autograd.grad(pg, logits)
    torch.testing.assert_close(ppo_grad, pg_grad)
    assert ppo.item() == pytest.approx(-advantages.mean().item(), abs=1e-6)  # ratio 1: -mean(A)
    assert approx_kl.item() == 0.0
    assert clip_fraction.item() == 0.0


def test_clipped_surrogate_clips_by_hand():
    # ratios 1.5 and 0.5, clip 0.2: positive advantage caps at 1.2, negative advantage floors at 0.8.
    old = torch.zeros(2)
    new = torch.log(torch.tensor([1.5, 0.5]))
    adv = torch.tensor([1.0, -1.0])
    loss, approx_kl, clip_fraction = clipped_surrogate_loss(new, old, adv, clip_coef=0.2)
    assert loss.item() == pytest.approx(-(1.2 * 1.0 + 0.8 * -1.0) / 2)
    expected_kl = ((0.5 - math.log(1.5)) + (-0.5 - math.log(0.5))) / 2
    assert approx_kl.item() == pytest.approx(expected_kl, rel=1e-5)
    assert clip_fraction.item() == 1.0


def test_value_loss_plain_and_clipped():
    values = torch.tensor([2.0, 0.0])
    returns = torch.tensor([0.0, 0.0])
    assert value_loss(values, returns).item() == pytest.approx(0.5 * (4.0 + 0.0) / 2)
    # old value 0, new 2, clip 0.5: clipped prediction 0.5 -> max((2-0)^2, (0.5-0)^2) = 4 (pessimistic)
    old = torch.tensor([0.0, 0.0])
    assert value_loss(values, returns, old, 0.5).item() == pytest.approx(0.5 * 4.0 / 2)
    # moving towards the target beyond the clip is not rewarded: old 4, new 0, target 0, clip 1 -> (3)^2
    assert value_loss(torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([4.0]), 1.0).item() == 4.5
