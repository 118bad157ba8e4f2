"""Random-number-generator states as tensors and plain numbers, so that checkpoints holding them load with
`torch.load(weights_only=True)`: the global torch/numpy/Python/CUDA states of a run, and a numpy `RandomState`'s
own state (the envs that keep one, e.g. PixelCopter)."""

import random
from typing import Any

import numpy as np
import torch


def pack_random_state(generator: np.random.RandomState | None = None) -> dict[str, Any]:
    """The MT19937 state of `generator` (numpy's global one if None)."""
    state = generator.get_state() if generator is not None else np.random.get_state()
    _, keys, pos, has_gauss, cached = state
    return {
        "keys": torch.from_numpy(keys.astype(np.int64)),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached_gaussian": float(cached),
    }


def unpack_random_state(packed: dict[str, Any]) -> tuple:
    """The state tuple `np.random.RandomState.set_state` takes, from `pack_random_state`'s dict."""
    keys = packed["keys"].numpy().astype(np.uint32)
    return ("MT19937", keys, packed["pos"], packed["has_gauss"], packed["cached_gaussian"])


def rng_states() -> dict[str, Any]:
    """torch's, numpy's global, Python's and (where present) CUDA's RNG states."""
    version, internal, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": pack_random_state(),
        "python": {"version": version, "internal": list(internal), "gauss": gauss},
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_states(states: dict[str, Any]) -> None:
    """Restore `rng_states()`'s states (CUDA's only on a machine with the same number of GPUs)."""
    torch.set_rng_state(states["torch"])
    np.random.set_state(unpack_random_state(states["numpy"]))
    p = states["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss"]))
    if states.get("cuda") and torch.cuda.is_available() and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states["cuda"])
