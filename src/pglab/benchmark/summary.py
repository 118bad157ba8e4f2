"""From the children's results to the report's numbers: steps/s, stable solves, spreads over the repeats,
per-repeat ratios, the best preset and the thread count picked for each framework; and the torch env backend's
section (`summarize_torch_backend`): medians and worst seeds, its ratios to the repeats' runs, its targets met or
not."""

import math
import statistics
from typing import Any

from pglab.benchmark.plan import FRAMEWORKS, GYMNASIUM_PRESETS, PRESETS, TORCH_THREADS
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
#: the torch env backend's targets (issue 15) as (comparison, threshold), by the name of their value in
#: `summarize_torch_backend`'s "targets"
TORCH_TARGETS = {
    "env_only_sps": (">=", 5e6),
    "collection_sps": (">=", 1e6),
    "ppo_sps": (">=", 5e4),
    "ppo_vs_gymnasium": (">=", 10.0),
    "solve_wall_s": ("<=", 2.0),
    "solve_wall_s_worst": ("<=", 5.0),
    "stable_vs_rl_zoo": ("<=", 0.5),
    "acrobot_return": (">=", -90.0),
    "pendulum_return": (">=", -200.0),
    "single_thread_ppo": (">=", 1.5),
    "single_thread_a2c": (">=", 1.5),
}
#: the torch backend's run names (`plan.plan_torch_backend`)
TORCH_ENV_COLLECTION = "torch/env_collection"
TORCH_THROUGHPUT = "torch/ppo_throughput"
TORCH_SOLVE = "torch/cartpole"


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


def over_seeds(values: list[float | None], lower_is_better: bool = False) -> dict[str, Any] | None:
    """Median and worst over seeds, with min, max and the count; a None value (a seed that never got there, e.g.
    never solved) counts as the worst possible (an infinite time), so it can make the median and the worst None
    too ("missing": how many). None for no values."""
    if not values:
        return None
    bad = math.inf if lower_is_better else -math.inf
    filled = [bad if v is None else v for v in values]
    measured = [v for v in values if v is not None]

    def finite(x: float) -> float | None:
        return x if math.isfinite(x) else None

    return {
        "median": finite(statistics.median(filled)),
        "worst": finite(max(filled) if lower_is_better else min(filled)),
        "min": min(measured) if measured else None,
        "max": max(measured) if measured else None,
        "n": len(values),
        "missing": len(values) - len(measured),
    }


def first_solve(evals: list[dict[str, float]]) -> dict[str, float] | None:
    """The first evaluation that returns >= 475 (the issue's "solved"), or None."""
    curve = [[e["env_steps"], e["return_mean"], 0.0] for e in evals]
    first_at, _ = crossings(curve, SOLVED_RETURN, "mean")
    return next((e for e in evals if e["env_steps"] == first_at), None)


def stable_evaluation(evals: list[dict[str, float]]) -> dict[str, float] | None:
    """The evaluation of the stable solve (`stable_solve`), with its wall seconds too, or None."""
    stable = stable_solve(evals)
    return next((e for e in evals if stable and e["env_steps"] == stable["env_steps"]), None)


def met(value: float | None, target: tuple[str, float]) -> bool | None:
    """Whether `value` meets `target` (">=" or "<=" a threshold); None when there is no value."""
    if value is None:
        return None
    comparison, threshold = target
    return value >= threshold if comparison == ">=" else value <= threshold


def median_ratio(numerator: dict | None, denominator: dict | None) -> float | None:
    """The ratio of two summaries' medians (runs of different seeds or counts: not taken per repeat)."""
    if not numerator or not denominator or numerator["median"] is None or not denominator["median"]:
        return None
    return numerator["median"] / denominator["median"]


