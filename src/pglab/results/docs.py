"""The docs' measured numbers, written from the results records into marked blocks.

A block is the text between a begin and an end marker; everything between them is rewritten:

- Markdown (README.md, docs/guide.md): `<!-- results: NAME -->` ... `<!-- /results -->`;
- a preset (conf/experiment/*.yaml): `# results: NAME` ... `# /results` (its `MEASURED:` comment).

`write_all()` rewrites every block (`python scripts/reproduce.py --docs`; writing a record does it too), and
`stale_files()` lists the files whose blocks differ from what the records give, which a fast test asserts is
none. Prose around a block (what a number means) is the writer's; a block holds only what a record says.
"""

import json
import re
import statistics
import textwrap
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pglab.results import record
from pglab.results.reproduce import PRESETS_DIR, RESULTS_DIR, ROOT

MARKDOWN = ("<!-- results: ", " -->", "<!-- /results -->")
#: the benchmark's results record (`scripts/benchmark.py` writes it with docs/benchmarks.md)
BENCHMARKS = ROOT / "docs" / "benchmarks.json"
BACKENDS = ROOT / "docs" / "backends.json"  # scripts/backends.py
YAML = ("# results: ", "", "# /results")

#: the README's preset tables: each preset's row label, in table order
CARTPOLE_PRESETS = {
    "ppo_cartpole": "RL Zoo's tuned PPO; the default `algo=ppo`",
    "a2c_cartpole": "SB3 A2C defaults",
    "vpg_cartpole": "Spinning Up VPG",
    "reinforce_cartpole": "",
    "reinforce_cartpole_hf": "Hugging Face course",
    "ppo_cartpole_cleanrl": "CleanRL `ppo.py`",
    "ppo_acrobot": "",
    "ppo_pendulum": "RL Zoo's Pendulum PPO, no gSDE",
}
OTHER_PRESETS = {
    "ppo_mountaincar": "RL Zoo's hyperparameters",
    "ppo_lunarlander": "RL Zoo's",
    "ppo_lunarlander_continuous": "RL Zoo's",
    "ppo_halfcheetah": "CleanRL's MuJoCo PPO",
    "ppo_hopper": "CleanRL's MuJoCo PPO",
    "ppo_pixelcopter": "",
    "reinforce_pixelcopter_hf": "Hugging Face course",
    "ppo_pong_ple": "",
    "reinforce_pong_ple_hf": "Hugging Face course",
    "ppo_pong": "CleanRL's Atari PPO",
}
#: the torch backend's presets (`env.vectorization=torch`)
TORCH_PRESETS = {
    "ppo_cartpole_torch": "",
    "ppo_acrobot_torch": "",
    "ppo_pendulum_torch": "",
    "ppo_pixelcopter_torch": "",
}
#: the guide's questions: each block's studies, as (label, record name)
GUIDE = {
    "guide-lr": [
        ("lr 1e-2 (the default)", "guide_reinforce"),
        ("lr 1e-3", "guide_reinforce_lr_1e-3"),
        ("lr 1e-1", "guide_reinforce_lr_1e-1"),
    ],
    "guide-gamma": [
        ("γ 0.99 (the default)", "guide_reinforce"),
        ("γ 0.9", "guide_reinforce_gamma_0.9"),
        ("γ 1.0", "guide_reinforce_gamma_1.0"),
    ],
    "guide-normalization": [
        ("standardized reward-to-go (the default)", "guide_reinforce"),
        ("raw reward-to-go", "guide_reinforce_raw"),
        ("raw reward-to-go minus the batch mean", "guide_reinforce_raw_mean_baseline"),
    ],
    "guide-entropy": [
        ("ent_coef 0 (the default)", "guide_reinforce"),
        ("ent_coef 0.01", "guide_reinforce_ent_0.01"),
        ("ent_coef 0.05", "guide_reinforce_ent_0.05"),
    ],
}


# ---------------------------------------------------------------------------------------------- formatting
def steps(value: int | None) -> str:
    return "never" if value is None else f"{value:,}"


def span(values: Iterable[float], digits: int = 0) -> str:
    """`low–high` (or one value), e.g. wall seconds across seeds."""
    values = sorted(values)
    low, high = f"{values[0]:,.{digits}f}", f"{values[-1]:,.{digits}f}"
    return low if low == high else f"{low}–{high}"


