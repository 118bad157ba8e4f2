"""Where a run writes, and the guards that never let a new run write over an old one or share a dir.

- `resume=<run dir>` continues that run in its own dir: `hydra.run.dir` becomes it (resolver
  `pglab_run_dir`), and Hydra's record of this launch goes to `.hydra/resume-<time>/` (resolver
  `pglab_hydra_subdir`), so the original `.hydra/` files stay as they were.
- `RunDirGuard` (a Hydra callback, in conf/hydra/default.yaml) runs before Hydra writes anything: it checks the
  whole config (`pglab.preflight`), takes the run dir's lock, and stops when `hydra.run.dir` (or a multirun's
  `hydra.sweep.dir`) already holds a run and this is not a resume: one `[ERROR]` line and exit code 2, nothing
  written.
- The lock (`run_dir_lock`): an exclusive `flock` on `<run dir>/.pglab.lock`, held for the life of the process
  that trains in the dir. The kernel releases it when that process exits, however it exits (SIGKILL included),
  so a stale lock file never blocks the next run; a second process started on the same dir is refused.

The resolvers are registered when this module is imported (`train.py` imports it before Hydra composes).
"""

import contextlib
import copy
import fcntl
import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict

from pglab.errors import ConfigError

#: files a run writes into its dir (named in the message of a refused run; `holds_run` decides)
RUN_MARKERS = ("config.yaml", "summary.json", "checkpoints")
#: the lock file of a run dir (see `run_dir_lock`)
LOCK_FILE = ".pglab.lock"
#: a run dir with less free space than this is refused before Hydra writes into it (its record of a launch and the
#: first log lines take about 10 kB)
MIN_FREE_BYTES = 64 << 10
#: this process's locks: run dir -> the open lock file's descriptor
_held: dict[Path, int] = {}


def logged_metrics(path: Path) -> bool:
    """Whether a run in `path` logged anything: CSV rows, TensorBoard events, a W&B run, videos."""
    csv_file = path / "csv" / "metrics.csv"
    if csv_file.is_file() and len(csv_file.read_bytes().splitlines()) > 1:
        return True
    if any((path / "tensorboard").rglob("events.out.tfevents.*")):
        return True
    return (path / "wandb").is_dir() or any((path / "videos").glob("*"))


def holds_run(path: Path) -> bool:
    """Whether `path` holds a run worth keeping: a checkpoint, logged metrics, or the summary of a run that
    completed or was interrupted. What a run that failed or was stopped before its first update leaves (Hydra's
    `.hydra/` and `train.log`, `config.yaml`, a `failed` summary.json) holds nothing to protect: the same command
    may run again in that dir."""
    if (path / "checkpoints").exists() or logged_metrics(path):
        return True
    try:
        summary = json.loads((path / "summary.json").read_text())
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        return True  # unreadable: keep it
    return summary.get("status") != "failed"


def clear_leftovers(path: Path) -> None:
    """Before a new run starts in `path`, which holds no run: remove what an earlier run that stopped before its
    first update left of pglab's files (its summary.json, config.yaml, an empty csv/ dir), so that no reader takes
    them for the new run's and Lightning does not warn of an old log dir."""
    if not path.is_dir() or holds_run(path):
        return
    for name in ("summary.json", "config.yaml"):
        (path / name).unlink(missing_ok=True)
    if (path / "csv").is_dir():
        shutil.rmtree(path / "csv")


def used_run_dir_message(key: str, path: Path) -> str:
    """Why a new run cannot start in `path` (it holds a run), and the way out that works for that run."""
    found = ", ".join(m for m in RUN_MARKERS if (path / m).exists()) or "logged metrics"
    if (path / "checkpoints" / "last.ckpt").is_file() and (path / "config.yaml").is_file():
        way_out = f"Choose a new dir, or continue that run with resume={path}"
    else:
        way_out = (
            f"It has no checkpoints/last.ckpt to resume from: choose a new dir, or delete that one "
            f"(rm -r {path}) to reuse it"
        )
    return f"{key}={path} already holds a run ({found}); nothing was written. {way_out}"


def check_holds_no_run(path: Path, key: str = "hydra.run.dir") -> None:
    """ConfigError (`used_run_dir_message`) when `path` holds a run: a new run never writes into it."""
    if holds_run(path):
        raise ConfigError(used_run_dir_message(key, path))


def check_resume_dir(run_dir: Path) -> None:
    """ConfigError naming what is missing when `run_dir` (of `resume=<run dir>`) has no config.yaml or
    checkpoints/last.ckpt to continue from."""
    missing = [name for name in ("config.yaml", "checkpoints/last.ckpt") if not (run_dir / name).is_file()]
    if missing:
        raise ConfigError(
            f"resume={run_dir} is not a run dir to continue: no {' and '.join(missing)} in it "
            "(train.py writes config.yaml and checkpoints/last.ckpt into every run dir)"
        )


@contextlib.contextmanager
def run_dir_lock(path: Path, key: str = "hydra.run.dir") -> Iterator[None]:
    """Hold `path`'s lock for the block (creating the dir); reentrant within this process. Raises ConfigError,
    having written nothing, when another process holds it."""
    path = Path(path).resolve()
    if path in _held:
        yield
        return
    acquire_run_dir_lock(path, key)
    try:
        yield
    finally:
        os.close(_held.pop(path))