def summarize_torch_backend(results: list[dict[str, Any]], main: dict[str, Any]) -> dict[str, Any]:
    """The torch env backend's runs (`plan.plan_torch_backend`, "repeat" = seed index) summarized: per measurement
    the median and worst over the seeds (`over_seeds`), the ratios to the repeats' summary `main` (`summarize`'s:
    gymnasium `ppo_cartpole` steps/s, RL Zoo PPO's stable solve, the single-threaded pglab / SB3 pairs when the
    repeats ran single-threaded) and every `TORCH_TARGETS` entry's value and whether it is met. A part whose runs
    are missing is None."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for r in sorted(results, key=lambda r: r["repeat"]):
        by_name.setdefault(r["name"], []).append(r)
    main_runs = main["runs"]

    def sps(runs: list[dict[str, Any]], key: str, part: str | None = None) -> dict[str, Any] | None:
        return over_seeds([(r[part] if part else r)[key] for r in runs])

    measured = by_name.get(TORCH_ENV_COLLECTION, [])
    env_only = collection = None
    if measured:
        first = measured[0]
        env_only = {
            "env_id": first["env_only"]["env_id"],
            "num_envs": first["env_only"]["num_envs"],
            "sps": sps(measured, "sps", "env_only"),
        }
        collection = {
            key: first["collection"][key]
            for key in ("preset", "env_id", "num_envs", "num_steps", "hidden_sizes")
        } | {
            key: sps(measured, key, "collection")
            for key in ("raw_sps", "collection_sps", "collection_advantages_sps")
        }

    def what(runs: list[dict[str, Any]]) -> dict[str, Any]:
        """The command line (overrides without the seed), the config facts and the budget of a run's seeds."""
        first = runs[0]
        overrides = first.get("overrides", [])
        return {
            "preset": next((o.split("=", 1)[1] for o in overrides if o.startswith("experiment=")), None),
            "overrides": [o for o in overrides if not o.startswith("seed=")],
            "config": first.get("config", {}),
            "env_steps": first["env_steps"],
            "seeds": [r["seed"] for r in runs],
        }

    throughput = None
    if runs := by_name.get(TORCH_THROUGHPUT):
        gymnasium = main_runs.get("pglab/ppo_cartpole")
        throughput = what(runs) | {
            "sps": sps(runs, "sps"),
            "gymnasium_sps": gymnasium["sps"] if gymnasium else None,
            "gymnasium_threads": gymnasium["threads"] if gymnasium else None,
        }
        throughput["ratio"] = median_ratio(throughput["sps"], throughput["gymnasium_sps"])

    cartpole = None
    if runs := by_name.get(TORCH_SOLVE):
        solves = [first_solve(r["evals"]) for r in runs]
        stables = [stable_evaluation(r["evals"]) for r in runs]
        zoo = main_runs.get(RL_ZOO)

        def times(evals: list[dict | None], key: str) -> dict[str, Any] | None:
            return over_seeds([e[key] if e else None for e in evals], lower_is_better=True)

        cartpole = what(runs) | {
            "solved": sum(e is not None for e in solves),
            "stable": sum(e is not None for e in stables),
            "solve_env_steps": times(solves, "env_steps"),
            "solve_wall_s": times(solves, "wall_s"),
            "stable_env_steps": times(stables, "env_steps"),
            "stable_train_s": times(stables, "train_s"),
            "stable_wall_s": times(stables, "wall_s"),
            "rl_zoo_stable_train_s": zoo["solve_train_s"] if zoo else None,
            "rl_zoo_solved": [zoo["solved"], zoo["repeats"]] if zoo else None,
        }
        # like for like: both sides' training seconds to the stable solve, evaluation excluded
        cartpole["stable_ratio"] = median_ratio(cartpole["stable_train_s"], cartpole["rl_zoo_stable_train_s"])

    def side(runs: list[dict[str, Any]]) -> dict[str, Any]:
        return what(runs) | {
            "threads": runs[0]["threads"],
            "final_return": over_seeds([r["evals"][-1]["return_mean"] if r["evals"] else None for r in runs]),
            "wall_s": over_seeds([r["wall_s"] for r in runs], lower_is_better=True),
            "train_s": over_seeds([r["train_s"] for r in runs], lower_is_better=True),
            "sps": sps(runs, "sps"),
        }

    pairs = {}
    for env in GYMNASIUM_PRESETS:
        torch_runs, gymnasium_runs = by_name.get(f"torch/{env}"), by_name.get(f"gymnasium/{env}")
        if not torch_runs or not gymnasium_runs:
            pairs[env] = None
            continue
        pair = {"torch": side(torch_runs), "gymnasium": side(gymnasium_runs)}
        pair["wall_ratio"] = median_ratio(pair["torch"]["wall_s"], pair["gymnasium"]["wall_s"])
        pairs[env] = pair

    single_thread = single_thread_ratios(results, main)
    value = {
        "env_only_sps": env_only and env_only["sps"] and env_only["sps"]["median"],
        "collection_sps": collection and collection["collection_sps"]["median"],
        "ppo_sps": throughput and throughput["sps"]["median"],
        "ppo_vs_gymnasium": throughput and throughput["ratio"],
        "solve_wall_s": cartpole and cartpole["solve_wall_s"]["median"],
        "solve_wall_s_worst": cartpole and cartpole["solve_wall_s"]["worst"],
        "stable_vs_rl_zoo": cartpole and cartpole["stable_ratio"],
        **{
            f"{env}_return": pairs[env] and pairs[env]["torch"]["final_return"]["median"]
            for env in GYMNASIUM_PRESETS
        },
        **{
            f"single_thread_{algo}": single_thread
            and single_thread["ratios"][algo]
            and single_thread["ratios"][algo]["median"]
            for algo in SAME_HYPERPARAMETERS
        },
    }
    targets = {
        name: {"value": value[name], "target": list(target), "met": met(value[name], target)}
        for name, target in TORCH_TARGETS.items()
    }
    if cartpole:  # no time: too many seeds (the median) or one seed (the worst) never solved
        for name in ("solve_wall_s", "solve_wall_s_worst"):
            if targets[name]["value"] is None:
                targets[name]["met"] = False
    return {
        "env_only": env_only,
        "collection": collection,
        "ppo_throughput": throughput,
        "cartpole": cartpole,
        "pairs": pairs,
        "single_thread": single_thread,
        "targets": targets,
    }


