"""Run pglab's command-line scripts in a subprocess, as a user does."""

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def run_script(script: str, *args: str, cwd: Path = ROOT, timeout: float = 300,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess:  # fmt: skip
    """`python <script> <args...>` from the repository root (`script` relative to it)."""
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", **(env or {})}
    return subprocess.run([sys.executable, str(ROOT / script), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)  # fmt: skip


def train(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return run_script("train.py", *args, **kwargs)