def acquire_run_dir_lock(path: Path, key: str = "hydra.run.dir") -> None:
    """Take `path`'s lock until this process exits (or `run_dir_lock` releases it). Raises ConfigError when
    another process holds it; nothing is written then (the dir and the lock file are the holder's)."""
    path = Path(path).resolve()
    if path in _held:
        return
    path.mkdir(parents=True, exist_ok=True)
    fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ConfigError(in_use_message(path, key)) from None
    _held[path] = fd


def in_use(path: Path) -> bool:
    """Whether another process holds `path`'s lock (read only: a dir without a lock file is not in use)."""
    path = Path(path).resolve()
    if path in _held or not (path / LOCK_FILE).is_file():
        return False
    fd = os.open(path / LOCK_FILE, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also releases the lock taken to test it
    return False


def in_use_message(path: Path, key: str = "hydra.run.dir") -> str:
    return (
        f"{key}={path} is in use by another pglab process, which holds its lock; nothing was written. "
        "Wait for that run to end, or choose a new dir"
    )


def process_rank() -> int:
    """This process's rank in data-parallel training (0 otherwise), from the variables Lightning's launcher,
    torchrun and SLURM set (the ones Lightning's `rank_zero_only` reads). Only process 0 writes the run's
    files; the others join its run dir."""
    for name in ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"):
        if os.environ.get(name):
            return int(os.environ[name])
    return 0


def _run_dir(resume: str | None, default: str) -> str:
    return str(Path(str(resume)).expanduser()) if resume else default


def _hydra_subdir(resume: str | None, now: str) -> str:
    return f".hydra/resume-{now}" if resume else ".hydra"


for _name, _resolver in (("pglab_run_dir", _run_dir), ("pglab_hydra_subdir", _hydra_subdir)):
    if not OmegaConf.has_resolver(_name):
        OmegaConf.register_new_resolver(_name, _resolver)


def fail(message: str) -> None:
    """Print one `[pglab][ERROR]` line and exit with code 2 (a configuration error)."""
    print(f"[pglab][ERROR] - {message}", file=sys.stderr)
    sys.exit(2)


class RunDirGuard(Callback):
    """Before Hydra writes anything: check the whole config, lock the run dir, and refuse a dir that holds a run
    (unless resuming it) and a sweep in a used sweep dir."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        if process_rank() != 0:  # a data-parallel worker joins process 0's run dir
            return
        try:
            check_run_start(config)
        except ConfigError as error:
            fail(str(error))

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if config.get("resume"):
            fail("resume=... continues one run; it cannot be combined with -m (multirun)")
        sweep_dir = Path(config.hydra.sweep.dir)
        jobs = (
            [p for p in sweep_dir.glob("*") if p.is_dir() and (p / ".hydra").is_dir()]
            if sweep_dir.is_dir()
            else []
        )
        used = sorted(p.name for p in jobs if holds_run(p))
        if used:
            fail(
                f"hydra.sweep.dir={sweep_dir} already holds runs ({', '.join(used[:5])}); nothing was written. "
                "Choose a new sweep dir"
            )
        # jobs of an earlier sweep that all stopped before training: not this sweep's jobs
        for job_dir in jobs:
            shutil.rmtree(job_dir)


def check_run_start(config: DictConfig) -> None:
    """The guard's checks of a single run, in order, before Hydra writes anything; takes the run dir's lock. Raises
    ConfigError when the run may not start there."""
    resume = config.get("resume")
    run_dir = Path(config.hydra.run.dir)
    if resume:  # refused before Hydra writes its .hydra/ record into the dir
        check_resume_dir(Path(str(resume)).expanduser())
    try:
        check_before_writing(config)
    except ConfigError:
        raise
    except Exception:  # noqa: BLE001  (not a config problem: the run meets it again, reports and records it)
        pass
    if in_use(run_dir):
        raise ConfigError(in_use_message(run_dir))
    if not resume:  # refused before the lock file is touched
        check_holds_no_run(run_dir)
    existing = next(p for p in (run_dir, *run_dir.resolve().parents) if p.exists())
    free = shutil.disk_usage(existing).free
    if free < MIN_FREE_BYTES:  # Hydra writes its record of the launch next, before any of pglab's checks
        raise ConfigError(
            f"hydra.run.dir={run_dir} has {free:,} bytes free (less than {MIN_FREE_BYTES:,}): No space left "
            "on device for the run's logs and checkpoints; nothing was written. Free some space or choose a dir "
            "on another disk"
        )
    try:
        acquire_run_dir_lock(run_dir)
    except OSError as error:  # no permission, a read-only file system
        raise ConfigError(
            f"hydra.run.dir={run_dir} cannot be written: {error.strerror}; nothing was written"
        ) from None
    if not resume:  # another run began in the dir meanwhile, and has ended
        check_holds_no_run(run_dir)


def check_before_writing(config: DictConfig) -> None:
    """`pglab.preflight` on Hydra's composed config of a single run, before Hydra has set up the job (its
    `hydra.runtime.output_dir`, which `paths.output_dir` interpolates, is set here to `hydra.run.dir`)."""
    from hydra.core.hydra_config import HydraConfig

    from pglab.preflight import preflight  # imports torch: not needed by --help or a sweep's start

    config = copy.deepcopy(config)
    with open_dict(config):
        config.hydra.runtime.output_dir = str(Path(config.hydra.run.dir).resolve())
    HydraConfig.instance().set_config(config)  # run_job sets it again for the job
    task = copy.deepcopy(config)
    with open_dict(task):
        del task["hydra"]
    preflight(task, list(config.hydra.overrides.task))
