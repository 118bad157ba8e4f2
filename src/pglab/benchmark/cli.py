"""The command line of `scripts/benchmark.py`: calibrate each framework's torch thread count, plan every
repeat and the torch env backend's section, run each child in turn, summarize, report."""

import argparse
import datetime
import os
import sys
import time
from importlib import metadata
from pathlib import Path

import pglab.benchmark
from pglab.benchmark.child_process import run_child
from pglab.benchmark.plan import (
    FRAMEWORKS,
    FULL,
    QUICK,
    ROOT,
    Budget,
    Run,
    plan_calibration_runs,
    plan_runs,
    plan_torch_backend_runs,
    thread_candidates,
)
from pglab.benchmark.report import machine, write_report
from pglab.benchmark.summary import (
    calibrate,
    clearly_slower,
    describe,
    summarize,
    summarize_torch_backend,
    with_training_metrics,
)
from pglab.benchmark.sweeps import SWEEPS


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, which a container or `taskset` may narrow)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


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
        help="repeats of every measurement, interleaved (default 3; 1 with --quick); the torch env backend's "
        f"section runs its own seeds ({FULL.torch_seeds}; {QUICK.torch_seeds} with --quick)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"tiny budgets ({QUICK.train_steps:,} env steps per run, evaluation every {QUICK.eval_every:,} "
        f"steps on {QUICK.eval_episodes} episodes, {QUICK.ceiling_steps:,}-step ceiling loops, one "
        f"{QUICK.calibration_steps:,}-step calibration run per framework and thread count): a smoke check of "
        "the harness; the numbers mean nothing",
    )
    parser.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=None,
        metavar="N",
        help="candidate torch thread counts: each framework trains with the one that ran its PPO fastest in a "
        f"short calibration (up to {FULL.calibration_rounds} rounds of {FULL.calibration_steps:,} env steps per "
        "framework and count: 2-5 min for 1 and 2 on 2 cores, the more the busier); one count skips it "
        "(default: the powers of two below the usable core count, and that count; here "
        f"{' '.join(map(str, thread_candidates(usable_cores())))})",
    )
    parser.add_argument(
        "--sweeps",
        nargs="*",
        default=None,
        choices=list(SWEEPS),
        metavar="SWEEP",
        help="only the sweep section: the same `train.py -m` sweeps under the basic, joblib and population "
        f"launchers (pglab.benchmark.sweeps; about 40 min; report docs/sweeps.md); name some of {list(SWEEPS)} "
        "to run only those (the report keeps the other sweeps' sections)",
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
    if args.threads is None:
        args.threads = thread_candidates(usable_cores())
    if min(args.threads) < 1:
        parser.error(f"--threads {' '.join(map(str, args.threads))}: every count must be at least 1")
    args.threads = sorted(set(args.threads))
    return args


def run_all(plan: list[tuple[int, Run]], seed: int, work_dir: Path, what: str, unit: str) -> list[dict]:
    """Run each planned (`unit`, run) pair in turn, printing a line for each; their results, with their `unit`
    (round or repeat) as "repeat", seed (`seed` + it), kind and torch thread count."""
    print(f"{what}: {len(plan)} runs, logs in {work_dir}", flush=True)
    results, started = [], time.perf_counter()
    for i, (k, run) in enumerate(plan, 1):
        result = with_training_metrics(run_child(run, work_dir / f"{run.name.replace('/', '-')}-r{k}.log"))
        result |= {"repeat": k, "seed": seed + k, "kind": run.kind, "threads": run.threads}
        elapsed = time.perf_counter() - started
        print(f"[{what} {i}/{len(plan)}, {elapsed:,.0f} s] {unit} {k}: {describe(result)}", flush=True)
        results.append(result)
    return results


def calibration(args: argparse.Namespace, budget: Budget, work_dir: Path) -> dict | None:
    """Each framework's fastest torch thread count among `args.threads` (`summary.calibrate`) with the runs
    that measured it, or None for a single candidate."""
    if len(args.threads) == 1:
        return None
    plan = plan_calibration_runs(args.seed, budget, args.threads, work_dir)
    results = []
    for k in sorted({k for k, _ in plan}):
        dropped = clearly_slower(results)
        rest = [(r, run) for r, run in plan if r == k and (run.kind, run.threads) not in dropped]
        results += run_all(rest, args.seed, work_dir, "thread calibration", "round")
    picked = calibrate(results)
    print("torch threads: " + ", ".join(f"{label} {picked['threads'][k]}" for k, label in FRAMEWORKS.items()))
    return picked | {"results": results}


def benchmark(args: argparse.Namespace, budget: Budget, command: str) -> None:
    """Calibrate the thread counts, run every repeat's children in turn, then the torch env backend's, printing a
    line for each, then write the report (`command`: how it was started, for the report)."""
    out_dir = args.out_dir or ROOT / ("outputs/benchmark-quick" if args.quick else "docs")
    stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    work_dir = (args.work_dir or ROOT / "outputs" / "benchmark" / stamp).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    calibrated = calibration(args, budget, work_dir)
    threads = calibrated["threads"] if calibrated else dict.fromkeys(FRAMEWORKS, args.threads[0])
    results = run_all(
        plan_runs(args.repeats, args.seed, budget, work_dir, threads),
        args.seed,
        work_dir,
        "benchmark",
        "repeat",
    )
    torch_results = run_all(
        plan_torch_backend_runs(args.seed, budget, work_dir, threads),
        args.seed,
        work_dir,
        "torch env backend",
        "seed",
    )
    summary = summarize(results)
    report = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "settings": {
            "command": command,
            "quick": args.quick,
            "repeats": args.repeats,
            "seed": args.seed,
            "thread_candidates": args.threads,
            **vars(budget),
        },
        "machine": machine(),
        "threads": threads,
        "calibration": calibrated,
        "summary": summary,
        "results": results,
        "torch_backend": {
            "summary": summarize_torch_backend(torch_results, summary),
            "results": torch_results,
        },
    }
    print("wrote " + ", ".join(str(path) for path in write_report(report, out_dir)))


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    if args.sweeps is not None:  # Hydra's launchers only: Stable-Baselines3 is not needed
        from pglab.benchmark import sweeps

        command = " ".join(["python scripts/benchmark.py", *argv])
        sweeps.run(args.quick, args.out_dir, args.work_dir, command, args.sweeps)
        return
    try:
        metadata.version("stable-baselines3")
    except metadata.PackageNotFoundError:
        sys.exit('stable-baselines3 is not installed: pip install -c constraints.txt -e ".[dev,bench]"')
    benchmark(args, QUICK if args.quick else FULL, " ".join(["python scripts/benchmark.py", *argv]))