def single_thread_ratios(results: list[dict[str, Any]], main: dict[str, Any]) -> dict[str, Any] | None:
    """pglab / SB3 training steps/s with the same hyperparameters, both with one torch thread, per algorithm: from the
    `single_thread/...` pairs where they ran (a ratio per repeat, the pair ran back to back), else from the repeats'
    own pairs if both frameworks ran them single-threaded (`main`, `summarize`'s); None otherwise."""
    by = {(r["name"], r["repeat"]): r for r in results if r["name"].startswith("single_thread/")}
    if by:
        repeats = sorted({k for _, k in by})
        sps, ratios = {}, {}
        for algo, pair in SAME_HYPERPARAMETERS.items():
            names = [f"single_thread/{name}" for name in pair]
            if not all((name, k) in by for name in names for k in repeats):
                ratios[algo] = None
                continue
            for name in names:
                sps[name] = spread([by[name, k]["sps"] for k in repeats])
            ratios[algo] = spread([by[names[0], k]["sps"] / by[names[1], k]["sps"] for k in repeats])
        return {
            "source": "single_thread",
            "repeats": len(repeats),
            "steps": next(iter(by.values()))["env_steps"],
            "sps": sps,
            "ratios": ratios,
        }
    runs = main["runs"]
    names = [name for pair in SAME_HYPERPARAMETERS.values() for name in pair]
    if all(name in runs and runs[name]["threads"] == TORCH_THREADS for name in names):
        return {
            "source": "repeats",
            "repeats": runs[names[0]]["repeats"],
            "steps": None,
            "sps": {name: runs[name]["sps"] for name in names},
            "ratios": {algo: main["ratios"][algo] for algo in SAME_HYPERPARAMETERS},
        }
    return None


def describe(result: dict[str, Any]) -> str:
    """One progress line for a finished run."""

    def threads(result: dict[str, Any]) -> str:
        return f"{result['threads']} torch thread{'s' * (result['threads'] > 1)}"

    if "env_only" in result:
        env_only, collection = result["env_only"], result["collection"]
        return (
            f"{result['name']} ({threads(result)}, {result['device']}): {env_only['env_id']} alone "
            f"{env_only['sps']:,.0f} steps/s at {env_only['num_envs']:,} envs; collection at {collection['num_envs']:,} "
            f"envs: raw loop {collection['raw_sps']:,.0f}, collector {collection['collection_sps']:,.0f}, with "
            f"advantages {collection['collection_advantages_sps']:,.0f} steps/s"
        )
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
