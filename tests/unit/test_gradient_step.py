"""`clip_grad_norm_`, the gradient step's norm and clipping, against torch's `get_total_norm` and
`clip_grad_norm_`: the same norm and the same clipped gradients, bit for bit."""

import math

import pytest
import torch
from torch import nn

from pglab.algos.base import clip_grad_norm_


def parameters_with_gradients(scale: float, seed: int = 0) -> list[nn.Parameter]:
    generator = torch.Generator().manual_seed(seed)
    shapes = [(64, 4), (64,), (64, 64), (64,), (2, 64), (2,), (1, 64), (1,)]
    parameters = [nn.Parameter(torch.randn(shape, generator=generator)) for shape in shapes]
    for parameter in parameters:
        parameter.grad = torch.randn(parameter.shape, generator=generator) * scale
    return parameters


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])  # clipping inactive (norm below 0.5) and active
@pytest.mark.parametrize("max_norm", [None, 0.5])
def test_the_norm_and_clipped_gradients_equal_torchs(scale, max_norm):
    ours, theirs = parameters_with_gradients(scale), parameters_with_gradients(scale)
    norm = clip_grad_norm_(ours, max_norm)
    if max_norm is None:
        expected = nn.utils.get_total_norm([p.grad for p in theirs])
    else:
        expected = nn.utils.clip_grad_norm_(theirs, max_norm)
    assert torch.equal(norm, expected)
    assert all(torch.equal(a.grad, b.grad) for a, b in zip(ours, theirs, strict=True))
    if max_norm is not None and scale >= 1.0:
        clipped = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in ours]))
        assert clipped.item() == pytest.approx(max_norm, rel=1e-5)


def test_parameters_without_gradients_are_left_out_and_none_give_a_zero_norm():
    ours, theirs = parameters_with_gradients(1.0), parameters_with_gradients(1.0)
    ours[2].grad = theirs[2].grad = None
    assert torch.equal(clip_grad_norm_(ours, 0.5), nn.utils.clip_grad_norm_(theirs, 0.5))
    assert all(
        (a.grad is None and b.grad is None) or torch.equal(a.grad, b.grad)
        for a, b in zip(ours, theirs, strict=True)
    )
    for parameter in ours:
        parameter.grad = None
    assert clip_grad_norm_(ours, 0.5).item() == 0.0


@pytest.mark.parametrize("value", [math.inf, math.nan])
@pytest.mark.parametrize("max_norm", [None, 0.5])
def test_a_non_finite_gradient_gives_torchs_norm_and_gradients(value, max_norm):
    ours, theirs = parameters_with_gradients(1.0), parameters_with_gradients(1.0)
    ours[3].grad[5] = theirs[3].grad[5] = value
    norm = clip_grad_norm_(ours, max_norm)
    if max_norm is None:
        expected = nn.utils.get_total_norm([p.grad for p in theirs])
    else:
        expected = nn.utils.clip_grad_norm_(theirs, max_norm)
    assert not torch.isfinite(norm) and torch.equal(norm.isnan(), expected.isnan())
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=0, atol=0, equal_nan=True)


def test_gradients_that_require_grad_build_no_graph():
    parameters = parameters_with_gradients(1.0)
    for parameter in parameters:
        parameter.grad.requires_grad_(True)
    norm = clip_grad_norm_(parameters, None)
    assert not norm.requires_grad and norm.grad_fn is None


def test_gradients_of_two_dtypes_go_to_torchs_grouping():
    ours, theirs = parameters_with_gradients(1.0), parameters_with_gradients(1.0)
    for parameters in (ours, theirs):
        parameters[0].data = parameters[0].data.double()
        parameters[0].grad = parameters[0].grad.double()
    assert torch.equal(clip_grad_norm_(ours, 0.5), nn.utils.clip_grad_norm_(theirs, 0.5))
    assert all(torch.equal(a.grad, b.grad) for a, b in zip(ours, theirs, strict=True))
