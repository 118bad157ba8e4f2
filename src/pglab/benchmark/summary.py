"""From the children's results to the report's numbers: steps/s, stable solves, spreads over the repeats,
per-repeat ratios, the best preset and the thread count picked for each framework."""

import math
import statistics
from typing import Any

from pglab.benchmark.plan import FRAMEWORKS, PRESETS
from pglab.benchmark.timing import BREAKDOWN, COLLECTION_PARTS
from pglab.results.record import crossings

SOLVED_RETURN = 475.0  # CartPole-v1's reward threshold
#: a thread count whose calibration steps/s falls below this fraction of its framework's best runs no more rounds
CALIBRATION_CUTOFF = 0.5
#: the same-algorithm, same-hyperparameter pair of the headline solve-time ratio: pglab's PPO preset and SB3's
#: PPO with its hyperparameters mapped by `sb3_hyperparameters` (RL Zoo's tuned CartPole PPO, less the clip
#: annealing)
HEADLINE_SOLVE = ("pglab/ppo_cartpole", "sb3/ppo_cartpole")
#: SB3's tuned reference for the second line: the best pglab preset against RL Zoo's own CartPole PPO
RL_ZOO = "sb3/rl_zoo_ppo"
#: the pglab / SB3 pairs with the same algorithm and hyperparameters, by algorithm
SAME_HYPERPARAMETERS = {"ppo": HEADLINE_SOLVE, "a2c": ("pglab/a2c_cartpole", "sb3/a2c_cartpole")}


def stable_solve(evals: list[dict[str, float]]) -> dict[str, float] | None:
    """The first evaluation from which every evaluation returns >= 475 (`pglab.results.record.crossings`, as the
    results records count it), or None (the last one is below)."""
    curve = [[e["env_steps"], e["return_mean"], 0.0] for e in evals]
    _, stable_from = crossings(curve, SOLVED_RETURN, "mean")
    return next(
        (
            {"env_steps": e["env_steps"], "train_s": e["train_s"]}
            for e in evals
            if e["env_steps"] == stable_from
        ),
        None,
    )


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


def collection_s_per_step(result: dict[str, Any]) -> float:
    """Seconds per env step in collection plus advantages (`COLLECTION_PARTS`), the like-for-like part."""
    return sum(result["breakdown"][part] for part in COLLECTION_PARTS) / result["env_steps"]


def clearly_slower(results: list[dict[str, Any]], cutoff: float = CALIBRATION_CUTOFF) -> set[tuple[str, int]]:
    """The (kind, threads) pairs of the thread calibration so far whose median steps/s is below `cutoff` times
    the best median of their framework: they run no further rounds (on a busy machine an extra thread can run
    50 times slower, which would make the calibration long and could not make that count the fastest)."""
    sps = calibrate(results)["sps"] if results else {}
    best = {kind: max(s["median"] for s in by_count.values()) for kind, by_count in sps.items() if by_count}
    return {
        (kind, int(t))
        for kind, by_count in sps.items()
        for t, s in by_count.items()
        if s["median"] < cutoff * best[kind]
    }


