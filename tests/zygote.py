"""The pre-warmed process behind `tests/cli.py::run_script`: `python tests/zygote.py REQUEST_FD REPLY_FD`.

It imports the heavy, side-effect-free modules that `train.py`, `evaluate.py` and `scripts/plot.py` import
(torch, lightning, hydra, gymnasium, matplotlib, scipy and pglab's modules; 6-14 s on a 2-core machine) and
says `{"ready": true}` on REPLY_FD. Then, for each JSON line `{"script", "args", "cwd", "env", "stdout",
"stderr"}` read from REQUEST_FD, it forks a child that becomes `python <script> <args...>` (`become_script`)
and writes two lines to REPLY_FD: `{"pid": ...}` when the child runs, `{"pid": ..., "returncode": ...}` when
it has exited (negative: killed by that signal, as `subprocess` reports it). It exits when REQUEST_FD closes.

No thread runs at a fork: Python threads are never started here, torch's intra-op pool starts with the first
tensor operation (none runs here), and OpenBLAS (numpy's, scipy's) stops its pool before a fork
(pthread_atfork) and restarts it on its next call. Before each fork `gc.freeze()` puts this process's objects
out of the collector's reach, so a child's collections do not copy every page of them (its exit takes 0.5 s
instead of 2 s); cyclic garbage among the preloaded modules' objects is thus never collected in a child.
"""

import builtins
import contextlib
import gc
import importlib.machinery
import io
import json
import logging
import os
import signal
import sys
import threading
import types
from typing import Any

# What the scripts import, by their own imports or at the start of a run. Not wandb: it reads WANDB_*
# variables at import, and the tests give each run its own.
PRELOAD = [
    "numpy",
    "torch",
    "lightning",
    "hydra",
    "omegaconf",
    "gymnasium",
    "matplotlib.pyplot",
    "scipy.stats",
    "hydra_plugins.hydra_joblib_launcher.joblib_launcher",
    "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper",
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher",
    "pglab.train",
    "pglab.evaluate",
    "pglab.comparison",
    "pglab.sweep_summary",
    "pglab.overrides",
]


def preload() -> None:
    """Import PRELOAD, leaving the logging configuration as a real run leaves it.

    `import lightning` gives its loggers a handler of their own and stops their propagation when the root
    logger has no handler yet (lightning/pytorch/__init__.py). A real run imports lightning inside the Hydra
    task, after Hydra configured the root logger; a root handler during these imports gives the same result.
    """
    root = logging.getLogger()
    stand_in = logging.NullHandler()
    root.addHandler(stand_in)
    try:
        for name in PRELOAD:
            with contextlib.suppress(Exception):  # the child imports it again and fails as a real run would
                __import__(name)
    finally:
        root.removeHandler(stand_in)
    assert threading.active_count() == 1, f"a thread started at import: {threading.enumerate()}"


def serve(requests_fd: int, replies_fd: int) -> dict[str, Any] | None:
    """Fork a child per request; return the request in the child, None in this process at the end."""
    with open(requests_fd, "rb") as requests:
        try:
            reply(replies_fd, {"ready": True})
            for line in requests:
                request = json.loads(line)
                sys.stdout.flush()
                sys.stderr.flush()
                gc.freeze()  # see the module docstring
                pid = os.fork()
                if pid == 0:
                    requests.close()  # by the file object, which would close the fd number again later
                    os.close(replies_fd)
                    return request
                reply(replies_fd, {"pid": pid})
                _, status = os.waitpid(pid, 0)
                reply(replies_fd, {"pid": pid, "returncode": os.waitstatus_to_exitcode(status)})
        except BrokenPipeError:  # the test side closed its end: it has gone, or given up on this zygote
            pass
    return None


def reply(fd: int, message: dict[str, Any]) -> None:
    os.write(fd, json.dumps(message).encode() + b"\n")  # one short line: a single atomic pipe write


def become_script(request: dict[str, Any]) -> None:
    """Turn this forked child into `python <script> <args...>` and run the script.

    Returning, raising SystemExit or any other exception from here ends the zygote's own `__main__`, so the
    interpreter exits as `python script.py` does: None -> 0, an int -> itself, anything else printed and 1;
    an uncaught exception -> its traceback and 1 (KeyboardInterrupt: killed by SIGINT), after atexit
    handlers, non-daemon threads and stdio flushes, as in any interpreter shutdown.
    """
    script = request["script"]
    signal.signal(signal.SIGINT, signal.default_int_handler)  # a fresh interpreter's handlers
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        file = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(file, fd)  # below sys.stdout/sys.stderr, so handlers that hold them write there too
        os.close(file)
    sys.argv = [script, *request["args"]]
    sys.orig_argv = [sys.executable, script, *request["args"]]
    sys.path.insert(0, os.path.dirname(os.path.realpath(script)))  # as `python script.py` puts it first
    if "numpy" in sys.modules:  # a fresh interpreter seeds numpy's global generator from the OS
        sys.modules["numpy"].random.seed()
    sys.excepthook = script_frames_only(sys.excepthook, script)
    run_as_main(script)


def run_as_main(script: str) -> None:
    """Run `script` as `python script.py` runs it: in a `__main__` module that stays in sys.modules.

    Not `runpy.run_path`: it takes its module out of sys.modules again, so the script's globals would die
    in the cyclic collector instead of the interpreter's module teardown, and a file the script left open
    could lose its buffer there (io objects finalized in any order, https://bugs.python.org/issue17852).
    """
    main = types.ModuleType("__main__")  # __doc__, __package__, __spec__: None, as for a script
    main.__loader__ = importlib.machinery.SourceFileLoader("__main__", script)
    main.__annotations__ = {}
    main.__builtins__ = builtins
    main.__file__ = script
    main.__cached__ = None
    sys.modules["__main__"] = main
    with io.open_code(script) as file:
        code = compile(file.read(), script, "exec", dont_inherit=True)
    exec(code, main.__dict__)


def script_frames_only(excepthook, script: str):
    """An excepthook that leaves out this file's frames, as `python script.py` shows none of its own."""

    def hook(kind, value, traceback):
        while traceback is not None and traceback.tb_frame.f_code.co_filename != script:
            traceback = traceback.tb_next
        if traceback is not None:  # the hook prints the exception's own traceback
            value = value.with_traceback(traceback)
        excepthook(kind, value, traceback)

    return hook


if __name__ == "__main__":
    del sys.path[0]  # tests/: the child puts its script's dir there instead
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C stops the children; this exits with pytest
    preload()
    request = serve(int(sys.argv[1]), int(sys.argv[2]))
    if request is not None:
        become_script(request)
