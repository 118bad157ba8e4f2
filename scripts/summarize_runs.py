"""Print a markdown table of the `summary.json` files under the given run or sweep dirs.

    python scripts/summarize_runs.py outputs/multiruns/<sweep>
"""

import argparse
import json
import statistics
from pathlib import Path

import yaml


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dirs", nargs="+", type=Path, help="run dirs or sweep dirs holding run dirs")
    args = parser.parse_args()
    rows = []
    for root in args.dirs:
        for path in sorted(root.rglob("summary.json")):
            summary = json.loads(path.read_text())
            config = yaml.safe_load((path.parent / "config.yaml").read_text())
            rows.append((path.parent, config, summary))
    if not rows:
        raise SystemExit(f"no summary.json under {', '.join(map(str, args.dirs))}")
    print("| run | algo | env | seed | eval return (mean ± std) | env steps | wall s | steps/s |")
    print("|---|---|---|---|---|---|---|---|")
    for run_dir, config, s in rows:
        print(
            f"| {run_dir.name} | {config['algo']['_target_'].rsplit('.', 1)[-1]} | {config['env']['id']} "
            f"| {config['seed']} | {s['eval/episode_return_mean']:.1f} ± {s['eval/episode_return_std']:.1f} "
            f"| {int(s['time/env_steps']):,} | {s['time/wall_s']:.1f} | {s['time/sps']:,.0f} |"
        )
    if len(rows) > 1:
        means = [s["eval/episode_return_mean"] for _, _, s in rows]
        walls = [s["time/wall_s"] for _, _, s in rows]
        print(f"\n{len(rows)} runs: eval mean {statistics.mean(means):.1f} (min {min(means):.1f}), "
              f"wall {statistics.mean(walls):.1f} s (max {max(walls):.1f})")  # fmt: skip


if __name__ == "__main__":
    main()
