"""Run pglab's command-line scripts in a subprocess, as a user does: `python train.py ...`.

Why not a fresh interpreter each time: the suite runs about 100 scripts, and a fresh `python train.py` spends
6-14 s importing torch and lightning before a 1-3 s smoke run. So `run_script` forks the script's process
from a zygote (`tests/zygote.py`; one per pytest process, started on first use, stopped at exit) that has
imported those modules once.

The same as `subprocess.run([sys.executable, script, *args], capture_output=True, text=True)`: a new process
(its own pid, memory and exit, default SIGINT/SIGTERM handling, pytest's process group); `sys.argv`,
`sys.path[0]` (the script's dir), the environment, the working dir, stdin; the script runs as `__main__`; the
exit code (SystemExit's, 1 and a traceback for an uncaught exception, minus the signal number when killed),
after atexit handlers, module teardown and stdio flushes; stdout and stderr decoded as text mode does;
`timeout` kills the process and raises `subprocess.TimeoutExpired`.
What differs: the zygote's modules are imported already, so what they do at import happened once, before
(a warning printed at import would be missing from the output); every run has the zygote's string-hash seed
and is the zygote's child. A run whose environment differs from the zygote's in a variable read when the
interpreter or a preloaded library starts (STARTUP_ENV_PREFIXES) runs in a fresh interpreter.

`run_script(..., fresh=True)`, or PGLAB_TEST_FRESH_PYTHON=1 for the whole suite, runs a fresh interpreter.
"""

import atexit
import contextlib
import itertools
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from tests.conftest import ROOT

ZYGOTE_SCRIPT = Path(__file__).with_name("zygote.py")
FRESH_HINT = "PGLAB_TEST_FRESH_PYTHON=1 runs every script in a fresh interpreter"
STARTUP_TIMEOUT = 300  # seconds for the zygote's imports (6-14 s on 2 busy cores)
# Variables read when the interpreter or a library the zygote preloads starts, not later.
STARTUP_ENV_PREFIXES = ("PYTHON", "OMP_", "OPENBLAS_", "MKL_", "TORCH", "PYTORCH_", "MPL", "TQDM_", "LD_")


def run_script(
    script: str,
    *args: str,
    cwd: Path = ROOT,
    timeout: float = 300,
    env: dict[str, str] | None = None,
    fresh: bool = False,
) -> subprocess.CompletedProcess:
    """`python <script> <args...>` from the repository root (`script` relative to it).

    `fresh`: in a new interpreter rather than forked from the zygote.
    """
    base_env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    env = {**base_env, **(env or {})}
    command = [sys.executable, str(ROOT / script), *args]
    if fresh or os.environ.get("PGLAB_TEST_FRESH_PYTHON") == "1" or not Zygote.get(base_env).can_run(env):
        return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    return Zygote.get(base_env).run(command, cwd=cwd, timeout=timeout, env=env)


