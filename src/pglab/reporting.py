"""End-of-run reports in the run dir: `summary.json`, the learning-curve PNG and the one-line summary.

Both files are written atomically (`pglab.atomic`); one that cannot be written raises `StorageError` naming it.
"""

import json
import math
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from pglab.atomic import atomic_path, os_reason
from pglab.errors import StorageError, find_error
from pglab.metrics import STEP_KEY, Metrics

SUMMARY_KEYS = (
    "eval/episode_return_mean",
    "eval/episode_return_std",
    "eval/episode_length_mean",
    "eval/env_steps",
    "rollout/episode_return_mean",
    "progress/env_steps",
    "progress/episodes",
    "time/wall_s",
    "time/sps",
)


def final_summary(metrics: Metrics, wall_s: float) -> dict[str, Any]:
    """`status: completed`, the latest value of each summary key, `eval/env_steps` (the env step of the latest
    evaluation), and the time of the whole training, `wall_s`, with the seconds spent in each of its phases
    (`time/collect_s`, ...), the final evaluation and checkpoint included in both."""
    latest = {key: metrics.latest[key] for key in SUMMARY_KEYS if key in metrics.latest}
    if metrics.evaluations:
        latest["eval/env_steps"] = metrics.evaluations[-1][STEP_KEY]
    return {"status": "completed"} | latest | {"time/wall_s": wall_s} | metrics.phase_metrics()


def write_summary(summary: dict, path: Path) -> None:
    """Write `summary.json` atomically (temp file + rename): a job killed mid-write leaves the old one or none.
    StorageError if it cannot be written."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")


def record_failure(error: BaseException, env_steps: int, path: Path) -> None:
    """Write the `failed` summary of a run that raised `error` (after `env_steps` env steps), while the caller
    handles `error`. If that cannot be written either, `error` stays the one reported: a storage error becomes one
    StorageError naming both files (the first failure first); any other error gets a note."""
    summary = {
        "status": "failed",
        "error": f"{type(error).__name__}: {error}",
        "progress/env_steps": env_steps,
    }
    try:
        write_summary(summary, path)
    except StorageError as unwritten:
        note = f"{path} could not record the failure either ({os_reason(unwritten)})"
        if (storage := find_error(error, StorageError)) is not None:
            raise StorageError(f"{storage}; {note}") from error
        error.add_note(note)  # shown with its traceback; the caller re-raises `error`


def plot_learning_curve(metrics: Metrics, path: Path, title: str) -> None:
    """Episode return against env steps: training episodes (thin) and evaluation mean +/- std (bold)."""
    train = metrics.training_curve
    evals = [
        (r[STEP_KEY], r["eval/episode_return_mean"], r["eval/episode_return_std"])
        for r in metrics.evaluations
    ]
    # A Figure outside pyplot, with fixed margins that fit tick labels of up to six characters (returns down to
    # -20000): `tight_layout` would lay the text out once more before the draw, about a quarter of the plot's cost,
    # paid by every member of a sweep. For the same reason the title has a fixed position (matplotlib's automatic
    # one measures the axes' tick labels again) and the PNG the fastest compression (4% larger): 84 against 95 ms.
    fig = Figure(figsize=(7, 4), dpi=100)
    fig.subplots_adjust(left=0.13, right=0.98, bottom=0.12, top=0.92)
    ax = fig.add_subplot()
    if train:
        xs, ys = zip(*train, strict=True)
        ax.plot(xs, ys, lw=0.8, alpha=0.6, label="training episodes (mean per rollout)")
    if evals:
        xs, means, stds = zip(*evals, strict=True)
        ax.plot(xs, means, "o-", lw=2, label="evaluation (mean)")
        ax.fill_between(
            xs,
            [m - s for m, s in zip(means, stds, strict=True)],
            [m + s for m, s in zip(means, stds, strict=True)],
            alpha=0.2,
            label="evaluation ± std",
        )
    ax.set_xlabel("env steps")
    ax.set_ylabel("episode return")
    ax.set_title(title, y=1.0, pad=6)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", pil_kwargs={"compress_level": 1})


def summary_line(name: str, summary: dict[str, float], run_dir: Path) -> str:
    """One line: the last evaluation at its own env step, then the env steps trained, the time and the speed."""
    mean = summary.get("eval/episode_return_mean", math.nan)
    std = summary.get("eval/episode_return_std", math.nan)
    steps = int(summary.get("progress/env_steps", 0))
    eval_steps = summary.get("eval/env_steps")
    at = f" at {int(eval_steps):,} env steps" if eval_steps is not None and int(eval_steps) != steps else ""
    result = f"eval return {mean:.1f} ± {std:.1f}{at}" if eval_steps is not None else "no evaluation yet"
    return (
        f"{name}: {result} after {steps:,} env steps "
        f"in {summary.get('time/wall_s', math.nan):.1f} s ({summary.get('time/sps', math.nan):,.0f} steps/s); "
        f"run dir {run_dir}"
    )
