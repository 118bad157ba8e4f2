"""The benchmark's figure: throughput, collection plus advantages (like for like), training seconds to a stable
solve and peak memory, as bar charts."""

from pathlib import Path
from typing import Any

from pglab.benchmark.plan import FRAMEWORKS, PRESETS
from pglab.benchmark.summary import HEADLINE_SOLVE, SAME_HYPERPARAMETERS

COLORS = {"pglab": "C0", "SB3": "C1", "plain": "C2", "ceiling": "0.75"}  # bar colors by label prefix


def display_name(name: str) -> str:
    """A run name as a plot label: "sb3/ppo_cartpole" -> "SB3 ppo_cartpole"."""
    return name.replace("pglab/", "pglab ").replace("sb3/", "SB3 ").replace("plain/", "plain PyTorch ")


def plot(report: dict[str, Any], path: Path) -> None:
    """Four bar charts with min–max error bars: throughput, collection plus advantages per 1,000 env steps
    (pglab and SB3, same hyperparameters), training seconds to a stable solve (the headline pair, pglab PPO and
    SB3 PPO with the same hyperparameters, first), peak memory."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs, ceilings = report["summary"]["runs"], report["summary"]["ceilings"]

    def bars(ax, entries: list[tuple[str, dict | None]], title: str, ylabel: str) -> None:
        entries = [(label, s) for label, s in entries if s is not None]
        if not entries:
            ax.text(0.5, 0.5, "no run reached it", ha="center", va="center", transform=ax.transAxes)
        medians = [s["median"] for _, s in entries]
        errors = [[s["median"] - s["min"] for _, s in entries], [s["max"] - s["median"] for _, s in entries]]
        colors = [next(c for prefix, c in COLORS.items() if label.startswith(prefix)) for label, _ in entries]
        ax.bar(range(len(entries)), medians, yerr=errors, capsize=3, color=colors)
        ax.set_xticks(
            range(len(entries)), [label for label, _ in entries], rotation=60, ha="right", fontsize=7
        )
        ax.set_title(title, fontsize=9)
        ax.set_ylabel(ylabel)
        ax.grid(axis="y", alpha=0.3)

    fig, axes = plt.subplots(1, 4, figsize=(18, 5), dpi=100)
    throughput = []
    for preset in PRESETS:
        algo = preset.split("_")[0]
        throughput += [(f"pglab {algo}", runs[f"pglab/{preset}"]["sps"])]
        if f"sb3/{preset}" in runs:
            throughput += [(f"SB3 {algo}", runs[f"sb3/{preset}"]["sps"])]
        throughput += [(f"ceiling {algo}", ceilings[preset]["raw_sps"])]
    throughput += [
        ("plain PyTorch PPO", runs["plain/ppo"]["sps"]),
        ("SB3 RL Zoo PPO", runs["sb3/rl_zoo_ppo"]["sps"]),
    ]
    bars(axes[0], throughput, "training env steps/s (evaluation excluded)", "env steps / s")
    collection = [
        (f"{display_name(name).split()[0]} {algo}", runs[name]["collection_advantages"])
        for algo, pair in SAME_HYPERPARAMETERS.items()
        for name in pair
    ]
    bars(
        axes[1],
        collection,
        "rollout collection + advantages, same hyperparameters\n(SB3's collect_rollouts includes its GAE)",
        "ms per 1,000 env steps",
    )
    solved = [*HEADLINE_SOLVE, *(n for n in runs if n not in HEADLINE_SOLVE and n != "plain/ppo")]
    bars(
        axes[2],
        [(display_name(n), runs[n]["solve_train_s"]) for n in solved],
        "training seconds to a stable solve (solved runs)\nheadline: the first two, PPO, same hyperparameters",
        "s",
    )
    bars(
        axes[3],
        [(display_name(n), r["peak_rss_mib"]) for n, r in runs.items()],
        "peak resident memory",
        "MiB",
    )
    threads = ", ".join(f"{label} {report['threads'][kind]}" for kind, label in FRAMEWORKS.items())
    title = f"pglab vs Stable-Baselines3 on CartPole-v1, median and min–max; torch threads: {threads}"
    fig.suptitle(title + (" (QUICK MODE: smoke values)" if report["settings"]["quick"] else ""))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
