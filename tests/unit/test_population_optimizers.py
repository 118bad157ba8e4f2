"""Population optimizers: each member is the torch optimizer its ordinary run uses (fused Adam for PPO and VPG,
multi-tensor RMSprop for A2C) bit for bit, with its own learning rate, and members never couple."""

import functools

import pytest
import torch

from pglab.population import PopulationAdam, PopulationRMSprop

SHAPES = [(5, 4), (4,), (3, 2, 2), (64, 64)]
LRS = [1e-3, 3e-3, 2.5e-4]

#: (population optimizer, the ordinary run's torch optimizer), each made from `(params, lr)`
OPTIMIZERS = {
    "adam": (
        functools.partial(PopulationAdam, eps=1e-5),
        lambda params, lr: torch.optim.Adam(params, lr=lr, eps=1e-5, fused=True),
    ),
    "rmsprop": (
        functools.partial(PopulationRMSprop, alpha=0.99, eps=1e-5),
        lambda params, lr: torch.optim.RMSprop(params, lr=lr, alpha=0.99, eps=1e-5, foreach=True),
    ),
}


@pytest.fixture(params=list(OPTIMIZERS))
def pair(request):
    return OPTIMIZERS[request.param]


def members(seed: int, count: int = len(LRS)) -> list[list[torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    return [[torch.randn(shape, generator=generator) for shape in SHAPES] for _ in range(count)]


def stack(per_member: list[list[torch.Tensor]]) -> list[torch.Tensor]:
    return [torch.stack([m[i] for m in per_member]) for i in range(len(SHAPES))]


def run_population(make, lrs, gradients, active=None, initial=None):
    initial = members(0, len(lrs)) if initial is None else initial
    params = [p.requires_grad_() for p in stack(initial)]
    optimizer = make(params, list(lrs))
    for step, grads in enumerate(gradients):
        for p, g in zip(params, stack(grads), strict=True):
            p.grad = g
        optimizer.step(None if active is None else active[step])
    return params, optimizer


def run_alone(make_torch, k: int, lr: float, gradients):
    """Member k's parameters and optimizer trained alone by the torch optimizer on its own gradients."""
    reference = [p.clone().requires_grad_() for p in members(0)[k]]
    optimizer = make_torch(reference, lr)
    for step_grads in gradients:
        for p, g in zip(reference, step_grads[k], strict=True):
            p.grad = g.clone()
        optimizer.step()
    return reference, optimizer


def gradients(seed: int, steps: int = 40, count: int = len(LRS)) -> list[list[list[torch.Tensor]]]:
    return [members(seed * 1000 + step, count) for step in range(steps)]


def test_each_member_is_its_torch_optimizer_bit_for_bit(pair):
    make, make_torch = pair
    grads = gradients(1)
    params, _ = run_population(make, LRS, grads)
    for k, lr in enumerate(LRS):
        reference, _ = run_alone(make_torch, k, lr, grads)
        for stacked, mine in zip(params, reference, strict=True):
            assert torch.equal(stacked[k], mine.detach())
    assert not torch.equal(params[0][0], members(0)[0][0])  # the steps moved the parameters


def test_one_members_lr_and_gradients_leave_the_others_bit_identical(pair):
    make, _ = pair
    grads = gradients(2)
    params, _ = run_population(make, LRS, grads)
    other_lrs = [LRS[0], 1e-1, LRS[2]]
    other_grads = [[g if k != 1 else [100 * t for t in g] for k, g in enumerate(step)] for step in grads]
    changed, _ = run_population(make, other_lrs, other_grads)
    for a, b in zip(params, changed, strict=True):
        assert torch.equal(a[0], b[0]) and torch.equal(a[2], b[2])
        assert not torch.equal(a[1], b[1])


def test_an_inactive_member_keeps_its_state_and_later_steps_as_if_the_skipped_one_never_came(pair):
    make, _ = pair
    grads = gradients(3, steps=6)
    skip = 2  # member 1 skips step 2 (as a target-KL early stop would)
    active = [torch.tensor([True, step != skip, True]) for step in range(len(grads))]
    params, optimizer = run_population(make, LRS, grads, active)
    assert optimizer.step_counts() == [6, 5, 6]
    # member 1 alone, without the skipped step's gradient, ends where the population's member 1 is
    alone, _ = run_population(
        make, [LRS[1]], [[step[1]] for i, step in enumerate(grads) if i != skip], initial=[members(0)[1]]
    )
    for a, b in zip(params, alone, strict=True):
        assert torch.equal(a[1], b[0])


def test_the_state_dict_resumes_bit_for_bit(pair):
    make, _ = pair
    grads = gradients(4, steps=10)
    straight, _ = run_population(make, LRS, grads)
    first, optimizer = run_population(make, LRS, grads[:5])
    state = optimizer.state_dict()
    params = [p.detach().clone().requires_grad_() for p in first]
    resumed = make(params, 0.5)
    resumed.load_state_dict(state)
    for step_grads in grads[5:]:
        for p, g in zip(params, stack(step_grads), strict=True):
            p.grad = g
        resumed.step()
    for a, b in zip(straight, params, strict=True):
        assert torch.equal(a, b)


def test_a_members_state_is_its_torch_optimizers_state_dict(pair):
    make, make_torch = pair
    grads = gradients(5, steps=4)
    params, optimizer = run_population(make, LRS, grads)
    _, torch_optimizer = run_alone(make_torch, 2, LRS[2], grads)
    ours, theirs = optimizer.member_state_dict(2), torch_optimizer.state_dict()
    assert ours["param_groups"][0] == theirs["param_groups"][0]
    assert set(ours["state"]) == set(theirs["state"])
    for i, state in theirs["state"].items():
        assert set(ours["state"][i]) == set(state)
        for key, value in state.items():
            assert torch.equal(ours["state"][i][key], value), (i, key)
    # and an ordinary optimizer's state loads into a member: its next steps agree bit for bit
    alone, torch_optimizer = run_alone(make_torch, 2, LRS[2], grads)
    fresh_params = [p.detach().clone().requires_grad_() for p in params]
    fresh = make(fresh_params, [LRS[2], LRS[1], LRS[0]])
    fresh.load_member_state_dict(0, torch_optimizer.state_dict())
    assert fresh.step_counts() == [4, 0, 0]
    for name, tensors in fresh.state.items():
        assert all(torch.equal(t[0], theirs["state"][i][name]) for i, t in enumerate(tensors))
    for stacked, mine in zip(fresh_params, alone, strict=True):
        with torch.no_grad():
            stacked[0] = mine.detach()
    for step_grads in gradients(6, steps=3):
        for p, g in zip(fresh_params, stack(step_grads), strict=True):
            p.grad = g
        fresh.step()
        for p, g in zip(alone, step_grads[0], strict=True):
            p.grad = g.clone()
        torch_optimizer.step()
    for stacked, mine in zip(fresh_params, alone, strict=True):
        assert torch.equal(stacked[0], mine.detach())


def test_parameters_without_the_member_axis_are_refused(pair):
    make, _ = pair
    with pytest.raises(ValueError, match="member axis first, of size 3, contiguous"):
        make([torch.zeros(3, 2), torch.zeros(2, 3)], 1e-3)
    with pytest.raises(ValueError, match="at least one parameter"):
        make([], 1e-3)
