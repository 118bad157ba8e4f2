"""Counter-based random numbers for batched envs: a pure function of (seed, sub-env index, episode, draw).

A batched env draws the start state of sub-env i's k-th episode from `uniform(seed, i, k, draws)`, not from a
generator that all sub-envs share. So a sub-env's episodes are the same whatever the number of envs, the device
(integer arithmetic is exact everywhere) or the order in which episodes end, and a checkpoint resumes exactly from
the counters alone (no generator state). The mixing function is SplitMix64's finalizer (Steele, Lea and Flood,
"Fast splittable pseudorandom number generators", 2014), as used to seed xoshiro and JAX's threefry keys; written
here because torch has no counter-based generator that runs on tensors of keys.

int64 tensors wrap on overflow (two's complement on every torch backend), which gives the unsigned 64-bit
arithmetic the mixer needs; the right shifts are made logical by masking off the sign extension.

On the CPU the same arithmetic runs in numpy's uint64 (`_uniform_numpy`), on the tensors' memory: a CPU env draws
start states for the few sub-envs that just ended, and on such small arrays a torch operation's dispatch (2-5 us,
with a logical shift costing two of them, as torch has no right shift on uint64) dominates: CartPole's draw for
46 sub-envs (a 1,024-env step's resets under a random policy) took 68 us in torch against 22 us in numpy on this
project's 2-core AMD EPYC, and such a step 297 against 279 us. Integer arithmetic is exact, so both paths give the
same bits (tested).
"""

import numpy as np
import torch
from torch import Tensor

MASK64 = (1 << 64) - 1


def _signed(value: int) -> int:
    """The int64 that has the same 64 bits as the unsigned `value`."""
    value &= MASK64
    return value - (1 << 64) if value >= 1 << 63 else value


GOLDEN = _signed(0x9E3779B97F4A7C15)  # 2^64 / golden ratio, SplitMix64's increment
MIX1 = _signed(0xBF58476D1CE4E5B9)
MIX2 = _signed(0x94D049BB133111EB)
EPISODE_KEY = _signed(0xD1B54A32D192ED03)  # odd constants keep the (index, episode) pairs apart
DRAW_KEY = _signed(0x8CB92BA72F3D8DD7)


def _shift_right(z: Tensor, bits: int) -> Tensor:
    """Logical right shift of int64 bit patterns."""
    return (z >> bits) & ((1 << (64 - bits)) - 1)


def mix64(z: Tensor) -> Tensor:
    """SplitMix64's finalizer on int64 tensors (a bijection of 64-bit patterns with full avalanche)."""
    z = (z ^ _shift_right(z, 30)) * MIX1
    z = (z ^ _shift_right(z, 27)) * MIX2
    return z ^ _shift_right(z, 31)


def _mix_int(z: int) -> int:
    """`mix64` of one 64-bit pattern, in Python integers."""
    z &= MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def env_keys(seed: int, index: Tensor) -> Tensor:
    """`(N,)` int64 keys of sub-envs `index` under `seed`: what `uniform` starts from (a batched env keeps them,
    since they change only with the seed)."""
    return mix64(index * GOLDEN ^ _signed(_mix_int(seed + 0x9E3779B97F4A7C15)))


def uniform_from_keys(keys: Tensor, episode: Tensor, draws: int, first: int | Tensor = 0) -> Tensor:
    """`uniform` from the sub-envs' `env_keys` (`(N,)` int64, on any device)."""
    if keys.device.type == "cpu":
        first = first.numpy() if isinstance(first, Tensor) else first
        return torch.from_numpy(_uniform_numpy(keys.numpy(), episode.numpy(), draws, first))
    return _uniform_torch(keys, episode, draws, first)


def _uniform_torch(keys: Tensor, episode: Tensor, draws: int, first: int | Tensor = 0) -> Tensor:
    """`uniform_from_keys` in torch's int64 arithmetic (any device)."""
    key = mix64(keys ^ (episode * EPISODE_KEY))
    counters = torch.arange(1, draws + 1, dtype=torch.int64, device=keys.device)
    if isinstance(first, Tensor):
        counters = first[:, None] + counters
    elif first:
        counters = counters + first
    bits = mix64(key[:, None] + counters * DRAW_KEY)
    return _shift_right(bits, 11).to(torch.float64) * 2.0**-53


#: the constants as numpy uint64 scalars, made once (each `np.uint64(...)` costs a call on the per-step path)
_MIX1_U64, _MIX2_U64, _EPISODE_KEY_U64, _DRAW_KEY_U64 = (
    np.uint64(c & MASK64) for c in (MIX1, MIX2, EPISODE_KEY, DRAW_KEY)
)
_SHIFT_11, _SHIFT_27, _SHIFT_30, _SHIFT_31 = (np.uint64(bits) for bits in (11, 27, 30, 31))


def _mix64_numpy(z: np.ndarray) -> np.ndarray:
    """`mix64` on uint64 arrays (numpy's right shift of unsigned integers is logical; products wrap)."""
    z = (z ^ (z >> _SHIFT_30)) * _MIX1_U64
    z = (z ^ (z >> _SHIFT_27)) * _MIX2_U64
    return z ^ (z >> _SHIFT_31)


def _uniform_numpy(
    keys: np.ndarray, episode: np.ndarray, draws: int, first: int | np.ndarray = 0
) -> np.ndarray:
    """`_uniform_torch` in numpy's uint64 arithmetic on int64 arrays: `(N, draws)` float64, the same bits."""
    keys, episode = keys.view(np.uint64), episode.view(np.uint64)
    key = _mix64_numpy(keys ^ (episode * _EPISODE_KEY_U64))
    counters = np.arange(1, draws + 1, dtype=np.uint64)
    if isinstance(first, np.ndarray):
        counters = first.view(np.uint64)[:, None] + counters
    elif first:
        counters = counters + np.uint64(first)
    bits = _mix64_numpy(key[:, None] + counters * _DRAW_KEY_U64)
    return (bits >> _SHIFT_11).astype(np.float64) * 2.0**-53


def uniform(seed: int, index: Tensor, episode: Tensor, draws: int, first: int | Tensor = 0) -> Tensor:
    """Uniform float64 numbers in [0, 1), 53 random bits each.

    Args:
        seed: the run's env seed (any Python int; taken modulo 2^64).
        index: `(N,)` int64 sub-env indices.
        episode: `(N,)` int64 episode numbers (0 for the first episode after `reset(seed=...)`).
        draws: numbers per sub-env.
        first: the number of the first draw, an int or `(N,)` int64 (an env that draws during an episode, e.g.
            PixelCopter's new cave blocks, counts its draws so far and passes the count here).

    Returns:
        `(N, draws)` float64 on `index`'s device; entry `[n, j]` is draw `first + j` of `(seed, index[n],
        episode[n])` and depends on nothing else.
    """
    return uniform_from_keys(env_keys(seed, index), episode, draws, first)


def uniform_reference(seed: int, index: int, episode: int, draw: int) -> float:
    """`uniform` for one number, in plain Python integers (the slow reference the tests compare with)."""

    def mix(z: int) -> int:
        z &= MASK64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    key = mix(seed + 0x9E3779B97F4A7C15)
    key = mix(key ^ ((index * 0x9E3779B97F4A7C15) & MASK64))
    key = mix(key ^ ((episode * 0xD1B54A32D192ED03) & MASK64))
    bits = mix(key + (draw + 1) * 0x8CB92BA72F3D8DD7)
    return (bits >> 11) * 2.0**-53
