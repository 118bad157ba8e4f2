"""Run `train.py` with its third checkpoint write cut off: half the bytes reach the file, then the process
SIGKILLs itself, as a `kill -9` or an out-of-memory kill in the middle of a save would.

    python tests/kill_during_save.py <train.py arguments...>
"""

import io
import os
import runpy
import signal
import sys
from pathlib import Path

import torch

import pglab.checkpoint_io as checkpoint_io

ROOT = Path(__file__).resolve().parents[1]
saves = 0


def half_written_then_killed(checkpoint, filepath) -> None:
    global saves
    saves += 1
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    data = buffer.getvalue()
    with open(filepath, "wb") as file:
        file.write(data if saves < 3 else data[: len(data) // 2])
        file.flush()
        os.fsync(file.fileno())
    if saves == 3:
        os.kill(os.getpid(), signal.SIGKILL)


checkpoint_io.write_checkpoint = half_written_then_killed
sys.argv = [str(ROOT / "train.py"), *sys.argv[1:]]
sys.path.insert(0, str(ROOT))
runpy.run_path(str(ROOT / "train.py"), run_name="__main__")
