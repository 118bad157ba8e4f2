"""A results record: what a configuration reached, seed by seed, read off the run dirs that measured it.

`docs/results/<name>.json` holds one record (`name` is the preset's, or a guide study's):

    {"preset": "ppo_cartpole", "overrides": ["experiment=ppo_cartpole"], "threshold": 475.0,
     "score": "mean", "threshold_source": "...", "eval_episodes": 20,
     "command": "python scripts/reproduce.py ppo_cartpole --seeds 0,1,2",
     "seeds": {"0": {"eval": [[env_step, mean, std], ...], "final": {...}, "first_at": 20224,
                     "stable_from": 40192, "env_steps": 100096, "episodes": 1234, "wall_s": 19.7,
                     "sps": 5089.1, "phases_s": {"collect": ...}, "last": {"losses/entropy": ...}}, ...},
     "commit": "...", "dirty": false, "versions": {...}, "machine": {...}, "jobs": 2, "date": "..."}

- `eval` is every evaluation of the run, in order, as logged (exact floats: a rerun on the same CPU matches it
  bit for bit);
- the score of an evaluation is its mean, or mean - std where the run's `callbacks.evaluation.score` is
  `mean_minus_std` (the Hugging Face course's leaderboard score);
- `first_at` is the env step of the first evaluation whose score reaches `threshold`, `stable_from` the env step
  from which every later evaluation's does (null: never; the final evaluation is below);
- `wall_s` is the run's whole training, evaluations and checkpoints included (`time/wall_s`), measured while
  `jobs` runs of the record shared the machine; `load_average` is the machine's 1-, 5- and 15-minute load
  average when the run ended (on 2 cores, above 2 means other work competed for them).
"""

import csv
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: thresholds for envs whose gymnasium spec has no `reward_threshold`, with where each comes from
THRESHOLDS = {
    "Pendulum-v1": (
        -200.0,
        "no gymnasium threshold; -200 is the usual bar for a swung-up, balanced pendulum",
    ),
    "pglab/PixelCopter-v0": (5.0, "the Hugging Face course's certification bar (mean - std >= 5)"),
    "pglab/PongPLE-v0": (
        0.0,
        "no threshold in PLE or the course; 0 = more points won than lost against PLE's CPU paddle",
    ),
    "ALE/Pong-v5": (
        0.0,
        "no gymnasium threshold; 0 = more points won than lost against the built-in opponent",
    ),
}
#: the last logged value of these training metrics goes into each seed's `last`
LAST_KEYS = ("rollout/episode_return_mean", "losses/entropy")


def threshold_for(env_id: str) -> tuple[float, str]:
    """The score a run must reach on `env_id` to count as solved, and where that number comes from."""
    if env_id in THRESHOLDS:
        return THRESHOLDS[env_id]
    import gymnasium as gym

    import pglab.envs  # noqa: F401  (registers pglab's envs)

    spec = gym.spec(env_id)
    if spec.reward_threshold is None:
        raise ValueError(f"{env_id} has no reward_threshold; add it to pglab.results.record.THRESHOLDS")
    return float(spec.reward_threshold), f"gymnasium's reward_threshold of {env_id}"


def score_of(mean: float, std: float, score: str) -> float:
    return mean - std if score == "mean_minus_std" else mean


def crossings(
    curve: Sequence[Sequence[float]], threshold: float, score: str
) -> tuple[int | None, int | None]:
    """(first_at, stable_from) of an evaluation curve `[[env_step, mean, std], ...]`: the env step of the first
    evaluation whose score is >= `threshold`, and the env step from which every later one's is (None: never)."""
    scores = [(int(step), score_of(mean, std, score) >= threshold) for step, mean, std in curve]
    first_at = next((step for step, solved in scores if solved), None)
    stable_from = None
    for step, solved in reversed(scores):
        if not solved:
            break
        stable_from = step
    return first_at, stable_from


