"""The fused loss node (`pglab.algos.fused_loss`) against the modular loss it replaces, its slow reference: the same
loss, terms and parameter gradients, bit for bit, over batch sizes, action counts, architectures, activations and
coefficients; and the policies it leaves to the modular loss."""

import itertools

import gymnasium as gym
import numpy as np
import pytest
import torch

from pglab.algos.fused_loss import LossSpec, actor_critic_loss, fused_loss
from pglab.networks.actor_critic import ActorCritic
from pglab.rollout.advantages import standardize

SPECS = [
    LossSpec(vf_coef=0.5, ent_coef=0.0, clip_coef=0.2),  # PPO's CartPole preset
    LossSpec(vf_coef=0.5, ent_coef=0.01, clip_coef=0.2, clip_vloss=True),  # CleanRL's PPO
    LossSpec(vf_coef=0.25, ent_coef=0.3, clip_coef=0.1),
    LossSpec(vf_coef=0.5, ent_coef=0.0),  # A2C's CartPole preset
    LossSpec(vf_coef=1.0, ent_coef=0.01),
]


def make_case(seed: int, batch: int, actions: int, obs_dim: int, hidden: tuple, activation: str, **policy):
    torch.manual_seed(seed)
    space = gym.spaces.Box(-1.0, 1.0, (obs_dim,), np.float32)
    net = ActorCritic(
        space, gym.spaces.Discrete(actions), hidden_sizes=hidden, activation=activation, **policy
    )
    with torch.no_grad():  # away from the near-uniform initial policy: ratios get clipped, both ways
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    obs = torch.randn(batch, obs_dim)
    with torch.no_grad():
        taken, log_probs, values = net.act(obs)
    data = {
        "obs": obs,
        "actions": taken,
        "advantages": standardize(torch.randn(batch)),
        "returns": torch.randn(batch) * 2.0,
        "old_log_probs": log_probs + torch.randn(batch) * 0.2,
        "old_values": values + torch.randn(batch) * 0.3,
    }
    return net, data


def loss_and_grads(net: ActorCritic, data: dict, spec: LossSpec, fused: bool):
    for p in net.parameters():
        p.grad = None
    terms = actor_critic_loss(net, **data, spec=spec, fused=fused)
    terms.loss.backward()
    values = [terms.loss, terms.policy, terms.value, terms.entropy, terms.approx_kl, terms.clip_fraction]
    return values, [p.grad.clone() for p in net.parameters()]


CASES = list(
    itertools.product([2, 7, 40, 256, 1000], [2, 5], [(64, 64), (32,)], ["fast_tanh", "tanh", "relu"])
)


@pytest.mark.parametrize(("batch", "actions", "hidden", "activation"), CASES)
def test_the_fused_loss_gives_the_modular_losss_terms_and_gradients_bit_for_bit(
    batch, actions, hidden, activation
):
    for seed, spec in enumerate(SPECS):
        net, data = make_case(seed, batch, actions, 4 + seed, hidden, activation)
        assert fused_loss(net, **data, spec=spec) is not None  # the case takes the fused node
        modular_values, modular_grads = loss_and_grads(net, data, spec, fused=False)
        fused_values, fused_grads = loss_and_grads(net, data, spec, fused=True)
        for name, a, b in zip(
            ("loss", "policy", "value", "entropy", "kl", "clip"), modular_values, fused_values, strict=True
        ):
            assert (a is None) == (b is None) == (name in ("kl", "clip") and spec.clip_coef is None)
            assert a is None or torch.equal(a, b), (name, spec)
        for (name, _), a, b in zip(net.named_parameters(), modular_grads, fused_grads, strict=True):
            assert torch.equal(a, b), (name, spec, (a - b).abs().max().item())
        if spec.clip_coef is not None and batch >= 40:  # samples on both sides of the clip bounds
            assert 0.0 < fused_values[5].item() < 1.0