def final_return(entry: dict[str, Any], score: str) -> str:
    final = entry["final"]
    text = f"{final['mean']:.1f} ± {final['std']:.1f}"
    return f"{text} (mean − std {final['score']:.1f})" if score == "mean_minus_std" else text


def seeds_of(result: dict[str, Any]) -> list[str]:
    return sorted(result["seeds"], key=int)


def load(name: str, results_dir: Path) -> dict[str, Any]:
    path = results_dir / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: write it with python scripts/reproduce.py {name}")
    return record.load(path)


def listing(values: list[str]) -> str:
    """`a, b, c`, or `a (each)` when they are all the same."""
    return f"{values[0]} (each)" if len(values) > 1 and len(set(values)) == 1 else ", ".join(values)


def provenance_line(results: list[dict[str, Any]]) -> str:
    """Where and when the records were measured (each distinct date, commit, CPU and parallelism once)."""
    dates = sorted({r["date"] for r in results})
    commits = sorted({r["commit"][:7] + (" with uncommitted changes" if r["dirty"] else "") for r in results})
    parts = [f"{', '.join(dates)} at commit{'s' if len(commits) > 1 else ''} {', '.join(commits)}"]
    machines = sorted({f"{r['machine']['cpu']}, {r['machine']['cores']} cores" for r in results})
    jobs = sorted({r["jobs"] for r in results})
    loads = [e["load_average"][1] for r in results for e in r["seeds"].values() if e.get("load_average")]
    load = f"; the 5-minute load average at the end of a run was {span(loads, 1)}" if loads else ""
    return (
        f"Measured {'; '.join(parts)} on {'; '.join(machines)}, "
        f"{' or '.join(map(str, jobs))} run{'s' if jobs[-1] > 1 else ''} of a record at a time "
        f"(`torch_threads=1` each){load}. Wall time includes the evaluations and checkpoints."
    )


# ---------------------------------------------------------------------------------------------- README
def preset_table(presets: dict[str, str], results_dir: Path) -> str:
    header = (
        "| preset | env | seeds | env steps | final eval return | threshold (score) | first ≥ threshold at "
        "| stable from (every later eval ≥ threshold) | wall s per run | steps/s |\n"
        "|---|---|---|---|---|---|---|---|---|---|"
    )
    rows, results = [], []
    for name, label in presets.items():
        r = load(name, results_dir)
        results.append(r)
        seeds = seeds_of(r)
        entries = [r["seeds"][s] for s in seeds]
        score = "mean" if r["score"] == "mean" else "mean − std"
        rows.append(
            "| "
            + " | ".join(
                [
                    f"`{name}`" + (f" ({label})" if label else ""),
                    r["env_id"],
                    ", ".join(seeds),
                    span([e["env_steps"] for e in entries]),
                    listing([final_return(e, r["score"]) for e in entries]),
                    f"{r['threshold']:g} ({score} of {r['eval_episodes']})",
                    ", ".join(steps(e["first_at"]) for e in entries),
                    ", ".join(steps(e["stable_from"]) for e in entries),
                    span([e["wall_s"] for e in entries]),
                    span([e["sps"] for e in entries]),
                ]
            )
            + " |"
        )
    return "\n".join([header, *rows, "", provenance_line(results)])


