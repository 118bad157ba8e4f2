"""End-of-run reports in the run dir: `summary.json`, the learning-curve PNG and the one-line summary."""

import json
import math
from pathlib import Path
from typing import Any

import matplotlib

from pglab.atomic import atomic_path

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SUMMARY_KEYS = ("eval/episode_return_mean", "eval/episode_return_std", "eval/episode_length_mean",
                "rollout/episode_return_mean", "time/env_steps", "time/episodes", "time/wall_s", "time/sps")  # fmt: skip


def final_summary(history: list[dict[str, float]]) -> dict[str, Any]:
    """`status: completed` and the latest value of each summary key over the run's logged metrics."""
    latest: dict[str, float] = {}
    for row in history:
        latest.update(row)
    return {"status": "completed"} | {key: latest[key] for key in SUMMARY_KEYS if key in latest}


def write_summary(summary: dict, path: Path) -> None:
    """Write `summary.json` atomically (temp file + rename): a job killed mid-write leaves the old one or none."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")


def plot_learning_curve(history: list[dict[str, float]], path: Path, title: str) -> None:
    """Episode return against env steps: training episodes (thin) and evaluation mean +/- std (bold)."""
    train = [(r["time/env_steps"], r["rollout/episode_return_mean"]) for r in history if "rollout/episode_return_mean" in r]
    evals = [(r["time/env_steps"], r["eval/episode_return_mean"], r["eval/episode_return_std"])
             for r in history if "eval/episode_return_mean" in r]  # fmt: skip
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    if train:
        xs, ys = zip(*train, strict=True)
        ax.plot(xs, ys, lw=0.8, alpha=0.6, label="training episodes (mean per rollout)")
    if evals:
        xs, means, stds = zip(*evals, strict=True)
        ax.plot(xs, means, "o-", lw=2, label="evaluation (mean)")
        ax.fill_between(xs, [m - s for m, s in zip(means, stds, strict=True)],
                        [m + s for m, s in zip(means, stds, strict=True)], alpha=0.2, label="evaluation ± std")  # fmt: skip
    ax.set_xlabel("env steps")
    ax.set_ylabel("episode return")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def summary_line(name: str, summary: dict[str, float], run_dir: Path) -> str:
    mean = summary.get("eval/episode_return_mean", math.nan)
    std = summary.get("eval/episode_return_std", math.nan)
    return (
        f"{name}: eval return {mean:.1f} ± {std:.1f} after {int(summary.get('time/env_steps', 0)):,} env steps "
        f"in {summary.get('time/wall_s', math.nan):.1f} s ({summary.get('time/sps', math.nan):,.0f} steps/s); "
        f"run dir {run_dir}"
    )
