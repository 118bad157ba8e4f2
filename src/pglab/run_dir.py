"""Where a run writes, and the guard that never lets a new run write over an old one.

- `resume=<run dir>` continues that run in its own dir: `hydra.run.dir` becomes it (resolver
  `pglab_run_dir`), and Hydra's record of this launch goes to `.hydra/resume-<time>/` (resolver
  `pglab_hydra_subdir`), so the original `.hydra/` files stay as they were.
- `RunDirGuard` (a Hydra callback, in conf/hydra/default.yaml) stops a run before Hydra writes anything
  when `hydra.run.dir` (or a multirun's `hydra.sweep.dir`) already holds a run and this is not a resume:
  one `[ERROR]` line and exit code 2.

The resolvers are registered when this module is imported (`train.py` imports it before Hydra composes).
"""

import os
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

#: files a run writes into its dir; any of them means the dir holds a run
RUN_MARKERS = ("config.yaml", "summary.json", "checkpoints")


def holds_run(path: Path) -> bool:
    return any((path / marker).exists() for marker in RUN_MARKERS)


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
    """Refuse to start a run in a dir that holds one (unless resuming it) and a sweep in a used sweep dir."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        resume = config.get("resume")
        run_dir = Path(config.hydra.run.dir)
        if process_rank() != 0:  # a data-parallel worker joins process 0's run dir
            return
        if resume:
            resume_dir = Path(str(resume)).expanduser()
            missing = [m for m in ("config.yaml", "checkpoints/last.ckpt") if not (resume_dir / m).is_file()]
            if missing:  # refused before Hydra writes its .hydra/ record into the dir
                fail(f"resume={resume} is not a run dir to continue: no {' and '.join(missing)} in it "
                     "(train.py writes config.yaml and checkpoints/last.ckpt into every run dir)")  # fmt: skip
            return
        if holds_run(run_dir):
            fail(f"hydra.run.dir={run_dir} already holds a run ({', '.join(m for m in RUN_MARKERS if (run_dir / m).exists())}); "
                 f"nothing was written. Choose a new dir, or continue that run with resume={run_dir}")  # fmt: skip

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if config.get("resume"):
            fail("resume=... continues one run; it cannot be combined with -m (multirun)")
        sweep_dir = Path(config.hydra.sweep.dir)
        used = sorted(p.name for p in sweep_dir.glob("*") if p.is_dir() and holds_run(p)) if sweep_dir.is_dir() else []
        if used:
            fail(f"hydra.sweep.dir={sweep_dir} already holds runs ({', '.join(used[:5])}); nothing was written. "
                 "Choose a new sweep dir")  # fmt: skip
