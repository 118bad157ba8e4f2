"""Atomic file writes: the new content goes to `<name>.tmp` in the same directory and is renamed over the file
(`os.replace`, atomic on POSIX and Windows), so a process killed mid-write leaves the previous file (or none),
never a truncated one. Checkpoints, `config.yaml`, `summary.json` and the CSV metrics rewritten on resume use it."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path, commit: bool = True) -> Iterator[Path]:
    """A temporary path to write `path`'s new content to; renamed over `path` when the block ends without error
    (and `commit`: in data-parallel training, only process 0 writes a checkpoint the others help build)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    yield tmp
    if commit:
        os.replace(tmp, path)