def calibrate(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The thread calibration's results (each with "kind", "threads" and "sps") summarized: per framework the
    spread of steps/s at each thread count ("sps", keyed by the count as a string, as JSON keeps it) and the
    count with the highest median ("threads"; the fewer threads on a tie)."""
    sps: dict[str, dict[str, dict[str, float]]] = {}
    for kind in FRAMEWORKS:
        counts = sorted({r["threads"] for r in results if r["kind"] == kind})
        sps[kind] = {
            str(t): spread([r["sps"] for r in results if (r["kind"], r["threads"]) == (kind, t)])
            for t in counts
        }
    threads = {
        kind: int(max(by_count, key=lambda t: (by_count[t]["median"], -int(t))))
        for kind, by_count in sps.items()
    }
    return {"sps": sps, "threads": threads}


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per run name: its thread count and the spreads of steps/s, solve, memory, startup and where its time went;
    the per-repeat ratios; the best preset."""
    repeats = sorted({r["repeat"] for r in results})
    by = {(r["name"], r["repeat"]): r for r in results}

    def ratio(numerator: str, denominator: str, key: str) -> dict[str, float]:
        """The spread over repeats of `numerator`'s `key` / `denominator`'s, both from the same repeat."""
        return spread([by[numerator, k][key] / by[denominator, k][key] for k in repeats])

    def collection_ratio(pglab: str, sb3: str) -> dict[str, float]:
        """The spread over repeats of pglab's collection-plus-advantages throughput / SB3's (SB3's seconds per
        env step / pglab's), both from the same repeat."""
        return spread(
            [collection_s_per_step(by[sb3, k]) / collection_s_per_step(by[pglab, k]) for k in repeats]
        )

    runs = {}
    for name in dict.fromkeys(r["name"] for r in results if r["name"] != "ceiling"):
        mine = [by[name, k] for k in repeats]
        solves = [r["solve"] for r in mine if r["solve"]]
        has_breakdown = all("breakdown" in r for r in mine)
        runs[name] = {
            "threads": mine[0]["threads"],
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
                if has_breakdown
            },
            # ms per 1,000 env steps in collection plus advantages: what compares across frameworks
            "collection_advantages": spread([1e6 * collection_s_per_step(r) for r in mine])
            if has_breakdown
            else None,
        }
    ceilings = {}
    for preset in PRESETS:
        measured = [by["ceiling", k]["presets"][preset] for k in repeats]
        raw = [c["raw_sps"] for c in measured]
        collected = [c["collection_advantages_sps"] for c in measured]
        trained = [by[f"pglab/{preset}", k]["sps"] for k in repeats]
        ceilings[preset] = {
            "raw_sps": spread(raw),
            "collection_sps": spread([c["collection_sps"] for c in measured]),
            "collection_advantages_sps": spread(collected),
            # collection with its advantages, as it is compared with SB3, / the raw loop (which has none)
            "collection_fraction": spread([c / r for c, r in zip(collected, raw, strict=True)]),
            "training_fraction": spread([t / r for t, r in zip(trained, raw, strict=True)]),
        }

    # The best preset: solved in the most repeats, then the shortest median training time to the solve.
    def rank(preset: str) -> tuple[int, float]:
        run = runs[f"pglab/{preset}"]
        return -run["solved"], run["solve_train_s"]["median"] if run["solve_train_s"] else math.inf

    def solve_ratio(numerator: str, denominator: str) -> float | None:
        """Solve times depend on the seed more than on the machine: a ratio of medians, not per repeat."""
        mine, theirs = runs[numerator]["solve_train_s"], runs[denominator]["solve_train_s"]
        return mine["median"] / theirs["median"] if mine and theirs else None

    best = min(PRESETS, key=rank)
    ratios = {
        **{algo: ratio(*pair, "sps") for algo, pair in SAME_HYPERPARAMETERS.items()},
        "collection": {algo: collection_ratio(*pair) for algo, pair in SAME_HYPERPARAMETERS.items()},
        "memory": ratio("pglab/ppo_cartpole", "plain/ppo", "peak_rss_mib"),
        # the headline: same algorithm, same hyperparameters; then the best preset against RL Zoo's PPO
        "solve": solve_ratio(*HEADLINE_SOLVE),
        "solve_best_preset": solve_ratio(f"pglab/{best}", RL_ZOO),
    }
    return {"runs": runs, "ceilings": ceilings, "ratios": ratios, "best_preset": best}


def describe(result: dict[str, Any]) -> str:
    """One progress line for a finished run."""

    def threads(result: dict[str, Any]) -> str:
        return f"{result['threads']} torch thread{'s' * (result['threads'] > 1)}"

    if result["name"] == "ceiling":
        return f"ceiling ({threads(result)}): " + ", ".join(
            f"{p} raw {c['raw_sps']:,.0f} / collection + advantages {c['collection_advantages_sps']:,.0f} steps/s"
            for p, c in result["presets"].items()
        )
    solve = result.get("solve")
    solved = (
        f"stable solve at {solve['env_steps']:,} steps, {solve['train_s']:.1f} s"
        if solve
        else "no stable solve"
    )
    return (
        f"{result['name']} ({threads(result)}): {result['sps']:,.0f} steps/s, {solved}, "
        f"peak {result['peak_rss_mib']:,.0f} MiB, "
        f"first env step after {result['first_step_s']:.2f} s"
    )