def train(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return run_script("train.py", *args, **kwargs)


class ZygoteExited(RuntimeError):
    """The zygote died or stopped answering; the next `run_script` starts another."""


class Zygote:
    """The test side of `tests/zygote.py`: requests as JSON lines on one pipe, replies on another; one script
    at a time (a lock), as the tests call `run_script` from one thread."""

    _instance: "Zygote | None" = None

    @classmethod
    def get(cls, env: dict[str, str]) -> "Zygote":
        """This process's zygote, started with `env` on first use (and again if it died)."""
        if cls._instance is None or cls._instance.closed or cls._instance.process.poll() is not None:
            if cls._instance is not None:
                cls._instance.close()
            cls._instance = cls(env)
        return cls._instance

    def __init__(self, env: dict[str, str]):
        self.startup_env = startup_env(env)
        request_read, self.requests = os.pipe()
        self.replies, reply_write = os.pipe()
        command = [sys.executable, str(ZYGOTE_SCRIPT), str(request_read), str(reply_write)]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, pass_fds=(request_read, reply_write)
        )
        os.close(request_read)
        os.close(reply_write)
        self.outputs = Path(tempfile.mkdtemp(prefix="pglab-zygote-"))
        self.calls = itertools.count()
        self.buffer = b""
        self.lock = threading.Lock()
        self.ready = False
        self.closed = False
        atexit.register(self.close)

    def can_run(self, env: dict[str, str]) -> bool:
        return startup_env(env) == self.startup_env

    def run(self, command: list[str], cwd: Path, timeout: float, env: dict) -> subprocess.CompletedProcess:
        with self.lock:
            if not self.ready:  # its imports, once: not part of any script's time
                self.expect(time.monotonic() + STARTUP_TIMEOUT)
                self.ready = True
            deadline = time.monotonic() + timeout
            call = next(self.calls)
            stdout, stderr = self.outputs / f"{call}.out", self.outputs / f"{call}.err"
            request = {
                "script": command[1],
                "args": command[2:],
                "cwd": str(cwd),
                "env": env,
                "stdout": str(stdout),
                "stderr": str(stderr),
            }
            try:
                os.write(self.requests, json.dumps(request).encode() + b"\n")
            except BrokenPipeError as error:
                self.close()
                raise ZygoteExited(f"{ZYGOTE_SCRIPT} exited; {FRESH_HINT}") from error
            pid = self.expect(deadline)["pid"]  # it forks at once
            try:
                returncode = self.receive(deadline)["returncode"]
            except BaseException as error:  # a timeout, a Ctrl-C: kill the child, as subprocess.run does
                self.kill(pid)
                if isinstance(error, TimeoutError):
                    raise subprocess.TimeoutExpired(
                        command, timeout, output=read_bytes(stdout), stderr=read_bytes(stderr)
                    ) from None
                raise
            return subprocess.CompletedProcess(command, returncode, read_text(stdout), read_text(stderr))

    def receive(self, deadline: float) -> dict[str, Any]:
        """The zygote's next reply: TimeoutError after `deadline`, ZygoteExited (closing this) at its end."""
        while b"\n" not in self.buffer:
            if not select.select([self.replies], [], [], max(0.0, deadline - time.monotonic()))[0]:
                raise TimeoutError
            chunk = os.read(self.replies, 4096)
            if not chunk:
                self.close()
                code = self.process.returncode
                raise ZygoteExited(f"{ZYGOTE_SCRIPT} exited with code {code}; {FRESH_HINT}")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def expect(self, deadline: float) -> dict[str, Any]:
        """A reply the zygote owes without delay: ZygoteExited (closing this) if none came by `deadline`."""
        try:
            return self.receive(deadline)
        except TimeoutError:
            self.close()
            raise ZygoteExited(f"{ZYGOTE_SCRIPT} did not answer in time; {FRESH_HINT}") from None

    def kill(self, pid: int) -> None:
        """SIGKILL the child `pid` (not reaped yet: its exit was not reported) and read its exit report."""
        with contextlib.suppress(ProcessLookupError):  # it exited at the deadline and was reaped
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ZygoteExited):
            self.expect(time.monotonic() + 60)

    def close(self) -> None:
        """Close the request pipe (the zygote exits at its end), then the rest; once."""
        if self.closed:
            return
        self.closed = True
        os.close(self.requests)
        os.close(self.replies)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.outputs, ignore_errors=True)


def startup_env(env: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in env.items() if key.startswith(STARTUP_ENV_PREFIXES)}


def read_bytes(path: Path) -> bytes | None:
    """As `subprocess.TimeoutExpired` holds what a pipe gave until then: None for nothing."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    path.unlink()
    return data or None


def read_text(path: Path) -> str:
    """As `text=True` decodes a pipe: the locale's encoding, universal newlines (`\\r\\n`, `\\r` -> `\\n`)."""
    try:
        with open(path) as file:
            text = file.read()
    except FileNotFoundError:
        return ""
    path.unlink()
    return text
