"""The command line of `scripts/benchmark.py`: plan every repeat, run each child in turn, summarize, report."""

import argparse
import datetime
import sys
import time
from importlib import metadata
from pathlib import Path

import pglab.benchmark
from pglab.benchmark.child_process import run_child
from pglab.benchmark.plan import FULL, QUICK, ROOT, Budget, plan_runs
from pglab.benchmark.report import machine, write_report
from pglab.benchmark.summary import describe, summarize, with_training_metrics


def parse_args(argv: list[str]) -> argparse.Namespace:
    doc = pglab.benchmark.__doc__
    parser = argparse.ArgumentParser(
        prog="scripts/benchmark.py",
        description=doc.split("\n\n")[0],
        epilog=doc.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="repeats of every measurement, interleaved (default 3; 1 with --quick)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"tiny budgets ({QUICK.train_steps:,} env steps per run, evaluation every {QUICK.eval_every:,} "
        f"steps on {QUICK.eval_episodes} episodes, {QUICK.ceiling_steps:,}-step ceiling loops): a smoke "
        "check of the harness; the numbers mean nothing",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the first repeat; repeat k uses seed + k (default 0)"
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=None,
        help="where benchmarks.md, benchmarks.json and figures/benchmark.png go "
        "(default docs/; outputs/benchmark-quick/ with --quick)",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="run dirs and child logs (default outputs/benchmark/<date>_<time>)",
    )
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    if args.repeats < 1:
        parser.error(f"--repeats={args.repeats} must be at least 1")
    return args


def benchmark(args: argparse.Namespace, budget: Budget, command: str) -> None:
    """Run every repeat's children in turn, printing a line for each, then write the report (`command`: how
    it was started, for the report)."""
    out_dir = args.out_dir or ROOT / ("outputs/benchmark-quick" if args.quick else "docs")
    stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    work_dir = (args.work_dir or ROOT / "outputs" / "benchmark" / stamp).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    plan = plan_runs(args.repeats, args.seed, budget, work_dir)
    print(f"{len(plan)} runs, logs in {work_dir}", flush=True)
    results = []
    started = time.perf_counter()
    for i, (repeat, run) in enumerate(plan, 1):
        result = with_training_metrics(
            run_child(run, work_dir / f"{run.name.replace('/', '-')}-r{repeat}.log")
        )
        results.append(result | {"repeat": repeat, "seed": args.seed + repeat})
        print(
            f"[{i}/{len(plan)}, {time.perf_counter() - started:,.0f} s] repeat {repeat}: {describe(result)}",
            flush=True,
        )
    report = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "settings": {
            "command": command,
            "quick": args.quick,
            "repeats": args.repeats,
            "seed": args.seed,
            **vars(budget),
        },
        "machine": machine(),
        "summary": summarize(results),
        "results": results,
    }
    print("wrote " + ", ".join(str(path) for path in write_report(report, out_dir)))


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    try:
        metadata.version("stable-baselines3")
    except metadata.PackageNotFoundError:
        sys.exit('stable-baselines3 is not installed: pip install -c constraints.txt -e ".[dev,bench]"')
    benchmark(args, QUICK if args.quick else FULL, " ".join(["python scripts/benchmark.py", *argv]))
