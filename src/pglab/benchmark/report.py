"""The report of a benchmark: the machine it ran on, the markdown tables and the files it writes."""

import json
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from pglab.benchmark.figure import plot
from pglab.benchmark.plan import CALIBRATION_PRESET, FRAMEWORKS, PRESETS
from pglab.benchmark.summary import CALIBRATION_CUTOFF, HEADLINE_SOLVE, RL_ZOO, SOLVED_RETURN
from pglab.benchmark.timing import BREAKDOWN

#: the project's performance targets, printed next to the measured ratios
TARGETS = {"ppo": "≥ 1.5", "a2c": "≥ 1.5", "solve": "≤ 0.5", "collection": "≥ 0.8", "memory": "≤ 1.2"}


def machine() -> dict[str, Any]:
    """The CPU, core count, memory, OS, Python and the versions of the packages that the runs measure."""
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
        "cores": os.cpu_count(),
        "memory_gib": round(int(meminfo[1]) / 2**20, 1) if meminfo[:1] == ["MemTotal:"] else None,
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
    }


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
        "on a tie) is used for every run of that framework, the ceiling taking pglab's.",
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
        f"| CPU | {info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB |",
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
