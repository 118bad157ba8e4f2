"""Plot learning curves of runs and sweeps against env steps: one line per group, mean and 95% CI across seeds;
with --rliable, also the rliable report of the final evaluation (IQM, median, mean with stratified-bootstrap
95% CIs, performance profile, probability of improvement, IQM sample-efficiency curve).

    python scripts/plot.py outputs/multiruns/<sweep> [more run or sweep dirs, or results records...]
        [--group-by algo.lr ...] [--metric eval/episode_return_mean [losses/entropy ...]] [--out curves.png] [--title TEXT]
        [--rliable] [--rliable-out REPORT.png] [--normalize | --no-normalize] [--reps 2000] [--seed 0]

Groups default to the algorithm and env when those differ between the runs, else to every config key that
differs (seeds excepted). `LABEL=DIR` names the runs under DIR: they form the group LABEL (per env), e.g. two
sweeps of the same config before and after a change. A results record (docs/results/<name>.json) counts as one
run per seed, with its evaluation return; records are grouped by preset. Comparing algorithms on one env is one
command, e.g.

    python train.py -m experiment=ppo_cartpole,a2c_cartpole seed=0,1,2 hydra.sweep.dir=outputs/multiruns/cmp
    python scripts/plot.py outputs/multiruns/cmp --rliable

Several metrics give one panel each, side by side. Prints each group's final mean ± CI half-width; writes the
PNG (default: <first dir>/curves_<metric>.png, or in the current dir when the first input is a record). The
rliable report uses the first --metric; its groups are the same without the env (the envs are its tasks, scores
normalized per env when there are several); it prints its markdown table and writes a figure with a .md and a .json
of the same name beside it (--rliable-out; default: rliable_<metric>.png beside the curves).
"""

import argparse
import sys
from pathlib import Path

from pglab.comparison import aggregate, default_group_by, find_runs, group_runs, plot_curves


def number(x: float) -> str:
    return f"{x:.1f}" if abs(x) >= 10 else f"{x:.3g}"


def parse_input(text: str) -> tuple[str | None, Path]:
    """`DIR` or `LABEL=DIR` (an existing path containing `=` is a path)."""
    label, sep, path = text.partition("=")
    if Path(text).exists() or not sep or not label:
        return None, Path(text)
    return label, Path(path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "dirs",
        nargs="+",
        metavar="[LABEL=]DIR",
        help="run dirs, sweep dirs holding run dirs, or results records (docs/results/*.json)",
    )
    parser.add_argument(
        "--group-by", nargs="+", default=None, help="config keys that define a group, e.g. algo.lr"
    )
    parser.add_argument(
        "--metric", nargs="+", default=["eval/episode_return_mean"], help="metric keys of csv/metrics.csv"
    )
    parser.add_argument("--out", type=Path, default=None, help="PNG path")
    parser.add_argument("--title", default=None)
    parser.add_argument(
        "--rliable", action="store_true", help="also write the rliable report of the final evaluation"
    )
    parser.add_argument(
        "--rliable-out",
        type=Path,
        default=None,
        metavar="REPORT.png",
        help="the report's figure (its .md and .json beside it); implies --rliable",
    )
    parser.add_argument(
        "--normalize",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="report normalized scores (default: when the runs cover several envs)",
    )
    parser.add_argument("--reps", type=int, default=2000, help="bootstrap resamples per interval (rliable)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (rliable)")
    args = parser.parse_args()

    labels, dirs = zip(*(parse_input(text) for text in args.dirs), strict=True)
    missing = [str(d) for d in dirs if not d.is_dir() and not (d.is_file() and d.suffix == ".json")]
    if missing:
        parser.error(f"not a directory or a results record: {', '.join(missing)}")
    if args.reps < 1:
        parser.error("--reps must be at least 1")
    panels, grouping = {}, {}
    for metric in args.metric:
        try:
            runs, skipped = find_runs(list(dirs), metric, list(labels))
        except ValueError as error:  # a .json that is not a results record
            parser.error(str(error))
        for run_dir in skipped:
            print(
                f"skipped {run_dir}: failed, or no {metric} in its csv/metrics.csv (logger=csv or logger=many "
                "writes it) or results record (eval/episode_return_mean and _std only)",
                file=sys.stderr,
            )
        if not runs:
            parser.error(f"no runs with {metric} in csv/metrics.csv under {', '.join(map(str, dirs))}")
        group_by = args.group_by if args.group_by is not None else default_group_by(runs)
        unknown = [k for k in group_by if all(k not in run.config for run in runs)]
        if unknown:
            parser.error(
                f"--group-by {' '.join(unknown)}: no such config key in the runs (e.g. algo, env, algo.lr, "
                "algo.gamma, network.hidden_sizes)"
            )
        grouping[metric] = (runs, group_by)
        try:
            panels[metric] = [aggregate(curve) for curve in group_runs(runs, group_by)]
        except ValueError as error:
            parser.error(str(error))
        print(f"{metric} at the last env step every run of the group reached (mean ± 95% CI half-width):")
        for curve in panels[metric]:
            half = curve.high[-1] - curve.mean[-1]
            print(
                f"  {curve.label}: {number(curve.mean[-1])} ± {number(half)} at {int(curve.steps[-1]):,} steps "
                f"(n={len(curve.runs)})"
            )
    folder = dirs[0] if dirs[0].is_dir() else Path.cwd()
    metric_name = "_".join(m.replace("/", "_") for m in args.metric)
    out = args.out or folder / f"curves_{metric_name}.png"
    plot_curves(panels, out, args.title)
    print(f"wrote {out}")

    if args.rliable or args.rliable_out is not None:
        from pglab.aggregate_report import build_report, markdown, write_report

        metric = args.metric[0]
        runs, group_by = grouping[metric]
        report_png = args.rliable_out or out.parent / f"rliable_{metric.replace('/', '_')}.png"
        tasks = ("env", "env.id")  # the envs are the report's tasks, not its groups
        try:
            report = build_report(
                group_runs(runs, [k for k in group_by if k not in tasks]),
                metric,
                normalize=args.normalize,
                reps=args.reps,
                seed=args.seed,
            )
        except ValueError as error:
            parser.error(str(error))
        print(f"\nrliable report of the final {metric}:\n")
        print(markdown(report))
        for path in write_report(report, report_png):
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
