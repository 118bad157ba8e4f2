"""From the children's results to the report's numbers: steps/s, stable solves, spreads over the repeats,
per-repeat ratios and the best preset."""

import math
import statistics
from typing import Any

from pglab.benchmark.plan import PRESETS
from pglab.benchmark.timing import BREAKDOWN

SOLVED_RETURN = 475.0  # CartPole-v1's reward threshold


def stable_solve(evals: list[dict[str, float]]) -> dict[str, float] | None:
    """The first evaluation from which every evaluation returns >= 475, or None (the last one is below)."""
    solve = None
    for evaluation in evals:
        if evaluation["return_mean"] < SOLVED_RETURN:
            solve = None
        elif solve is None:
            solve = {"env_steps": evaluation["env_steps"], "train_s": evaluation["train_s"]}
    return solve


def with_training_metrics(result: dict[str, Any]) -> dict[str, Any]:
    """A training run's result plus its steps/s (evaluation excluded) and its stable solve (or None)."""
    if "train_s" not in result:
        return result
    return result | {"sps": result["env_steps"] / result["train_s"], "solve": stable_solve(result["evals"])}


def spread(values: list[float]) -> dict[str, float] | None:
    """Median, min and max; None for no values."""
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per run name: spreads of steps/s, solve, memory, startup; the per-repeat ratios; the best preset."""
    repeats = sorted({r["repeat"] for r in results})
    by = {(r["name"], r["repeat"]): r for r in results}

    def ratio(numerator: str, denominator: str, key: str) -> dict[str, float]:
        """The spread over repeats of `numerator`'s `key` / `denominator`'s, both from the same repeat."""
        return spread([by[numerator, k][key] / by[denominator, k][key] for k in repeats])

    runs = {}
    for name in dict.fromkeys(r["name"] for r in results if r["name"] != "ceiling"):
        mine = [by[name, k] for k in repeats]
        solves = [r["solve"] for r in mine if r["solve"]]
        runs[name] = {
            "sps": spread([r["sps"] for r in mine]),
            "solved": len(solves),
            "repeats": len(mine),
            "solve_env_steps": spread([s["env_steps"] for s in solves]),
            "solve_train_s": spread([s["train_s"] for s in solves]),
            "peak_rss_mib": spread([r["peak_rss_mib"] for r in mine]),
            "first_step_s": spread([r["first_step_s"] for r in mine]),
            # ms per 1,000 env steps in each part of the training time
            "breakdown": {
                part: spread([1e6 * r["breakdown"][part] / r["env_steps"] for r in mine])
                for part in BREAKDOWN
                if all("breakdown" in r for r in mine)
            },
        }
    ceilings = {}
    for preset in PRESETS:
        raw = [by["ceiling", k]["presets"][preset]["raw_sps"] for k in repeats]
        collected = [by["ceiling", k]["presets"][preset]["collector_sps"] for k in repeats]
        trained = [by[f"pglab/{preset}", k]["sps"] for k in repeats]
        ceilings[preset] = {
            "raw_sps": spread(raw),
            "collector_sps": spread(collected),
            "collector_fraction": spread([c / r for c, r in zip(collected, raw, strict=True)]),
            "training_fraction": spread([t / r for t, r in zip(trained, raw, strict=True)]),
        }

    # The best preset: solved in the most repeats, then the shortest median training time to the solve.
    def rank(preset: str) -> tuple[int, float]:
        run = runs[f"pglab/{preset}"]
        return -run["solved"], run["solve_train_s"]["median"] if run["solve_train_s"] else math.inf

    best = min(PRESETS, key=rank)
    best_solve, zoo_solve = runs[f"pglab/{best}"]["solve_train_s"], runs["sb3/rl_zoo_ppo"]["solve_train_s"]
    ratios = {
        "ppo": ratio("pglab/ppo_cartpole", "sb3/ppo_cartpole", "sps"),
        "a2c": ratio("pglab/a2c_cartpole", "sb3/a2c_cartpole", "sps"),
        "memory": ratio("pglab/ppo_cartpole", "plain/ppo", "peak_rss_mib"),
        # Solve times depend on the seed more than on the machine: a ratio of medians, not per repeat.
        "solve": best_solve["median"] / zoo_solve["median"] if best_solve and zoo_solve else None,
    }
    return {"runs": runs, "ceilings": ceilings, "ratios": ratios, "best_preset": best}


def describe(result: dict[str, Any]) -> str:
    """One progress line for a finished run."""
    if result["name"] == "ceiling":
        return "ceiling: " + ", ".join(
            f"{p} raw {c['raw_sps']:,.0f} / collector {c['collector_sps']:,.0f} steps/s"
            for p, c in result["presets"].items()
        )
    solve = result.get("solve")
    solved = (
        f"stable solve at {solve['env_steps']:,} steps, {solve['train_s']:.1f} s"
        if solve
        else "no stable solve"
    )
    return (
        f"{result['name']}: {result['sps']:,.0f} steps/s, {solved}, peak {result['peak_rss_mib']:,.0f} MiB, "
        f"first env step after {result['first_step_s']:.2f} s"
    )
