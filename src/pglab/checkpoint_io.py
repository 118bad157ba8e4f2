"""Checkpoint files written once, at the path they are given.

Lightning's `TorchCheckpointIO` saves through an fsspec transaction (`lightning.fabric.utilities.cloud_io.
_atomic_save`): the bytes go to a file in the system temp dir (`tempfile.mkstemp`) and are then moved to the
target, which copies them again when /tmp is another file system. Every save is written twice, and a small /tmp
fails a save even when the run dir has room. pglab's saves are atomic already (`EnvStepCheckpoint` writes
`<name>.tmp` beside the target and renames it over the target, `pglab.atomic`), so this plugin writes the path it
is given, once. conf/trainer/default.yaml registers it for every run.

The checkpoint is serialized into memory first: `torch.save` to a path writes through its own zip writer, which
reports a full disk as `RuntimeError: [enforce fail at inline_container.cc:...] unexpected pos ...`; Python's file
I/O reports it as the OSError it is, turned here into a `StorageError` naming the file.
"""

import contextlib
import io
import os
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.utilities.types import _PATH
from lightning.pytorch.plugins.io import TorchCheckpointIO

from pglab.atomic import storage_error


def write_checkpoint(checkpoint: dict[str, Any], path: str | Path) -> None:
    """`torch.save(checkpoint)` into `path`, synced to disk; a failed write removes the partial file and raises
    `StorageError` naming `path`."""
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as file:
            file.write(buffer.getbuffer())
            file.flush()
            os.fsync(file.fileno())  # on disk before the caller renames it over the previous checkpoint
    except OSError as error:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
        raise storage_error(path, error) from error


class LocalCheckpointIO(TorchCheckpointIO):
    """`TorchCheckpointIO` that writes a local checkpoint directly to its path (no copy through the system temp
    dir); a remote URL (`s3://...`) is saved by Lightning's own code."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None or "://" in str(path):
            super().save_checkpoint(
                checkpoint, path, storage_options
            )  # its error for storage_options, or fsspec
            return
        write_checkpoint(checkpoint, path)
