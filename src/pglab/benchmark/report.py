"""The report of a benchmark: the machine it ran on, the markdown tables and the files it writes."""

import json
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from pglab.benchmark.figure import plot
from pglab.benchmark.plan import PRESETS
from pglab.benchmark.summary import SOLVED_RETURN
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


def markdown(report: dict[str, Any]) -> str:
    """`docs/benchmarks.md`: the settings and machine, the headline ratios and one table per measurement."""
    summary, info, settings = report["summary"], report["machine"], report["settings"]
    runs, ceilings, ratios = summary["runs"], summary["ceilings"], summary["ratios"]
    best = summary["best_preset"]
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
        "",
        "## Headline (the project's performance targets in parentheses)",
        "",
        f"- PPO training steps/s, pglab / SB3 with the same hyperparameters: **{fmt(ratios['ppo'], 2)}** "
        f"(target {TARGETS['ppo']})",
        f"- A2C training steps/s, pglab / SB3: **{fmt(ratios['a2c'], 2)}** (target {TARGETS['a2c']})",
        f"- Time to a stable solve, best pglab preset (`{best}`, {fmt(runs[f'pglab/{best}']['solve_train_s'], 1, ' s')}) "
        f"/ SB3's RL Zoo PPO ({fmt(runs['sb3/rl_zoo_ppo']['solve_train_s'], 1, ' s')}), ratio of medians: **"
        + (f"{ratios['solve']:.2f}" if ratios["solve"] is not None else "–")
        + f"** (target {TARGETS['solve']})",
        f"- PPO rollout collection / ceiling: **{fmt(ceilings['ppo_cartpole']['collector_fraction'], 2)}** "
        f"(target {TARGETS['collection']}); PPO training / ceiling: {fmt(ceilings['ppo_cartpole']['training_fraction'], 2)}",
        f"- Peak memory, pglab PPO / plain PyTorch PPO: **{fmt(ratios['memory'], 2)}** (target {TARGETS['memory']})",
        "",
        "## Training throughput (env steps/s, evaluation time excluded)",
        "",
        "| algorithm | pglab | SB3, same hyperparameters | pglab / SB3 | ceiling: raw loop | pglab collector | "
        "collector / ceiling | pglab training / ceiling |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for preset in PRESETS:
        algo = preset.split("_")[0]
        sb3 = runs.get(f"sb3/{preset}")
        c = ceilings[preset]
        lines.append(
            f"| {algo} (`experiment={preset}`) | {fmt(runs[f'pglab/{preset}']['sps'])} | "
            f"{fmt(sb3['sps']) if sb3 else '–'} | {fmt(ratios.get(algo), 2) if sb3 else '–'} | {fmt(c['raw_sps'])} | "
            f"{fmt(c['collector_sps'])} | {fmt(c['collector_fraction'], 2)} | {fmt(c['training_fraction'], 2)} |"
        )
    lines += [
        f"| plain PyTorch PPO (CleanRL-style, pglab's PPO hyperparameters, no evaluation) | {fmt(runs['plain/ppo']['sps'])} "
        "| | | | | | |",
        f"| SB3 PPO, RL Zoo's tuned CartPole settings | | {fmt(runs['sb3/rl_zoo_ppo']['sps'])} | | | | | |",
        "",
        f"## Stable solve (evaluation ≥ {SOLVED_RETURN:g} from then on; {settings['eval_episodes']} deterministic episodes "
        f"every {settings['eval_every']:,} env steps; training seconds exclude evaluation)",
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
        "| run | " + " | ".join(BREAKDOWN.values()) + " | total |",
        "|---|" + "---|" * (len(BREAKDOWN) + 1),
    ]
    for name, run in runs.items():
        if run["breakdown"]:
            total = sum(part["median"] for part in run["breakdown"].values())
            lines.append(
                f"| {name} | "
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
        "(`lin_0.2`), which pglab does not; it is SB3's tuned reference for the solve time, not a same-"
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
