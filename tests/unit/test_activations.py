"""`fast_tanh` (pglab.networks.activations): tanh's values within 1.8e-7, tanh's gradient, and an element's value
that depends on its input only (not on the tensor's shape, its place in the tensor or the thread count)."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from pglab.networks.activations import FastTanh, fast_tanh
from pglab.networks.actor_critic import ActorCritic

#: the bound the module docstring states (the largest error over a dense grid is 1.78e-7)
MAX_ERROR = 1.8e-7


def test_values_are_within_the_stated_bound_of_tanh_and_saturate_exactly():
    x = torch.linspace(-12.0, 12.0, 2_000_001)
    exact = torch.tanh(x.double())
    error = (fast_tanh(x).double() - exact).abs()
    assert error.max().item() <= MAX_ERROR
    assert error.mean().item() < 3e-8
    assert fast_tanh(torch.tensor([0.0, 9.5, -9.5, 40.0, -40.0])).tolist() == [0.0, 1.0, -1.0, 1.0, -1.0]
    # as far from tanh as torch's own float32 tanh is, within the bound, on a network's inputs
    z = torch.randn(100_000, generator=torch.Generator().manual_seed(0)) * 2
    assert (fast_tanh(z).double() - torch.tanh(z).double()).abs().max().item() <= MAX_ERROR


def test_the_gradient_is_tanhs_of_the_output():
    x = (torch.randn(4096, 64, generator=torch.Generator().manual_seed(1)) * 3).requires_grad_(True)
    grad = torch.randn(4096, 64, generator=torch.Generator().manual_seed(2))
    y = fast_tanh(x)
    y.backward(grad)
    # tanh's backward from fast_tanh's output (aten's kernel may fuse the multiply-add: a rounding apart)
    assert torch.allclose(x.grad, grad * (1 - y.detach() * y.detach()), rtol=1e-6, atol=1e-6)
    exact = grad.double() * (1 - torch.tanh(x.detach().double()) ** 2)
    # off by at most 2 |y| |dy| |grad| <= 2 * MAX_ERROR * |grad| (and float32 rounding)
    assert ((x.grad.double() - exact).abs() <= 2 * MAX_ERROR * grad.double().abs() + 1e-7).all()
    x64 = torch.randn(20, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(fast_tanh, (x64,))


def test_no_grad_and_grad_modes_compute_the_same_values():
    x = torch.randn(300, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        plain = fast_tanh(x)
    assert torch.equal(fast_tanh(x.clone().requires_grad_(True)).detach(), plain)


@pytest.mark.parametrize("threads", [1, 2])
def test_an_elements_value_depends_on_its_input_only(threads):
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        values = torch.randn(400_000, generator=torch.Generator().manual_seed(4)) * 3
        reference = fast_tanh(values)
        naive_mismatches = 0
        for start, shape in [
            (0, (1,)),
            (5, (7,)),
            (11, (33,)),
            (123, (1025, 3)),
            (7, (777, 100)),
            (1, (3, 999, 13)),
            (64, (50_001,)),
            (3, (2, 70_001)),
        ]:
            n = int(np.prod(shape))
            piece = values[start : start + n].reshape(shape).clone()
            assert torch.equal(fast_tanh(piece).reshape(-1), reference[start : start + n]), shape
            naive = torch.sigmoid(piece * 2.0).mul(2.0).sub(1.0).reshape(-1)
            naive_mismatches += int((naive != reference[start : start + n]).sum())
        # Without the padding, the scalar tails of ATen's loops round differently where torch runs its AVX512
        # kernels (the check above has teeth there); its AVX2 sigmoid rounds as the scalar one does.
        if torch.backends.cpu.get_cpu_capability() == "AVX512":
            assert naive_mismatches > 0
    finally:
        torch.set_num_threads(previous)


def test_the_default_mlp_uses_fast_tanh_and_tanh_stays_torch_tanh():
    obs_space = gym.spaces.Box(-1, 1, (4,), dtype=np.float32)
    default = ActorCritic(obs_space, gym.spaces.Discrete(2))
    exact = ActorCritic(obs_space, gym.spaces.Discrete(2), activation="tanh")
    assert [type(m) for m in default.actor_trunk] == [torch.nn.Linear, FastTanh] * 2
    assert [type(m) for m in exact.actor_trunk] == [torch.nn.Linear, torch.nn.Tanh] * 2
    exact.load_state_dict(default.state_dict())
    obs = torch.randn(512, 4, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        gap = (default.distribution(obs).logits - exact.distribution(obs).logits).abs().max().item()
        assert 0 < gap < 1e-6
