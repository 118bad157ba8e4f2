"""Atomic file writes: the new content goes to `<name>.tmp` in the same directory and is renamed over the file
(`os.replace`, atomic on POSIX and Windows), so a process killed mid-write leaves the previous file (or none),
never a truncated one. Checkpoints, `config.yaml`, `summary.json` and the CSV metrics rewritten on resume use it.

A write that fails (disk full, read-only file system, no permission) removes its `.tmp` file and raises
`StorageError` naming the target, the cause and what was kept: "could not write <run>/checkpoints/last.ckpt: No
space left on device; the previous last.ckpt is kept".
"""

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pglab.errors import StorageError


def os_reason(error: BaseException) -> str:
    """The operating system's words for `error` ("No space left on device"), looking through the StorageErrors
    that wrapped it."""
    while isinstance(error, StorageError) and isinstance(error.__cause__, OSError):
        error = error.__cause__
    return getattr(error, "strerror", None) or str(error)


def storage_error(path: str | Path, error: BaseException, kept: str = "") -> StorageError:
    """`StorageError("could not write <path>: <reason>[; <kept>]")` for the OSError `error` (raise it `from error`)."""
    return StorageError(f"could not write {path}: {os_reason(error)}" + (f"; {kept}" if kept else ""))


@contextmanager
def atomic_path(path: str | Path, commit: bool = True) -> Iterator[Path]:
    """A temporary path to write `path`'s new content to; renamed over `path` when the block ends without error
    (and `commit`: in data-parallel training, only process 0 writes a checkpoint the others help build).

    When the block raises, the temporary file is removed and `path` is left as it was; an OSError becomes a
    `StorageError` naming `path` (not the temporary file) and saying whether the previous file is kept.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        yield tmp
        if commit:
            os.replace(tmp, path)
    except BaseException as error:
        if commit:  # with commit=False the temporary file is another process's
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        if isinstance(error, OSError):
            kept = f"the previous {path.name} is kept" if path.exists() else ""
            raise storage_error(path, error, kept) from error
        raise