def test_the_gradients_are_the_losss_derivatives():
    # Against finite differences in float64: the node computes the gradient, not only autograd's formulas' bits.
    net, data = make_case(0, 12, 3, 4, (8, 8), "tanh")
    net = net.double()
    data = {k: (v.double() if v.is_floating_point() else v) for k, v in data.items()}
    spec = LossSpec(vf_coef=0.5, ent_coef=0.05, clip_coef=0.3, clip_vloss=True)
    params = list(net.parameters())

    def loss_of(*flat):
        with torch.no_grad():
            for p, value in zip(params, flat, strict=True):
                p.copy_(value)
        with torch.enable_grad():
            return fused_loss(net, **data, spec=spec).loss.detach()

    _, grads = loss_and_grads(net, data, spec, fused=True)
    base = [p.detach().clone() for p in params]
    eps = 1e-6
    for i, p in enumerate(base):
        for j in range(0, p.numel(), max(1, p.numel() // 5)):
            up, down = [b.clone() for b in base], [b.clone() for b in base]
            up[i].view(-1)[j] += eps
            down[i].view(-1)[j] -= eps
            numeric = (loss_of(*up) - loss_of(*down)) / (2 * eps)
            assert grads[i].view(-1)[j].item() == pytest.approx(numeric.item(), rel=1e-5, abs=1e-8)


@pytest.mark.parametrize(
    "case",
    [
        {"shared_trunk": True},
        {"action_space": gym.spaces.Box(-1.0, 1.0, (2,), np.float32)},
        {"hidden": ()},  # no trunk layers: the modules' own pass
        {"batch": 1},
        {"hook": True},
        {"obs_grad": True},
        {"advantages_dtype": torch.float64},
    ],
    ids=[
        "shared trunk",
        "Gaussian policy",
        "no hidden layers",
        "one row",
        "forward hook",
        "observations with gradients",
        "float64 advantages",
    ],
)
def test_other_policies_and_batches_take_the_modular_loss(case):
    torch.manual_seed(0)
    space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
    net = ActorCritic(
        space,
        case.get("action_space", gym.spaces.Discrete(2)),
        hidden_sizes=case.get("hidden", (16, 16)),
        shared_trunk=case.get("shared_trunk", False),
    )
    batch = case.get("batch", 8)
    if case.get("hook"):
        net.value_head.register_forward_hook(lambda *_: None)
    obs = torch.randn(batch, 4)
    with torch.no_grad():
        actions = net.act(obs)[0]
    advantages = torch.randn(batch, dtype=case.get("advantages_dtype", torch.float32))
    obs.requires_grad_(case.get("obs_grad", False))
    data = {"obs": obs, "actions": actions, "advantages": advantages, "returns": torch.randn(batch)}
    spec = LossSpec(vf_coef=0.5, ent_coef=0.0)
    assert fused_loss(net, **data, spec=spec) is None
    loss = actor_critic_loss(net, **data, spec=spec).loss
    assert torch.isfinite(loss)
    if obs.requires_grad:  # the modular loss's gradient reaches the observations
        loss.backward()
        assert obs.grad is not None and obs.grad.abs().sum() > 0


def test_an_input_changed_in_place_before_the_backward_is_refused_and_a_kept_graph_runs_twice():
    net, data = make_case(0, 16, 2, 4, (8, 8), "tanh")
    spec = LossSpec(vf_coef=0.5, ent_coef=0.01, clip_coef=0.2)
    terms = fused_loss(net, **data, spec=spec)
    terms.loss.backward(retain_graph=True)
    first = [p.grad.clone() for p in net.parameters()]
    for p in net.parameters():
        p.grad = None
    terms.loss.backward()
    assert all(torch.equal(a, p.grad) for a, p in zip(first, net.parameters(), strict=True))
    terms = fused_loss(net, **data, spec=spec)
    data["advantages"].mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        terms.loss.backward()


def test_value_clipping_without_a_clip_coefficient_is_refused():
    with pytest.raises(ValueError, match="clip_vloss"):
        LossSpec(vf_coef=0.5, ent_coef=0.0, clip_vloss=True)
