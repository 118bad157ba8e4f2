"""A pglab training run through the real entry point, `train.py` as `__main__`, measured from what the run
writes: its phase times in `summary.json` and, for the evaluations, the rows that `EvaluationClock` (a logger
the run is given by a config override) kept. Nothing of pglab is wrapped but the step of its batched envs; the
wrappers record the first env step: gymnasium's `SyncVectorEnv.step`, or `BatchedEnv.step` for
`env.vectorization=torch`."""

import json
import runpy
import sys
from pathlib import Path
from typing import Any

from pglab.benchmark.plan import EVALUATION_CLOCK_FILE, TRAIN_PY
from pglab.benchmark.timing import record_first_call, time_breakdown
from pglab.metrics import PHASES  # pglab's cumulative seconds per phase: `time/<phase>_s` in summary.json


def evaluations(rows: list[dict[str, float]], final_eval_s: float | None = None) -> list[dict[str, float]]:
    """Each evaluation's env step, mean return, the training seconds (evaluation excluded) at it and the wall
    seconds at it, evaluations included (its own too), from a run's logged rows (in logging order;
    `EvaluationClock` keeps them).

    An evaluation row holds no clock; the rollout row of the same env step does: `time/wall_s - time/eval_s`
    there is the training time up to that rollout's update. A periodic evaluation is logged just before its
    rollout's row (Lightning runs the callbacks' `on_train_epoch_end` before the module's), whose `time/eval_s`
    includes it; the final one, at the end of training, just after the last rollout's row: its wall seconds add
    its own evaluation time, `final_eval_s` (the run's total evaluation seconds) less that row's `time/eval_s`
    (none added when None).
    """
    clocks = {
        row["progress/env_steps"]: (row["time/wall_s"], row["time/eval_s"])
        for row in rows
        if "time/wall_s" in row and "eval/episode_return_mean" not in row
    }
    evals, rollouts_so_far = [], set()
    for row in rows:
        step = row["progress/env_steps"]
        if "eval/episode_return_mean" not in row:
            if "time/wall_s" in row:
                rollouts_so_far.add(step)
            continue
        wall_s, eval_s = clocks[step]
        after_its_rollout = step in rollouts_so_far  # the final evaluation: not in that row's clocks
        own_s = final_eval_s - eval_s if after_its_rollout and final_eval_s is not None else 0.0
        evals.append(
            {
                "env_steps": int(step),
                "train_s": wall_s - eval_s,
                "wall_s": wall_s + own_s,
                "return_mean": row["eval/episode_return_mean"],
            }
        )
    return evals


def pglab_result(summary: dict[str, Any], rows: list[dict[str, float]]) -> dict[str, Any]:
    """A completed run's numbers from its `summary.json` and its logged rows: env steps, training seconds
    (evaluation excluded), wall seconds (evaluations included: the summary's `time/wall_s`, which also counts the
    final checkpoint), pglab's own steps/s, the evaluations and where the training time went.

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
        "wall_s": summary["time/wall_s"],
        "reported_sps": summary["time/sps"],
        "phases_s": phases,
        "evals": evaluations(rows, summary["time/eval_s"]),
        "breakdown": time_breakdown(phases, train_s),
    }


#: the prefixes of the overrides that only wire a run into the benchmark (no loggers, its run dir)
PLUMBING = ("logger=", "+logger.", "hydra.")


def what_ran(overrides: list[str]) -> list[str]:
    """A run's `train.py` overrides less the benchmark's plumbing (`PLUMBING`): what a user would type to train it."""
    return [o for o in overrides if not o.startswith(PLUMBING)]


#: the keys of a run's resolved `config.yaml` kept in its result: what sizes its rollouts and updates
CONFIG_KEYS = (
    "env.vectorization",
    "env.num_envs",
    "algo.num_steps",
    "algo.num_minibatches",
    "algo.update_epochs",
    "total_env_steps",
    "torch_threads",
)


def config_facts(path: Path) -> dict[str, Any]:
    """The `CONFIG_KEYS` of the resolved config at `path` (those it has)."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(path)
    facts = {key: OmegaConf.select(cfg, key, default=None) for key in CONFIG_KEYS}
    return {key: value for key, value in facts.items() if value is not None}


def child_pglab(spec: dict[str, Any]) -> dict[str, Any]:
    """`python train.py <spec["overrides"]>` in this process, then its numbers from `spec["run_dir"]`, with its
    overrides (`what_ran`) and the sizes of its rollouts and updates (`config_facts`)."""
    from gymnasium.vector import SyncVectorEnv

    from pglab.envs.batched import BatchedEnv

    first_steps = [record_first_call(SyncVectorEnv, "step"), record_first_call(BatchedEnv, "step")]
    sys.argv = [str(TRAIN_PY), *spec["overrides"]]
    runpy.run_path(str(TRAIN_PY), run_name="__main__")
    run_dir = Path(spec["run_dir"])
    summary = json.loads((run_dir / "summary.json").read_text())
    if summary["status"] != "completed":
        raise RuntimeError(f"the pglab run did not complete: {summary}")
    rows = json.loads((run_dir / EVALUATION_CLOCK_FILE).read_text())
    first_step_s = min(first["s"] for first in first_steps if first)
    return pglab_result(summary, rows) | {
        "first_step_s": first_step_s,
        "overrides": what_ran(spec["overrides"]),
        "config": config_facts(run_dir / "config.yaml"),
    }