def read_eval_curve(run_dir: Path) -> tuple[list[list[float]], dict[str, float]]:
    """The evaluations `[[env_step, mean, std], ...]` in `run_dir/csv/metrics.csv`, and the last logged value of
    each of `LAST_KEYS`."""
    curve, last = [], {}
    with open(run_dir / "csv" / "metrics.csv", newline="") as file:
        for row in csv.DictReader(file):
            if row.get("eval/episode_return_mean"):
                curve.append(
                    [
                        int(float(row["step"])),
                        float(row["eval/episode_return_mean"]),
                        float(row["eval/episode_return_std"]),
                    ]
                )
            last.update({key: float(row[key]) for key in LAST_KEYS if row.get(key)})
    return curve, last


def seed_result(run_dir: Path, threshold: float, score: str) -> dict[str, Any]:
    """One seed's entry of a record, from the run dir of a completed run."""
    summary = json.loads((run_dir / "summary.json").read_text())
    if summary.get("status") != "completed":
        raise RuntimeError(f"{run_dir} did not complete: {summary.get('status')} {summary.get('error', '')}")
    curve, last = read_eval_curve(run_dir)
    first_at, stable_from = crossings(curve, threshold, score)
    step, mean, std = curve[-1]
    return {
        "eval": curve,
        "final": {"env_steps": step, "mean": mean, "std": std, "score": score_of(mean, std, score)},
        "first_at": first_at,
        "stable_from": stable_from,
        "env_steps": int(summary["progress/env_steps"]),
        "episodes": int(summary["progress/episodes"]),
        "wall_s": round(summary["time/wall_s"], 2),
        "sps": round(summary["progress/env_steps"] / summary["time/wall_s"], 1),
        "phases_s": {
            key.removeprefix("time/").removesuffix("_s"): round(value, 2)
            for key, value in summary.items()
            if key.startswith("time/") and key.endswith("_s") and key != "time/wall_s"
        },
        "last": last,
        "load_average": json.loads(loads.read_text())
        if (loads := run_dir / "load_average.json").exists()
        else None,
    }


def run_settings(run_dir: Path) -> dict[str, Any]:
    """What a record states about the configuration, from a run's resolved `config.yaml`."""
    from omegaconf import (
        OmegaConf,
    )  # here: the benchmark's parent process reads records without the config stack

    cfg = OmegaConf.load(run_dir / "config.yaml")
    threshold, source = threshold_for(cfg.env.id)
    return {
        "env_id": cfg.env.id,
        "total_env_steps": int(cfg.total_env_steps),
        "threshold": threshold,
        "threshold_source": source,
        "score": cfg.callbacks.evaluation.score,
        "eval_episodes": int(cfg.callbacks.evaluation.episodes),
        "eval_every_env_steps": int(cfg.callbacks.evaluation.every_env_steps),
        "deterministic": bool(cfg.callbacks.evaluation.deterministic),
    }


def first_difference(recorded: dict[str, Any], rerun: dict[str, Any]) -> str | None:
    """Where a rerun's evaluation curve first differs from the recorded one (None: identical)."""
    for i, (old, new) in enumerate(zip(recorded["eval"], rerun["eval"], strict=False)):
        if old != new:
            return (
                f"evaluation {i + 1} at {old[0]:,} env steps: recorded {old[1]!r} ± {old[2]!r}, "
                f"rerun {new[1]!r} ± {new[2]!r} at {new[0]:,} env steps"
            )
    if len(recorded["eval"]) != len(rerun["eval"]):
        return f"{len(recorded['eval'])} evaluations recorded, {len(rerun['eval'])} in the rerun"
    if recorded["env_steps"] != rerun["env_steps"]:
        return f"env steps: recorded {recorded['env_steps']:,}, rerun {rerun['env_steps']:,}"
    return None


def dumps(result: dict[str, Any]) -> str:
    """A record as JSON, one evaluation `[env_step, mean, std]` per line."""
    text = json.dumps(result, indent=1)
    return re.sub(r"\[\s+([-\d.e+]+),\s+([-\d.e+]+),\s+([-\d.e+]+)\s+\]", r"[\1, \2, \3]", text) + "\n"


def load(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def seed_values(record: dict[str, Any], key: str) -> list[Any]:
    """`key` of every seed of `record`, in seed order."""
    return [record["seeds"][seed][key] for seed in sorted(record["seeds"], key=int)]
