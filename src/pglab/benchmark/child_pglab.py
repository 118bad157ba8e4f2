"""A pglab training run through the real entry point, `train.py` as `__main__`, measured from what the run
writes: its phase times in `summary.json` and, for the evaluations, the rows that `EvaluationClock` (a logger
the run is given by a config override) kept. Nothing of pglab is wrapped; the one wrapper is around gymnasium's
`SyncVectorEnv.step` (the first env step)."""

import json
import runpy
import sys
from pathlib import Path
from typing import Any

from pglab.benchmark.plan import EVALUATION_CLOCK_FILE, TRAIN_PY
from pglab.benchmark.timing import record_first_call, time_breakdown
from pglab.metrics import PHASES  # pglab's cumulative seconds per phase: `time/<phase>_s` in summary.json


def evaluations(rows: list[dict[str, float]]) -> list[dict[str, float]]:
    """Each evaluation's env step, mean return and the training seconds (evaluation excluded) at it, from a
    run's logged rows (in logging order; `EvaluationClock` keeps them).

    An evaluation row holds no clock; the rollout row of the same env step does: `time/wall_s - time/eval_s`
    there is the training time up to that rollout's update. A periodic evaluation is logged just before its
    rollout's row (Lightning runs the callbacks' `on_train_epoch_end` before the module's), whose `time/eval_s`
    includes it; the final one, at the end of training, just after the last rollout's row.
    """
    train_s = {
        row["progress/env_steps"]: row["time/wall_s"] - row["time/eval_s"]
        for row in rows
        if "time/wall_s" in row and "eval/episode_return_mean" not in row
    }
    return [
        {
            "env_steps": int(row["progress/env_steps"]),
            "train_s": train_s[row["progress/env_steps"]],
            "return_mean": row["eval/episode_return_mean"],
        }
        for row in rows
        if "eval/episode_return_mean" in row
    ]


def pglab_result(summary: dict[str, Any], rows: list[dict[str, float]]) -> dict[str, Any]:
    """A completed run's numbers from its `summary.json` and its logged rows: env steps, training seconds
    (evaluation excluded), pglab's own steps/s, the evaluations and where the training time went.

    The training seconds are `time/wall_s - time/eval_s` of the last rollout's row, both read at one instant: the
    summary's `time/wall_s` and `time/eval_s` also count what runs after that row (a final evaluation when the
    budget is no multiple of the evaluation interval, the final checkpoint, teardown). Collection, advantages and
    updates all happen before that row, so the summary's totals of those are the row's. Checkpoint writes stay
    in the training seconds, and so in "the rest".
    """
    last_rollout = [row for row in rows if "time/wall_s" in row][-1]
    train_s = last_rollout["time/wall_s"] - last_rollout["time/eval_s"]
    phases = {f"{phase}_s": summary[f"time/{phase}_s"] for phase in PHASES}
    return {
        "env_steps": int(summary["progress/env_steps"]),
        "train_s": train_s,
        "reported_sps": summary["time/sps"],
        "phases_s": phases,
        "evals": evaluations(rows),
        "breakdown": time_breakdown(phases, train_s),
    }


def child_pglab(spec: dict[str, Any]) -> dict[str, Any]:
    """`python train.py <spec["overrides"]>` in this process, then its numbers from `spec["run_dir"]`."""
    from gymnasium.vector import SyncVectorEnv

    first_step = record_first_call(SyncVectorEnv, "step")
    sys.argv = [str(TRAIN_PY), *spec["overrides"]]
    runpy.run_path(str(TRAIN_PY), run_name="__main__")
    run_dir = Path(spec["run_dir"])
    summary = json.loads((run_dir / "summary.json").read_text())
    if summary["status"] != "completed":
        raise RuntimeError(f"the pglab run did not complete: {summary}")
    rows = json.loads((run_dir / EVALUATION_CLOCK_FILE).read_text())
    return pglab_result(summary, rows) | {"first_step_s": first_step["s"]}
