"""Transcendental functions on tensors that round exactly as numpy's scalar maths does (C's libm), for batched envs
that must reproduce gymnasium's float64 arithmetic bit for bit on the CPU.

- `np.sin` / `np.cos` of a float64 are libm's `sin` / `cos`; `torch.sin` / `torch.cos` of float64 tensors use a
  vectorized implementation that differs from libm by 1 ulp on about 0.2% of inputs (on every CPU capability).
  `torch.polar(1, x)` computes `cos(x) + i sin(x)` with libm's `cos` and `sin` element by element.
- A numpy scalar's `x ** 2` is libm's `pow(x, 2.0)` (`powf` for float32), not `x * x`: they differ on about 0.1% of
  float64 inputs; `torch.pow(x, 2)` is `x * x`. `torch.pow` with a tensor exponent calls `std::pow` element by
  element where an operand is not contiguous (a vectorized pow, which differs on about 2% of inputs, where all are).

These rely on how torch routes the calls today, which it does not document: `tests/unit/test_batched_pendulum.py`
checks them against numpy, so a torch upgrade that changes them fails there. On CUDA the same calls use CUDA's
functions, which can differ from libm in the last bit.
"""

import torch
from torch import Tensor


def libm_pow(base: Tensor, exponent: float) -> Tensor:
    """`base ** exponent` as C's `pow` (float64) or `powf` (float32) computes it, i.e. as a numpy scalar's `**` does:
    a strided view of `base` makes ATen's pow loop call `std::pow` element by element (see the module docstring)."""
    strided = torch.stack([base, base], dim=-1)[..., 0]
    return torch.pow(strided, base.new_full((), exponent))


def cos_sin(theta: Tensor) -> tuple[Tensor, Tensor]:
    """libm's `cos(theta)` and `sin(theta)` (float64), from `torch.polar` (see the module docstring)."""
    unit = torch.polar(torch.ones_like(theta), theta)
    return unit.real, unit.imag
