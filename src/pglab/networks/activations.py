"""`FastTanh`: tanh as `2 * sigmoid(2x) - 1` on the CPU, the default activation of pglab's MLPs (`fast_tanh`).

Why by hand: on the CPU, torch's float32 `tanh` calls a slow kernel (MKL's vsTanh where torch is built with MKL;
on this project's AMD EPYC machines about 2.7 ns an element, against 0.4 ns for `sigmoid`), and in a 64x64
actor-critic the activations, not the matmuls, then bound both the rollout's forward passes and the update
(`scripts/benchmark.py`'s report measures the training throughput this gives). No library offers a faster
tanh on tensors. `2 * sigmoid(2x) - 1` is tanh algebraically; in float32 it is
within 1.8e-7 of tanh everywhere (absolute: near 0 its relative error grows, as the cancellation of `- 1` loses
the low bits, which a network cannot tell from its weights' noise), and exactly +-1 where tanh rounds to +-1.
The gradient is tanh's, `g * (1 - y^2)` of the output (`aten::tanh_backward`, as `torch.tanh`'s backward).

Exactness: ATen computes the elements of a vectorized loop's tail (and of every thread's chunk's tail) with its
scalar `sigmoid`, which rounds differently from the AVX512 vectorized one on about 4% of inputs (the unit test
found no difference from the AVX2 one), so an element's value would depend on where it sits in its tensor. `fast_tanh` pads the input to whole vectors and whole per-thread
chunks, so every element takes the vectorized path: its value depends only on its input, whatever the tensor's
shape (a rollout step, a minibatch, a population's stacked members) or the thread count. The multiplications by 2
and the `- 1` are exactly rounded in both paths.

On other devices `FastTanh` is `torch.tanh` (one fused kernel there already; results then differ from the CPU's
in the last bits, as torch's kernels do across devices). `activation: tanh` is `torch.tanh` everywhere, bit for
bit as `nn.Tanh` in Stable-Baselines3 and CleanRL.
"""

import torch
from torch import Tensor, nn

#: elements the padded input is a multiple of, per thread: 4 AVX512 vectors of float32 (ATen's vectorized loops
#: step 2 vectors at a time; AVX2's vectors are half as wide), so no element falls into a scalar tail
WHOLE_VECTORS = 64


def _sigmoid_vectorized_(x: Tensor) -> Tensor:
    """`sigmoid(x)` with every element computed by ATen's vectorized loop (see the module docstring), in the
    memory of `x` where its size is whole vectors (which it then overwrites)."""
    block = WHOLE_VECTORS * torch.get_num_threads()
    n = x.numel()
    if n % block == 0 and x.is_contiguous():
        return x.sigmoid_()
    padded = x.new_zeros(-(-n // block) * block)
    padded[:n] = x.reshape(-1)
    return padded.sigmoid_()[:n].view(x.shape)


#: the `-1` of `2 * sigmoid(2x) - 1`, a 0-d tensor: torch treats it as a scalar of the input's dtype
_MINUS_ONE = torch.tensor(-1.0)


def fast_tanh_values(x: Tensor) -> Tensor:
    """`tanh(x)` as `2 * sigmoid(2x) - 1` (float32 on the CPU: within 1.8e-7 of tanh), not differentiable."""
    return fast_tanh_of_doubled(x * 2.0)


def fast_tanh_of_doubled(doubled: Tensor) -> Tensor:
    """`fast_tanh_values(x)` from `doubled = 2x`, for a caller that gets `2x` for free: a linear layer's
    `addmm(bias, x, weight^T, beta=2, alpha=2)` is exactly twice its output (scaling by 2 is exact in every rounding
    of the product and the sum), which saves the pass of `x * 2` (`pglab.networks.mlp.run_trunk`).

    `2 * s - 1` is one `add(-1, s, alpha=2)`: `2 * s` is exact, so with or without a fused multiply-add it is the
    single rounding of `2s - 1`, the bits of `s * 2 - 1` in two operations, in one pass instead of two (a CartPole
    rollout step's 8 x 64 activations: 2.8 against 14 us; a population's 32 x 256 x 64: 88 against 118 us).

    `doubled` must be a temporary: both passes write into its memory (elementwise, so the bits are those of new
    tensors), which spares two allocations (a 1,024 x 64 layer's `addmm` + activation: 137 against 132 us)."""
    s = _sigmoid_vectorized_(doubled)
    # (a 0-d input would take the 0-d float32's dtype: torch promotes between 0-d tensors by dtype)
    return torch.add(_MINUS_ONE if s.dim() else _MINUS_ONE.to(s.dtype), s, alpha=2.0, out=s)


class _FastTanhFunction(torch.autograd.Function):
    """`fast_tanh_values` with tanh's gradient from the saved output.

    The classic form (`forward(ctx, x)`), not `setup_context`: with torch 2.13 on the CPU the latter's
    `apply` costs about 60 us more a call (measured on a 256 x 64 input: 126 us against 65 us), as much as
    the activation itself; pglab applies no `torch.func` transform to it, which is what that form is for."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        y = fast_tanh_values(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (y,) = ctx.saved_tensors
        return torch.ops.aten.tanh_backward(grad, y)


def fast_tanh(x: Tensor) -> Tensor:
    """tanh of `x` (any shape), computed as the module docstring says; differentiable."""
    if x.device.type != "cpu":
        return torch.tanh(x)
    if torch.is_grad_enabled() and x.requires_grad:
        return _FastTanhFunction.apply(x)
    return fast_tanh_values(x)


class FastTanh(nn.Module):
    """`nn.Tanh`'s drop-in: `fast_tanh` of the input (module docstring)."""

    def forward(self, x: Tensor) -> Tensor:
        return fast_tanh(x)
