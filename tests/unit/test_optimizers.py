"""pglab's Adam and RMSprop: torch's `Adam(fused=True)` and `RMSprop(foreach=True)` bit for bit, their plain steps
without torch's bookkeeping, any other step torch's own."""

import copy

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

from pglab.algos.optimizers import Adam, RMSprop, step_unwrapped

SHAPES = [(64, 4), (64,), (64, 64), (2, 64), (2,)]

#: (pglab's optimizer, torch's), each made from `(params, lr)`
PAIRS = {
    "adam": (
        lambda params, lr: Adam(params, lr=lr, eps=1e-5),
        lambda params, lr: torch.optim.Adam(params, lr=lr, eps=1e-5, fused=True),
    ),
    "rmsprop": (
        lambda params, lr: RMSprop(params, lr=lr, alpha=0.99, eps=1e-5),
        lambda params, lr: torch.optim.RMSprop(params, lr=lr, alpha=0.99, eps=1e-5, foreach=True),
    ),
}


@pytest.fixture(params=list(PAIRS))
def pair(request):
    return PAIRS[request.param]


def parameters(seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=generator).requires_grad_() for shape in SHAPES]


def gradients(step: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(100 + step)
    return [torch.randn(shape, generator=generator) * 10.0 ** (step % 3 - 1) for shape in SHAPES]


def train(optimizer, params, steps, lrs=None, skip=()):
    """`steps` steps on fixed gradients; `lrs[step]` sets the lr first; parameters in `skip` get no gradient."""
    for step in range(steps):
        if lrs is not None:
            for group in optimizer.param_groups:
                group["lr"] = lrs[step]
        for i, (p, g) in enumerate(zip(params, gradients(step), strict=True)):
            p.grad = None if (step, i) in skip else g.clone()
        optimizer.step()


def assert_same(params, optimizer, reference_params, reference):
    assert all(torch.equal(a, b) for a, b in zip(params, reference_params, strict=True))
    mine, theirs = optimizer.state_dict()["state"], reference.state_dict()["state"]
    assert mine.keys() == theirs.keys()
    for index, state in mine.items():
        assert state.keys() == theirs[index].keys()
        assert all(torch.equal(state[key], theirs[index][key]) for key in state)


def test_steps_with_a_changing_learning_rate_equal_torchs_bit_for_bit(pair, monkeypatch):
    make, make_torch = pair
    lrs = [1e-3 * (1 - k / 40) for k in range(40)]
    reference_params = parameters()
    reference = make_torch(reference_params, 1e-3)
    train(reference, reference_params, 40, lrs)
    params = parameters()
    optimizer = make(params, 1e-3)
    torch_steps = []
    base = type(reference)  # torch's optimizer class
    original = base.step
    monkeypatch.setattr(
        base, "step", lambda self, closure=None: torch_steps.append(1) or original(self, closure)
    )
    train(optimizer, params, 40, lrs)
    assert_same(params, optimizer, reference_params, reference)
    assert len(torch_steps) == 1  # torch's own step only once, to create the state


def test_a_missing_gradient_and_a_closure_take_torchs_step_with_the_same_result(pair):
    make, make_torch = pair
    skip = {(0, 1), (5, 0), (6, 2), (6, 3)}  # a parameter gains its state late; others skip a step
    reference_params = parameters()
    reference = make_torch(reference_params, 3e-3)
    train(reference, reference_params, 12, skip=skip)
    params = parameters()
    optimizer = make(params, 3e-3)
    train(optimizer, params, 12, skip=skip)
    assert_same(params, optimizer, reference_params, reference)
    loss = torch.tensor(1.5)
    for p, g in zip(params, gradients(12), strict=True):
        p.grad = g.clone()
    for p, g in zip(reference_params, gradients(12), strict=True):
        p.grad = g.clone()
    assert optimizer.step(lambda: loss) is loss and reference.step(lambda: loss) is loss
    assert_same(params, optimizer, reference_params, reference)


def test_two_param_groups_and_a_state_loaded_from_torchs_optimizer_continue_as_torchs(pair):
    make, make_torch = pair
    reference_params = parameters()
    reference = make_torch(
        [{"params": reference_params[:2]}, {"params": reference_params[2:], "lr": 5e-4}], 1e-3
    )
    train(reference, reference_params, 6)
    params = [p.detach().clone().requires_grad_() for p in reference_params]
    optimizer = make([{"params": params[:2]}, {"params": params[2:], "lr": 5e-4}], 1e-3)
    optimizer.load_state_dict(copy.deepcopy(reference.state_dict()))  # (loading shares same-device tensors)
    for step in range(6, 12):
        for group_params, gs in ((params, gradients(step)), (reference_params, gradients(step))):
            for p, g in zip(group_params, gs, strict=True):
                p.grad = g.clone()
        optimizer.step()
        reference.step()
    assert [g["lr"] for g in optimizer.param_groups] == [1e-3, 5e-4]
    assert_same(params, optimizer, reference_params, reference)


def test_step_hooks_run_once_around_every_step(pair):
    make, make_torch = pair
    # torch wraps its class's step with the hooks once it has an instance
    reference = make_torch(parameters(), 1e-3)
    params = parameters()
    optimizer = make(params, 1e-3)
    assert getattr(type(reference).step, "hooked", False)
    seen = []
    optimizer.register_step_pre_hook(lambda opt, args, kwargs: seen.append("pre"))
    optimizer.register_step_post_hook(lambda opt, args, kwargs: seen.append("post"))
    train(optimizer, params, 3)
    assert seen == ["pre", "post"] * 3


#: options and groups that torch's own step handles (the fast step steps aside): each `(options, extra group)`
FALLBACKS = {
    "weight decay": ({"weight_decay": 0.01}, None),
    "maximize": ({"maximize": True}, None),
    "an empty group": ({}, []),
    "a float64 group": ({}, [torch.randn(3, 2, dtype=torch.float64).requires_grad_()]),
}


@pytest.mark.parametrize("case", list(FALLBACKS))
def test_other_options_and_groups_step_as_torchs(pair, case):
    make, make_torch = pair
    options, extra = FALLBACKS[case]

    def build(factory):
        params = parameters()
        optimizer = factory(params, 2e-3)
        for key, value in options.items():
            optimizer.param_groups[0][key] = value
        group = None if extra is None else [p.detach().clone().requires_grad_() for p in extra]
        if group is not None:
            optimizer.add_param_group({"params": group})
        return params, group or [], optimizer

    params, group, optimizer = build(make)
    reference_params, reference_group, reference = build(make_torch)
    for step in range(5):
        for ps in (params, reference_params):
            for p, g in zip(ps, gradients(step), strict=True):
                p.grad = g.clone()
        for p, q in zip(group, reference_group, strict=True):
            p.grad = q.grad = torch.full_like(p, 0.1 * (step + 1))
        optimizer.step()
        reference.step()
    assert_same(params + group, optimizer, reference_params + reference_group, reference)


def test_a_state_entry_left_empty_is_created_as_torch_does(pair):
    make, make_torch = pair
    params, reference_params = parameters(), parameters()
    optimizer, reference = make(params, 1e-3), make_torch(reference_params, 1e-3)
    train(optimizer, params, 2)
    train(reference, reference_params, 2)
    late = torch.randn(4, requires_grad=True)
    optimizer.add_param_group({"params": [late]})
    reference_late = late.detach().clone().requires_grad_()
    reference.add_param_group({"params": [reference_late]})
    assert optimizer.state[late] == {}  # read through the defaultdict: an empty entry
    late.grad = reference_late.grad = torch.ones(4)
    for ps in (params, reference_params):
        for p, g in zip(ps, gradients(2), strict=True):
            p.grad = g.clone()
    optimizer.step()
    reference.step()
    assert_same(params + [late], optimizer, reference_params + [reference_late], reference)


def test_step_counts_shared_by_one_tensor_survive_a_saved_and_loaded_state(pair, tmp_path):
    # The plain step increments a group's counts as the rows of one tensor (`shared_step_counts`); a state saved and
    # loaded (new tensors) continues as torch's, and so does a torch step taken between plain ones.
    make, make_torch = pair
    reference_params = parameters()
    reference = make_torch(reference_params, 1e-3)
    train(reference, reference_params, 9, skip={(4, 2)})
    params = parameters()
    optimizer = make(params, 1e-3)
    train(optimizer, params, 3)
    rows = optimizer.state[params[0]]["step"]._base
    assert rows is not None and torch.equal(rows, torch.full((len(SHAPES),), 3.0))
    torch.save(optimizer.state_dict(), tmp_path / "state.pt")
    params = [p.detach().clone().requires_grad_() for p in params]
    optimizer = make(params, 1e-3)
    optimizer.load_state_dict(torch.load(tmp_path / "state.pt"))
    for step in range(3, 9):
        for i, (p, g) in enumerate(zip(params, gradients(step), strict=True)):
            p.grad = None if (step, i) == (4, 2) else g.clone()  # a torch step: counts then differ
        optimizer.step()
    assert_same(params, optimizer, reference_params, reference)
    assert [optimizer.state[p]["step"].item() for p in params] == [9.0, 9.0, 8.0, 9.0, 9.0]


def test_a_step_unwrapped_skips_only_the_callers_own_hook(pair):
    # `step_unwrapped` steps as `step()` does; it leaves out torch's wrapper only where that would run nothing but
    # the caller's own hook: any other hook, on the optimizer or global, runs once a step.
    make, make_torch = pair
    reference_params, params = parameters(), parameters()
    reference, optimizer = make_torch(reference_params, 1e-3), make(params, 1e-3)
    calls = []

    def own(*_):
        calls.append("own")

    optimizer.register_step_post_hook(own)
    train(reference, reference_params, 2)
    for step in range(2):
        for p, g in zip(params, gradients(step), strict=True):
            p.grad = g.clone()
        step_unwrapped(optimizer, own_post_hooks=(own,))
    assert calls == []
    assert_same(params, optimizer, reference_params, reference)
    other = optimizer.register_step_post_hook(lambda *_: calls.append("other"))
    step_unwrapped(optimizer, own_post_hooks=(own,))
    other.remove()
    handle = register_optimizer_step_post_hook(lambda *_: calls.append("global"))
    try:
        step_unwrapped(optimizer, own_post_hooks=(own,))
    finally:
        handle.remove()
    assert calls == ["own", "other", "own", "global"]


def test_an_optimizer_with_its_own_step_takes_it(pair):
    # An instance's own `step` (as an lr scheduler installs to count the steps) is not bypassed.
    make, _ = pair
    params = parameters()
    optimizer = make(params, 1e-3)
    calls = []
    class_step = optimizer.step

    def counting_step(*args, **kwargs):
        calls.append("step")
        return class_step(*args, **kwargs)

    optimizer.step = counting_step
    for p, g in zip(params, gradients(0), strict=True):
        p.grad = g.clone()
    step_unwrapped(optimizer)
    assert calls == ["step"]
    assert all(state["step"].item() == 1.0 for state in optimizer.state.values())
