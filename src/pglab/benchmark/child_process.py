"""Each measured run in a fresh process: the parent's `run_child`, and the child's entry point,

    python -m pglab.benchmark.child_process KIND --spec JSON --result PATH

which runs the child function of KIND on the JSON spec and writes its JSON result to PATH. A child imports
only its own module (`CHILDREN`), so a plain PyTorch run carries neither Lightning nor Hydra nor SB3.
"""

import argparse
import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pglab.benchmark.plan import ROOT, Run
from pglab.benchmark.timing import START_TIME_ENV

#: each kind of run: the module of `pglab.benchmark` that holds its child function, of the same name
CHILDREN = {
    "pglab": "child_pglab",
    "sb3": "child_sb3",
    "plain_ppo": "child_plain_ppo",
    "ceiling": "child_ceiling",
    "batched": "child_batched",
}


def run_child(run: Run, log_path: Path) -> dict[str, Any]:
    """Start `run` as a fresh child process, wait for it, and return its JSON result plus its peak RSS."""
    result_path = log_path.with_suffix(".json")
    command = [
        sys.executable,
        "-m",
        "pglab.benchmark.child_process",
        run.kind,
        "--spec",
        json.dumps(run.spec),
        "--result",
        str(result_path),
    ]
    with open(log_path, "w") as log:
        env = os.environ | {START_TIME_ENV: repr(time.time()), "HYDRA_FULL_ERROR": "1"}
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
        # wait4 gives this child's own resource usage; RUSAGE_CHILDREN would be the max over all children so far.
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        tail = "".join(log_path.read_text().splitlines(keepends=True)[-30:])
        raise RuntimeError(f"{run.name} failed (exit {process.returncode}); log {log_path}:\n{tail}")
    result = json.loads(result_path.read_text())
    return result | {"name": run.name, "peak_rss_mib": usage.ru_maxrss / 1024}  # ru_maxrss is in KiB on Linux


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description="one measured run of the benchmark (started by run_child)")
    parser.add_argument("kind", choices=sorted(CHILDREN))
    parser.add_argument("--spec", type=json.loads, required=True, help="the run's JSON input")
    parser.add_argument("--result", type=Path, required=True, help="where its JSON result goes")
    args = parser.parse_args(argv)
    module = CHILDREN[args.kind]
    child = getattr(importlib.import_module(f"pglab.benchmark.{module}"), module)
    args.result.write_text(json.dumps(child(args.spec)))


if __name__ == "__main__":
    main(sys.argv[1:])
