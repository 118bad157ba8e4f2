"""The report of a benchmark: the machine it ran on, the markdown tables (the torch env backend's section among
them) and the files it writes."""

import json
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from pglab.benchmark.figure import plot
from pglab.benchmark.plan import (
    CALIBRATION_PRESET,
    FRAMEWORKS,
    GYMNASIUM_PRESETS,
    PRESETS,
    TORCH_THREADS,
)
from pglab.benchmark.summary import (
    CALIBRATION_CUTOFF,
    HEADLINE_SOLVE,
    RL_ZOO,
    SAME_HYPERPARAMETERS,
    SOLVED_RETURN,
)
from pglab.benchmark.timing import BREAKDOWN

#: the project's performance targets, printed next to the measured ratios
TARGETS = {"ppo": "≥ 1.5", "a2c": "≥ 1.5", "solve": "≤ 0.5", "collection": "≥ 0.8", "memory": "≤ 1.2"}


def machine() -> dict[str, Any]:
    """The CPU (with torch's CPU capability: the vector instructions its kernels use, AVX2 or AVX512 on the
    project's AMD EPYC hosts, which run the same runs at quite different speeds), core count, memory, OS, Python and
    the versions of the packages that the runs measure."""
    import torch  # (here: the benchmark's children import only what they measure)

    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    models = [line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")]
    meminfo = Path("/proc/meminfo").read_text().split() if Path("/proc/meminfo").exists() else []
    versions = {}
    for package in ("torch", "gymnasium", "lightning", "stable-baselines3", "numpy", "hydra-core"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "cpu": models[0] if models else platform.processor() or "unknown",
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cores": os.cpu_count(),
        "memory_gib": round(int(meminfo[1]) / 2**20, 1) if meminfo[:1] == ["MemTotal:"] else None,
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
    }


def cpu_line(info: dict[str, Any]) -> str:
    """The CPU model, with torch's CPU capability where the report has it (reports before 2026-12-07 do not)."""
    capability = info.get("torch_cpu_capability")
    return (
        f"{info.get('cpu', 'this machine')} ({capability})" if capability else info.get("cpu", "this machine")
    )


def fmt(s: dict[str, float] | None, digits: int = 0, unit: str = "") -> str:
    """`median [min–max]` (one value alone when the spread has one)."""
    if s is None:
        return "–"

    def number(x: float) -> str:
        return f"{x:,.{digits}f}{unit}"

    return (
        number(s["median"])
        if s["n"] == 1
        else f"{number(s['median'])} [{number(s['min'])}–{number(s['max'])}]"
    )


def thread_lines(report: dict[str, Any]) -> list[str]:
    """The torch thread count each framework ran with, and the calibration that picked it."""
    threads, calibration, settings = report["threads"], report["calibration"], report["settings"]
    if calibration is None:
        return [
            f"Every framework ran with {threads['pglab']} torch thread(s), as `--threads "
            f"{threads['pglab']}` asked: no calibration.",
        ]
    candidates = settings["thread_candidates"]
    lines = [
        "Each framework trains with the torch thread count (`torch.set_num_threads`; pglab's config key "
        "`torch_threads`) that ran its PPO fastest in a calibration on this machine, before the timed runs: "
        f"`{CALIBRATION_PRESET}`'s PPO (SB3 with the same hyperparameters, the plain PyTorch PPO with pglab's), "
        f"{settings['calibration_steps']:,} env steps per run, up to {settings['calibration_rounds']} round(s) "
        "with the order of the counts reversed on odd rounds (a count under "
        f"{CALIBRATION_CUTOFF:.0%} of its framework's best after a round runs no more rounds). Training env "
        "steps/s, evaluation excluded, median [min–max] over the rounds; the fastest count (the fewer threads "
        "on a tie) is used for every run of that framework, the ceiling taking pglab's. Otherwise each runs as "
        "its users get it: pglab with its defaults, `keep_freed_memory=true` included (glibc's malloc keeps freed "
        "memory for reuse: `src/pglab/allocator.py`), SB3 and the plain PyTorch PPO with the C library's.",
        "",
        "| framework | " + " | ".join(f"{t} thread{'s' * (t > 1)}" for t in candidates) + " | ran with |",
        "|---|" + "---|" * (len(candidates) + 1),
    ]
    for kind, label in FRAMEWORKS.items():
        sps = calibration["sps"][kind]
        lines.append(
            f"| {label} | "
            + " | ".join(fmt(sps.get(str(t))) for t in candidates)
            + f" | **{threads[kind]}** |"
        )
    return lines


def si(x: float | None) -> str:
    """A throughput: 1.23M, 5M, 52.1k, 950; "–" for None."""
    if x is None:
        return "–"

    def short(value: float, digits: int) -> str:
        return f"{value:.{digits}f}".rstrip("0").rstrip(".")

    if abs(x) >= 1e6:
        return short(x / 1e6, 2) + "M"
    return short(x / 1e3, 1) + "k" if abs(x) >= 1e4 else f"{x:,.0f}"


def steps(n: int) -> str:
    return f"{n:,} step{'s' * (n != 1)}"


def seconds(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f} s"


def plain(digits: int) -> Any:
    """A formatter of numbers with `digits` decimals (a true minus sign); "–" for None."""

    def formatted(x: float | None) -> str:
        return "–" if x is None else f"{x:,.{digits}f}".replace("-", "−")

    return formatted


#: each torch-backend target's one-line label and the formatter of its value and threshold
TORCH_TARGET_LINES = {
    "env_only_sps": ("the env alone", si),
    "collection_sps": ("collection (pglab's collector)", si),
    "ppo_sps": ("PPO training throughput", si),
    "ppo_vs_gymnasium": ("PPO training throughput / the gymnasium backend's", plain(1)),
    "solve_wall_s": ("CartPole solved, training wall time with evaluations, median", seconds),
    "solve_wall_s_worst": ("CartPole solved, training wall time with evaluations, every seed", seconds),
    "stable_vs_rl_zoo": ("CartPole stable solve / SB3's RL Zoo PPO's", plain(2)),
    "acrobot_return": ("Acrobot final return", plain(1)),
    "pendulum_return": ("Pendulum final return", plain(1)),
    "single_thread_ppo": ("gymnasium backend PPO / SB3, one thread each", plain(2)),
    "single_thread_a2c": ("gymnasium backend A2C / SB3, one thread each", plain(2)),
}


def verdict(target: dict[str, Any], formatter: Any) -> str:
    """ "target ≥ 1M: met" (or "not met", or "not measured" without a value)."""
    comparison, threshold = target["target"]
    state = {True: "met", False: "not met", None: "not measured"}[target["met"]]
    return f"target {'≥' if comparison == '>=' else '≤'} {formatter(threshold)}: {state}"


def median_worst(s: dict[str, Any] | None, formatter: Any) -> str:
    """ "1.23M median (worst 1.10M)"; with missing seeds, how many; "–" for none."""
    if s is None:
        return "–"
    missing = f", {s['missing']} of {s['n']} seeds never got there" if s["missing"] else ""
    return f"{formatter(s['median'])} median (worst {formatter(s['worst'])}{missing})"


def command(what: dict[str, Any]) -> str:
    """`python train.py <overrides>` of a torch-backend summary part (the seed left out)."""
    return "`python train.py " + " ".join(what["overrides"]) + "`"


def torch_backend_lines(report: dict[str, Any]) -> list[str]:
    """The "Torch env backend" section: its targets met or not, one line each, then its tables."""
    torch_backend, settings = report["torch_backend"]["summary"], report["settings"]
    targets, main_runs = torch_backend["targets"], report["summary"]["runs"]
    env_only, collection = torch_backend["env_only"], torch_backend["collection"]
    throughput, cartpole = torch_backend["ppo_throughput"], torch_backend["cartpole"]
    pairs, single_thread = torch_backend["pairs"], torch_backend["single_thread"]

    def line(name: str, text: str) -> str:
        return f"- {text}, {verdict(targets[name], TORCH_TARGET_LINES[name][1])}"

    def threads(n: int | None) -> str:
        return "–" if n is None else f"{n} torch thread{'s' * (n > 1)}"

    lines = [
        "## Torch env backend (`env.vectorization=torch`)",
        "",
        f"pglab's batched envs (`pglab.envs.batched`) and its on-device collector, every run with {TORCH_THREADS} "
        f"torch thread (`torch_threads={TORCH_THREADS}`), each measured over {settings['torch_seeds']} seed(s) "
        f"{settings['seed']}–{settings['seed'] + settings['torch_seeds'] - 1}: the median and the worst seed (the "
        "lowest throughput or return, the longest time; a seed that never solves counts as infinitely slow). The "
        "gymnasium-backend numbers they are set against are this report's: its repeats' `pglab/ppo_cartpole` and "
        f"`{RL_ZOO}` (each framework at its calibrated thread count), and this section's own Acrobot and Pendulum "
        f"runs ({settings['pair_seeds']} seed(s) per preset{': one run each, no spread' if settings['pair_seeds'] == 1 else ''}; "
        "the gymnasium side at pglab's calibrated count). Evaluations: "
        f"{settings['eval_episodes']} deterministic episodes every {settings['eval_every']:,} env steps, as "
        "everywhere in this report.",
        "",
        "Targets:",
        "",
    ]
    if env_only:
        lines.append(
            line(
                "env_only_sps",
                f"the env alone ({env_only['env_id']}, {env_only['num_envs']:,} envs, uniform random actions): "
                f"{median_worst(env_only['sps'], si)} steps/s",
            )
        )
    if collection:
        lines.append(
            line(
                "collection_sps",
                f"collection with an untrained {'×'.join(map(str, collection['hidden_sizes']))} policy at "
                f"{collection['num_envs']:,} envs, pglab's collector (`collect_rollout()`): "
                f"{median_worst(collection['collection_sps'], si)} steps/s (the bare `policy.act` + `env.step` "
                f"loop {median_worst(collection['raw_sps'], si)}; with advantages and batching "
                f"{median_worst(collection['collection_advantages_sps'], si)})",
            )
        )
    if throughput:
        config = throughput["config"]
        lines += [
            line(
                "ppo_sps",
                f"PPO training throughput at {config.get('env.num_envs', '?'):,} envs (evaluation excluded): "
                f"{median_worst(throughput['sps'], si)} steps/s",
            ),
            line(
                "ppo_vs_gymnasium",
                f"that throughput's median / the gymnasium backend's `ppo_cartpole` ({si(throughput['gymnasium_sps'] and throughput['gymnasium_sps']['median'])} "
                f"steps/s median, {threads(throughput['gymnasium_threads'])}): "
                f"{plain(1)(throughput['ratio'])}×",
            ),
        ]
    if cartpole:
        zoo, zoo_solved = cartpole["rl_zoo_stable_train_s"], cartpole["rl_zoo_solved"]
        solved = f"{cartpole['solved']}/{len(cartpole['seeds'])} seeds solved"
        lines += [
            line(
                "solve_wall_s",
                f"CartPole solved (first evaluation ≥ {SOLVED_RETURN:g}) by `{cartpole['preset']}`, training wall "
                f"time at it, evaluations included: {median_worst(cartpole['solve_wall_s'], seconds)}, {solved}",
            ),
            line(
                "solve_wall_s_worst",
                "every seed solved in time: "
                + (
                    f"worst {seconds(worst)}"
                    if (worst := targets["solve_wall_s_worst"]["value"]) is not None
                    else "a seed never solved"
                ),
            ),
            line(
                "stable_vs_rl_zoo",
                f"CartPole stable solve (every later evaluation ≥ {SOLVED_RETURN:g}) by the same runs, training "
                f"seconds without evaluation: {median_worst(cartpole['stable_train_s'], seconds)}, "
                f"{cartpole['stable']}/{len(cartpole['seeds'])} seeds stable (with evaluations "
                f"{median_worst(cartpole['stable_wall_s'], seconds)}); median / SB3's RL Zoo PPO's, its evaluation "
                f"excluded too ({seconds(zoo and zoo['median'])} median, solved "
                f"{zoo_solved[0] if zoo_solved else 0}/{zoo_solved[1] if zoo_solved else 0}): "
                f"{plain(2)(cartpole['stable_ratio'])}",
            ),
        ]
    for env in GYMNASIUM_PRESETS:
        pair = pairs.get(env)
        if pair:
            mine = pair["torch"]
            lines.append(
                line(
                    f"{env}_return",
                    f"{env.capitalize()} final return by `{mine['preset']}`: "
                    f"{median_worst(mine['final_return'], plain(1))}, wall time / `{pair['gymnasium']['preset']}`'s "
                    f"{plain(2)(pair['wall_ratio'])}",
                )
            )
    if single_thread:
        source = (
            f"{single_thread['repeats']} repeat(s) of {single_thread['steps']:,}-env-step runs in this section"
            if single_thread["source"] == "single_thread"
            else f"the repeats' own pairs ({single_thread['repeats']} repeat{'s' * (single_thread['repeats'] != 1)}), "
            "which ran single-threaded"
        )
        for algo in SAME_HYPERPARAMETERS:
            ratio = single_thread["ratios"][algo]
            lines.append(
                line(
                    f"single_thread_{algo}",
                    f"gymnasium backend {algo.upper()} training steps/s / SB3's with the same hyperparameters, one "
                    f"torch thread each ({source}): {fmt(ratio, 2)}",
                )
            )
    lines += [
        "",
        "| measurement | what ran | median | worst | min–max | seeds |",
        "|---|---|---|---|---|---|",
    ]

    def row(measurement: str, what: str, s: dict[str, Any] | None, formatter: Any) -> None:
        if s is not None:
            lines.append(
                f"| {measurement} | {what} | {formatter(s['median'])} | {formatter(s['worst'])} | "
                f"{formatter(s['min'])}–{formatter(s['max']) if s['min'] is not None else '–'} | "
                f"{s['n'] - s['missing']}/{s['n']} |"
            )

    if env_only:
        row(
            "env alone, steps/s",
            f'`make_batched_env("{env_only["env_id"]}", {env_only["num_envs"]})`, `env.step` with uniform random '
            "actions drawn on the device",
            env_only["sps"],
            si,
        )
    if collection:
        policy = f"untrained {'×'.join(map(str, collection['hidden_sizes']))} policy, {collection['num_envs']:,} envs"
        row(
            "collection, bare loop, steps/s",
            f"`policy.act` + `env.step` under `no_grad`, {policy}",
            collection["raw_sps"],
            si,
        )
        row(
            "collection, pglab's collector, steps/s",
            f"`collect_rollout()` of `experiment={collection['preset']}`, {steps(collection['num_steps'])} per rollout, {policy}",
            collection["collection_sps"],
            si,
        )
        row(
            "collection + advantages, steps/s",
            "`collect_rollout()` + `prepare_batch()`",
            collection["collection_advantages_sps"],
            si,
        )
    if throughput:
        config = throughput["config"]
        rollout = config.get("env.num_envs", 0) * config.get("algo.num_steps", 0)
        minibatches = config.get("algo.num_minibatches", 1)
        sizes = (
            f"rollout {rollout:,} = {config.get('env.num_envs', 0):,} envs × {steps(config.get('algo.num_steps', 0))} "
            f"(the preset's steps per env, epochs and minibatch count kept), {minibatches} minibatch(es) of {rollout // minibatches:,}, "
            f"{config.get('algo.update_epochs', '?')} epochs"
        )
        row(
            "PPO training, steps/s (evaluation excluded)",
            f"{command(throughput)}: {sizes}",
            throughput["sps"],
            si,
        )
    if cartpole:
        what = f"{command(cartpole)}, {cartpole['env_steps']:,} env steps"
        row("CartPole first solve, wall s (evaluations included)", what, cartpole["solve_wall_s"], seconds)
        row("CartPole first solve, env steps", "the same runs", cartpole["solve_env_steps"], plain(0))
        row(
            "CartPole stable solve, training s (evaluation excluded)",
            "the same runs",
            cartpole["stable_train_s"],
            seconds,
        )
        row(
            "CartPole stable solve, wall s (evaluations included)",
            "the same runs",
            cartpole["stable_wall_s"],
            seconds,
        )
        zoo = main_runs.get(RL_ZOO)
        if zoo and zoo["solve_train_s"]:
            s = zoo["solve_train_s"]
            lines.append(
                f"| SB3 RL Zoo PPO stable solve, training s (evaluation excluded) | this report's `{RL_ZOO}` | "
                f"{seconds(s['median'])} | {seconds(s['max'])} | {seconds(s['min'])}–{seconds(s['max'])} | "
                f"{zoo['solved']}/{zoo['repeats']} |"
            )
    if any(pairs.values()):
        lines += [
            "",
            "| env | backend | what ran | torch threads | seeds | env steps | final return | wall s (evaluations "
            "included) | training s (evaluation excluded) | steps/s | wall time, torch / gymnasium |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for env, pair in pairs.items():
            if not pair:
                continue
            for backend in ("torch", "gymnasium"):
                side = pair[backend]
                lines.append(
                    f"| {env.capitalize()} | {backend} | {command(side)} | {side['threads']} | {len(side['seeds'])} | "
                    f"{side['env_steps']:,} | {median_worst(side['final_return'], plain(1))} | "
                    f"{median_worst(side['wall_s'], seconds)} | {median_worst(side['train_s'], seconds)} | "
                    f"{median_worst(side['sps'], si)} | {plain(2)(pair['wall_ratio']) if backend == 'torch' else ''} |"
                )
    if single_thread:
        lines += [
            "",
            "| algorithm, one torch thread each | pglab (gymnasium backend) steps/s | SB3 steps/s | pglab / SB3 (per repeat) |",
            "|---|---|---|---|",
        ]
        for algo, (pglab, sb3) in SAME_HYPERPARAMETERS.items():
            prefix = "single_thread/" if single_thread["source"] == "single_thread" else ""
            sps = single_thread["sps"]
            lines.append(
                f"| {algo.upper()} (`experiment={pglab.split('/')[1]}`) | {fmt(sps.get(prefix + pglab))} | "
                f"{fmt(sps.get(prefix + sb3))} | {fmt(single_thread['ratios'][algo], 2)} |"
            )
    return lines + [""]


def markdown(report: dict[str, Any]) -> str:
    """`docs/benchmarks.md`: the settings and machine, the headline ratios and one table per measurement."""
    summary, info, settings = report["summary"], report["machine"], report["settings"]
    runs, ceilings, ratios = summary["runs"], summary["ceilings"], summary["ratios"]
    best, threads = summary["best_preset"], report["threads"]
    pglab_ppo, sb3_ppo = (runs[name] for name in HEADLINE_SOLVE)
    best_run, zoo = runs[f"pglab/{best}"], runs[RL_ZOO]

    def solve(run: dict[str, Any]) -> str:
        return f"{fmt(run['solve_train_s'], 1, ' s')}, solved {run['solved']}/{run['repeats']}"

    def ratio_of_medians(value: float | None) -> str:
        return f"{value:.2f}" if value is not None else "–"

    lines = ["# Benchmarks", ""]
    if settings["quick"]:
        lines += [
            "**QUICK MODE**: tiny budgets for a smoke check of the harness; the numbers are noisy and say "
            "nothing about full runs.",
            "",
        ]
    lines += [
        f"Measured {report['date']} with `{settings['command']}`: {settings['repeats']} repeat(s), seeds "
        f"{settings['seed']}–{settings['seed'] + settings['repeats'] - 1}, pglab and Stable-Baselines3 runs interleaved. "
        "Each cell is the median [min–max] over the repeats; a ratio is taken within each repeat, then "
        "summarized. How each number is measured: the docstring of `pglab.benchmark` (src/pglab/benchmark/__init__.py).",
        "",
        "| machine | |",
        "|---|---|",
        f"| CPU | {cpu_line(info)}, {info['cores']} cores, {info['memory_gib']} GiB |",
        f"| OS, Python | {info['os']}, Python {info['python']} |",
        "| versions | " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()) + " |",
        "| torch threads | "
        + ", ".join(f"{label} {threads[kind]}" for kind, label in FRAMEWORKS.items())
        + (
            f" (each its fastest of {', '.join(map(str, settings['thread_candidates']))}: see Torch threads) |"
            if report["calibration"]
            else " (given by `--threads`) |"
        ),
        "",
        "## Headline (the project's performance targets in parentheses)",
        "",
        f"- PPO training steps/s, pglab / SB3 with the same hyperparameters: **{fmt(ratios['ppo'], 2)}** "
        f"(target {TARGETS['ppo']})",
        f"- A2C training steps/s, pglab / SB3 with the same hyperparameters: **{fmt(ratios['a2c'], 2)}** "
        f"(target {TARGETS['a2c']})",
        f"- Time to a stable solve, same algorithm and hyperparameters: pglab PPO (`ppo_cartpole`, {solve(pglab_ppo)}) "
        f"/ SB3 PPO ({solve(sb3_ppo)}), ratio of medians: **{ratio_of_medians(ratios['solve'])}** "
        f"(target {TARGETS['solve']})",
        f"- Time to a stable solve, each side's fastest: best pglab preset (`{best}`, {solve(best_run)}) / SB3's RL "
        f"Zoo PPO ({solve(zoo)}), ratio of medians: {ratio_of_medians(ratios['solve_best_preset'])}",
        "- Rollout collection plus advantages (like for like: SB3's `collect_rollouts` computes its GAE), pglab's "
        f"throughput / SB3's with the same hyperparameters: PPO **{fmt(ratios['collection']['ppo'], 2)}**, A2C "
        f"**{fmt(ratios['collection']['a2c'], 2)}**",
        f"- PPO rollout collection plus advantages / ceiling: **{fmt(ceilings['ppo_cartpole']['collection_fraction'], 2)}** "
        f"(target {TARGETS['collection']}); PPO training / ceiling: {fmt(ceilings['ppo_cartpole']['training_fraction'], 2)}",
        f"- Peak memory, pglab PPO / plain PyTorch PPO: **{fmt(ratios['memory'], 2)}** (target {TARGETS['memory']})",
        "",
        *(torch_backend_lines(report) if "torch_backend" in report else []),
        "## Torch threads",
        "",
        *thread_lines(report),
        "",
        "## Training throughput (env steps/s, evaluation time excluded)",
        "",
        "The ceiling is pglab's vector env stepped by its untrained policy, no learning and no advantages; pglab's "
        "collection is compared with it as with SB3, advantages included (collection alone beside it).",
        "",
        "| algorithm | pglab | SB3, same hyperparameters | pglab / SB3 | ceiling: raw loop | pglab collection "
        "+ advantages | pglab collection alone | collection + advantages / ceiling | pglab training / ceiling |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for preset in PRESETS:
        algo = preset.split("_")[0]
        sb3 = runs.get(f"sb3/{preset}")
        c = ceilings[preset]
        lines.append(
            f"| {algo} (`experiment={preset}`) | {fmt(runs[f'pglab/{preset}']['sps'])} | "
            f"{fmt(sb3['sps']) if sb3 else '–'} | {fmt(ratios.get(algo), 2) if sb3 else '–'} | {fmt(c['raw_sps'])} | "
            f"{fmt(c['collection_advantages_sps'])} | {fmt(c['collection_sps'])} | {fmt(c['collection_fraction'], 2)} | "
            f"{fmt(c['training_fraction'], 2)} |"
        )
    lines += [
        f"| plain PyTorch PPO (CleanRL-style, pglab's PPO hyperparameters, no evaluation) | {fmt(runs['plain/ppo']['sps'])} "
        "| | | | | | | |",
        f"| SB3 PPO, RL Zoo's tuned CartPole settings | | {fmt(runs[RL_ZOO]['sps'])} | | | | | | |",
        "",
        f"## Stable solve (evaluation ≥ {SOLVED_RETURN:g} from then on; {settings['eval_episodes']} deterministic episodes "
        f"every {settings['eval_every']:,} env steps; training seconds exclude evaluation)",
        "",
        f"The headline pair is `{HEADLINE_SOLVE[0]}` and `{HEADLINE_SOLVE[1]}`: the same PPO with the same "
        "hyperparameters (RL Zoo's tuned CartPole PPO, mapped from pglab's preset by `sb3_hyperparameters`, without "
        f"RL Zoo's clip-range annealing). The second line sets the best pglab preset, `{best}` here (solved in the "
        f"most repeats, then the shortest median time), against `{RL_ZOO}`, RL Zoo's own settings.",
        "",
        "| run | solved | env steps to the solve | training s to the solve | budget, env steps |",
        "|---|---|---|---|---|",
    ]
    budgets = {r["name"]: r["env_steps"] for r in report["results"] if "env_steps" in r}
    for name, run in runs.items():
        if name != "plain/ppo":
            lines.append(
                f"| {name} | {run['solved']}/{run['repeats']} | {fmt(run['solve_env_steps'])} | "
                f"{fmt(run['solve_train_s'], 1)} | {budgets[name]:,} |"
            )
    lines += [
        "",
        "## Where the training time goes (ms per 1,000 env steps; evaluation excluded)",
        "",
        "Collection plus advantages is what compares across frameworks: SB3's `collect_rollouts` ends with its GAE "
        "(`RolloutBuffer.compute_returns_and_advantage`); pglab times the two apart (`time/collect_s`, "
        "`time/advantages_s` in the run's `summary.json`). The columns after it split it: SB3's GAE is timed by a "
        "wrapper and subtracted from its `collect_rollouts`; pglab's advantages also build the update's batch "
        "(SB3 flattens its buffer inside `train`, among its updates).",
        "",
        "| run | torch threads | collection + advantages | " + " | ".join(BREAKDOWN.values()) + " | total |",
        "|---|---|---|" + "---|" * (len(BREAKDOWN) + 1),
    ]
    for name, run in runs.items():
        if run["breakdown"]:
            total = sum(part["median"] for part in run["breakdown"].values())
            lines.append(
                f"| {name} | {run['threads']} | {fmt(run['collection_advantages'], 1)} | "
                + " | ".join(fmt(run["breakdown"][part], 1) for part in BREAKDOWN)
                + f" | {total:.1f} |"
            )
    lines += [
        "",
        "## Memory and startup",
        "",
        "| run | peak resident memory, MiB | / plain PyTorch PPO | process start to first env step, s |",
        "|---|---|---|---|",
    ]
    plain_rss = runs["plain/ppo"]["peak_rss_mib"]["median"]
    for name, run in runs.items():
        lines.append(
            f"| {name} | {fmt(run['peak_rss_mib'])} | {run['peak_rss_mib']['median'] / plain_rss:.2f} | "
            f"{fmt(run['first_step_s'], 2)} |"
        )
    lines += [
        "",
        "SB3 runs map pglab's hyperparameters exactly (`sb3_hyperparameters` in `pglab.benchmark.sb3_config`: SB3's `vf_coef` is "
        "pglab's / 2 because SB3's value loss is the MSE and pglab's 0.5 × MSE; the annealing schedule is shifted "
        "by one rollout because SB3 reads the progress after the rollout). RL Zoo's PPO anneals the clip range "
        "(`lin_0.2`), which pglab does not; it is SB3's tuned reference for the second solve line, not a same-"
        "hyperparameter comparison. pglab's training time includes its checkpoints (`last.ckpt` every 50k env "
        "steps, `best.ckpt` whenever the evaluation improves) and progress bar, as a user's run does.",
        "",
        "![benchmark](figures/benchmark.png)",
        "",
    ]
    return "\n".join(lines)


def write_report(report: dict[str, Any], out_dir: Path) -> list[Path]:
    """`benchmarks.json`, `benchmarks.md` and `figures/benchmark.png` in `out_dir`; returns their paths."""
    paths = [out_dir / "benchmarks.md", out_dir / "benchmarks.json", out_dir / "figures" / "benchmark.png"]
    out_dir.mkdir(parents=True, exist_ok=True)
    paths[1].write_text(json.dumps(report, indent=2) + "\n")
    paths[0].write_text(markdown(report))
    plot(report, paths[2])
    return paths