def seed_table(name: str, results_dir: Path) -> str:
    r = load(name, results_dir)
    lines = [
        f"| seed | final eval return ({r['eval_episodes']} episodes) | first eval ≥ {r['threshold']:g} at "
        "| stable from | env steps | wall s | steps/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for seed in seeds_of(r):
        e = r["seeds"][seed]
        lines.append(
            f"| {seed} | {final_return(e, r['score'])} | {steps(e['first_at'])} | {steps(e['stable_from'])} "
            f"| {e['env_steps']:,} | {e['wall_s']:.1f} | {e['sps']:,.0f} |"
        )
    return "\n".join([*lines, "", provenance_line([r])])


def pong_cpu(results_dir: Path) -> str:
    """What the `ppo_pong` record (a CPU run at a cut budget) shows: speed and the evaluation curve."""
    r = load("ppo_pong", results_dir)
    e = r["seeds"]["0"]
    curve = ", ".join(f"{mean:.1f} at {step / 1000:,.0f}k" for step, mean, _ in e["eval"])
    text = (
        f"Seed 0 on the {r['machine']['cores']}-core machine: {e['env_steps']:,} env steps "
        f"({4 * e['env_steps'] / 1e6:.1f}M frames) in {e['wall_s']:,.0f} s, {e['sps']:,.0f} env steps/s. "
        f"Evaluation ({r['eval_episodes']} deterministic games): {curve}; the final {final_return(e, r['score'])}. "
        f"Training episodes scored {e['last']['rollout/episode_return_mean']:.1f} on average in the last rollout "
        f"that ended one (record: `docs/results/ppo_pong.json`)."
    )
    return "\n".join(textwrap.wrap(text, 110))


def cartpole_algorithms(results_dir: Path) -> str:
    """From which env step each algorithm's CartPole preset holds the threshold, per seed."""
    parts = []
    for name in ("ppo_cartpole", "a2c_cartpole", "vpg_cartpole", "reinforce_cartpole"):
        r = load(name, results_dir)
        seeds = [s for s in seeds_of(r) if int(s) < 3]
        held = ", ".join(steps(r["seeds"][s]["stable_from"]) for s in seeds)
        parts.append(f"`{name}` from {held}")
    text = (
        "Each line ends at its preset's budget. Every later evaluation stays ≥ 475 from these env steps on, "
        f"seeds 0, 1, 2: {'; '.join(parts)}."
    )
    return "\n".join(textwrap.wrap(text, 110))


def benchmark_section(heading: str, benchmarks: Path) -> str:
    """A section of the benchmark's report (`docs/benchmarks.md`, as `pglab.benchmark.report` writes it from
    `docs/benchmarks.json`), without its heading: the README shows the headline and where the time goes."""
    import json

    from pglab.benchmark.report import markdown

    if not benchmarks.exists():
        raise FileNotFoundError(f"{benchmarks} is missing: write it with python scripts/benchmark.py")
    report = json.loads(benchmarks.read_text())
    sections = re.split(r"^## ", markdown(report), flags=re.M)
    section = next(s for s in sections if s.startswith(heading))
    body = section.split("\n", 1)[1].strip()
    return f"{body}\n\nMeasured {report['date'][:10]} with `{report['settings']['command']}` ([docs/benchmarks.md](docs/benchmarks.md))."


# ---------------------------------------------------------------------------------------------- presets
def measured_comment(name: str, results_dir: Path) -> str:
    """A preset's `MEASURED:` comment: every seed's final evaluation and crossings, the time per run."""
    r = load(name, results_dir)
    seeds = seeds_of(r)
    entries = [r["seeds"][s] for s in seeds]
    score = "mean" if r["score"] == "mean" else "mean - std"
    kind = "deterministic" if r["deterministic"] else "sampled"
    text = (
        f"MEASURED (docs/results/{name}.json, {r['date']}, commit {r['commit'][:7]}): "
        f"seed{'s' if len(seeds) > 1 else ''} {', '.join(seeds)} at {span([e['env_steps'] for e in entries])} "
        f"env steps: final eval ({r['eval_episodes']} {kind} episodes) "
        f"{listing([final_return(e, r['score']).replace('−', '-') for e in entries])}; "
        f"{score} >= {r['threshold']:g} first at {', '.join(steps(e['first_at']) for e in entries)} env steps, "
        f"at every later evaluation from {', '.join(steps(e['stable_from']) for e in entries)}; "
        f"{span([e['wall_s'] for e in entries])} s per run ({span([e['sps'] for e in entries])} steps/s, "
        f"{r['jobs']} run{'s' if r['jobs'] > 1 else ''} at a time on {r['machine']['cores']} CPU cores). "
        f"Command: {r['command']} (--check replays it)"
    )
    return "\n".join("# " + line for line in textwrap.wrap(text, 106))


# ---------------------------------------------------------------------------------------------- guide
def guide_block(question: str, results_dir: Path) -> str:
    studies = GUIDE[question]
    results = [(label, load(name, results_dir)) for label, name in studies]
    seeds = seeds_of(results[0][1])
    steps_text = span([results[0][1]["seeds"][s]["env_steps"] for s in seeds])
    finals = []
    for label, r in results:
        returns = [r["seeds"][s]["final"]["mean"] for s in seeds]
        finals.append(
            f"{label} {', '.join(f'{v:.1f}' for v in returns)} "
            f"(mean {statistics.mean(returns):.1f} ± {statistics.stdev(returns):.1f})"
        )
    text = (
        f"Final evaluation at {steps_text} env steps, seeds {', '.join(seeds)} (mean ± std across the seeds; "
        f"records `docs/results/{studies[0][1]}*.json`): {'; '.join(finals)}."
    )
    if question == "guide-entropy":
        entropies = [
            f"{statistics.mean(r['seeds'][s]['last']['losses/entropy'] for s in seeds):.2f}"
            for _, r in results
        ]
        text += (
            f" Policy entropy in the last update (mean over the seeds): {', '.join(entropies)} nats for "
            f"{', '.join(label.split(' (')[0] for label, _ in results)}."
        )
    return "\n".join(textwrap.wrap(text, 110))


def backends_table(path: Path) -> str:
    """The README's backend comparison, from `scripts/backends.py`'s JSON."""
    from pglab.benchmark.backends import markdown

    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run python scripts/backends.py")
    return markdown(json.loads(path.read_text()))


# ---------------------------------------------------------------------------------------------- blocks
def renderers(results_dir: Path) -> dict[str, Callable[[], str]]:
    """Each block's name and what writes it."""
    blocks: dict[str, Callable[[], str]] = {
        "presets-cartpole": lambda: preset_table(CARTPOLE_PRESETS, results_dir),
        "presets-other": lambda: preset_table(OTHER_PRESETS, results_dir),
        "presets-torch": lambda: preset_table(TORCH_PRESETS, results_dir),
        "backends": lambda: backends_table(BACKENDS),
        "ppo-cartpole-seeds": lambda: seed_table("ppo_cartpole", results_dir),
        "pong-cpu": lambda: pong_cpu(results_dir),
        "cartpole-algorithms": lambda: cartpole_algorithms(results_dir),
        "benchmark-headline": lambda: benchmark_section("Headline", BENCHMARKS),
        "benchmark-time": lambda: benchmark_section("Where the training time goes", BENCHMARKS),
        "benchmark-torch": lambda: benchmark_section("Torch env backend", BENCHMARKS),
    }
    blocks |= {question: (lambda q=question: guide_block(q, results_dir)) for question in GUIDE}
    for path in sorted(PRESETS_DIR.glob("*.yaml")):
        blocks[f"preset-{path.stem}"] = lambda name=path.stem: measured_comment(name, results_dir)
    return blocks


def rewrite(
    text: str,
    markers: tuple[str, str, str],
    blocks: dict[str, Callable[[], str]],
    missing: list[str] | None = None,
) -> str:
    """`text` with each marked block's body rewritten by its renderer; an unknown block name raises. A block whose
    record is missing raises, or with a `missing` list is left as it is and its error appended."""
    begin, begin_end, end = markers
    pattern = re.compile(
        rf"^({re.escape(begin)}(\S+){re.escape(begin_end)})\n(?:.*?\n)??{re.escape(end)}$", re.M | re.S
    )

    def body(match: re.Match) -> str:
        name = match.group(2)
        if name not in blocks:
            raise KeyError(f"unknown results block {name!r}; known: {', '.join(sorted(blocks))}")
        try:
            return f"{match.group(1)}\n{blocks[name]()}\n{end}"
        except FileNotFoundError as error:
            if missing is None:
                raise
            missing.append(f"{name}: {error}")
            return match.group(0)

    return pattern.sub(body, text)


def documents() -> list[tuple[Path, tuple[str, str, str]]]:
    """Every file with measured blocks, and its marker syntax."""
    return [(ROOT / "README.md", MARKDOWN), (ROOT / "docs" / "guide.md", MARKDOWN)] + [
        (path, YAML) for path in sorted(PRESETS_DIR.glob("*.yaml"))
    ]


def rendered(results_dir: Path = RESULTS_DIR, missing: list[str] | None = None) -> dict[Path, str]:
    """Every document as the records would write it (see `rewrite` for `missing`)."""
    blocks = renderers(results_dir)
    return {path: rewrite(path.read_text(), markers, blocks, missing) for path, markers in documents()}


def stale_files(results_dir: Path = RESULTS_DIR) -> list[Path]:
    """The documents whose measured blocks differ from the records."""
    return [path for path, text in rendered(results_dir).items() if text != path.read_text()]


def write_all(results_dir: Path = RESULTS_DIR, missing: list[str] | None = None) -> list[Path]:
    """Rewrite the documents whose blocks changed; the paths rewritten. Blocks whose record is missing stay as
    they are, each noted in `missing`."""
    changed = []
    for path, text in rendered(results_dir, [] if missing is None else missing).items():
        if text != path.read_text():
            path.write_text(text)
            changed.append(path)
    return changed
