"""Plot learning curves of runs and sweeps against env steps: one line per group, mean and 95% CI across seeds.

    python scripts/plot.py outputs/multiruns/<sweep> [more run or sweep dirs...]
        [--group-by algo.lr ...] [--metric eval/episode_return_mean [losses/entropy ...]] [--out curves.png] [--title TEXT]

Groups default to the algorithm and env when those differ between the runs, else to every config key that
differs (seeds excepted). Comparing algorithms on one env is one command, e.g.

    python train.py -m experiment=ppo_cartpole,a2c_cartpole seed=0,1,2 hydra.sweep.dir=outputs/multiruns/cmp
    python scripts/plot.py outputs/multiruns/cmp

Several metrics give one panel each, side by side. Prints each group's final mean ± CI half-width; writes the
PNG (default: <first dir>/curves_<metric>.png).
"""

import argparse
import sys
from pathlib import Path

from pglab.comparison import aggregate, default_group_by, find_runs, group_runs, plot_curves


def number(x: float) -> str:
    return f"{x:.1f}" if abs(x) >= 10 else f"{x:.3g}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dirs", nargs="+", type=Path, help="run dirs or sweep dirs holding run dirs")
    parser.add_argument(
        "--group-by", nargs="+", default=None, help="config keys that define a group, e.g. algo.lr"
    )
    parser.add_argument(
        "--metric", nargs="+", default=["eval/episode_return_mean"], help="metric keys of csv/metrics.csv"
    )
    parser.add_argument("--out", type=Path, default=None, help="PNG path")
    parser.add_argument("--title", default=None)
    args = parser.parse_args()

    missing = [str(d) for d in args.dirs if not d.is_dir()]
    if missing:
        parser.error(f"not a directory: {', '.join(missing)}")
    panels = {}
    for metric in args.metric:
        runs, skipped = find_runs(args.dirs, metric)
        for run_dir in skipped:
            print(
                f"skipped {run_dir}: failed, or no csv/metrics.csv with {metric} (logger=csv or logger=many writes it)",
                file=sys.stderr,
            )
        if not runs:
            parser.error(f"no runs with {metric} in csv/metrics.csv under {', '.join(map(str, args.dirs))}")
        group_by = args.group_by if args.group_by is not None else default_group_by(runs)
        unknown = [k for k in group_by if all(k not in run.config for run in runs)]
        if unknown:
            parser.error(
                f"--group-by {' '.join(unknown)}: no such config key in the runs (e.g. algo, env, algo.lr, "
                "algo.gamma, network.hidden_sizes)"
            )
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
    out = args.out or args.dirs[0] / f"curves_{'_'.join(m.replace('/', '_') for m in args.metric)}.png"
    plot_curves(panels, out, args.title)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
