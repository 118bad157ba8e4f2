"""glibc malloc settings for a training process (`keep_freed_memory` in the config).

Why: torch's CPU tensors come from the C library's `malloc`. glibc serves a block above its mmap threshold with a
fresh `mmap` and unmaps it when it is freed, and it returns the free memory at the top of its heap to the kernel
(`trim`) once that exceeds its trim threshold; both thresholds adapt to the process (the mmap threshold rises to
the largest freed mmapped block, at most 32 MiB, the trim threshold to twice that). A training loop allocates and
frees the same tensors thousands of times a second, so every update that crosses a threshold maps fresh pages
and takes a page fault for each 4 KiB of them. Measured on a 2-core AMD EPYC: a 32-member population of the torch
backend's CartPole PPO (2 MiB activations) spent 8.4 s of its 63.5 s in the kernel; with the settings below 1.1 s,
and it ran in 53.4 s, with bit-identical results (the numbers computed do not depend on where memory comes from).
The gymnasium backend's small tensors stay on the heap either way (0.6 s in the kernel with or without).

The settings: blocks up to 32 MiB come from the heap (glibc's own ceiling for its adaptive threshold), and up to
1 GiB of free heap stays with the process for reuse. The process keeps its peak heap until it exits, as it
would with `MALLOC_MMAP_THRESHOLD_` / `MALLOC_TRIM_THRESHOLD_` set in the environment (which is what this does,
from inside the process). No library wraps `mallopt`; it is two calls through ctypes. Elsewhere than glibc
(macOS, Windows, musl) nothing changes.
"""

import ctypes
import sys

#: `mallopt` parameters, from glibc's malloc.h
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 1024 * 1024 * 1024


def configured(cfg) -> object:
    """The run config's `keep_freed_memory` (a config saved before the key existed lacks it: its default, true)."""
    return cfg.get("keep_freed_memory", True)


def apply_config(cfg) -> bool:
    """`keep_freed_memory()` where the run's config asks for it. A process setting that stays once made: in a
    multirun whose jobs share a process, a later job's `false` does not undo an earlier job's `true`."""
    return keep_freed_memory() if configured(cfg) else False


def keep_freed_memory() -> bool:
    """Set glibc malloc's mmap and trim thresholds as the module docstring says. Returns whether both were set
    (False where the C library is not glibc)."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None)
    if not hasattr(libc, "gnu_get_libc_version"):  # another C library (musl's mallopt does nothing)
        return False
    mallopt = libc.mallopt
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) & bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
