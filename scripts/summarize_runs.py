"""Print the markdown summary of the runs under the given run or sweep dirs (several sweeps combine).

    python scripts/summarize_runs.py outputs/multiruns/<sweep> [more dirs...] [--write]

One row per job (overrides, seed, status, final eval return, env steps, wall time) and, when a configuration
ran with several seeds, one row per configuration with mean ± std across seeds, best first. A multirun
writes the same tables into its sweep dir when it ends; `--write` (re)writes them for one sweep dir, e.g.
after a sweep was interrupted.
"""

import argparse
from pathlib import Path

from pglab.sweep_summary import by_config, markdown, read_sweep, write_sweep_summary


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dirs", nargs="+", type=Path, help="run dirs or sweep dirs holding run dirs")
    parser.add_argument(
        "--write", action="store_true", help="write sweep_summary.{csv,md} into the (one) sweep dir"
    )
    args = parser.parse_args()
    missing = [str(d) for d in args.dirs if not d.is_dir()]
    if missing:
        parser.error(f"not a directory: {', '.join(missing)}")
    if args.write and len(args.dirs) != 1:
        parser.error("--write takes exactly one sweep dir")
    jobs = [job for root in args.dirs for job in read_sweep(root)]
    if not jobs:
        parser.error(f"no run dirs (with .hydra/overrides.yaml) in {', '.join(map(str, args.dirs))}")
    if args.write:
        write_sweep_summary(args.dirs[0])
    print(markdown(jobs, by_config(jobs)), end="")


if __name__ == "__main__":
    main()
