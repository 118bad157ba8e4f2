"""The rliable report of grouped runs (`python scripts/plot.py <dirs> --rliable`): aggregates of the final
evaluation with stratified-bootstrap intervals, performance profiles, probability of improvement between groups
and the IQM sample-efficiency curve, as a markdown table, a JSON file and a figure.

Groups are `pglab.comparison`'s (config keys, `--group-by`); the envs of a group are its tasks, the columns of
its score matrix (`pglab.aggregate_metrics`). A run's final score is its metric's last value (the final
evaluation of a completed run). When the runs cover several envs (or `normalize=True`) every score is normalized
per env, (return - random-policy return) / (threshold - random-policy return) (`aggregate_metrics.normalization`):
0 is a random policy and 1 the env's solved threshold, comparable across envs.

A group's matrix needs as many runs on each of its envs: where they differ, each env keeps its runs of the lowest
seeds, as many as the env with fewest has, and the report names the runs left out. The probability of improvement
compares two groups env by env, so only groups with the same envs are paired; other pairs are named as skipped.
The sample-efficiency curve of a group covers the env steps that all its runs reached; the table of it is at
env steps that every group's runs reached. Every interval is seeded (`seed`), so the same runs give the same
report.
"""

import importlib.metadata
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

from pglab import aggregate_metrics
from pglab.aggregate_metrics import METRICS, CurveEstimate, Estimate, Profile
from pglab.comparison import Curve, Run

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

#: thresholds of the performance profile plotted
PROFILE_POINTS = 51
#: columns of the markdown's sample-efficiency table
TABLE_STEPS = 5


@dataclass
class GroupScores:
    """One group's score matrix and the runs behind it."""

    label: str
    envs: list[str]  # (E,) the matrix's columns
    runs: list[list[Run]]  # runs[e][r]: the R runs of env e in the matrix, lowest seeds first
    normalized: bool
    left_out: list[Run] = field(default_factory=list)

    @property
    def num_runs(self) -> int:
        return len(self.runs[0])

    def score(self, returns: np.ndarray, env: str) -> np.ndarray:
        return aggregate_metrics.normalize(returns, env) if self.normalized else np.asarray(returns, float)

    def final(self) -> np.ndarray:
        """(R, E) final scores: each run's last value, normalized when the report is."""
        return np.stack(
            [
                self.score([run.values[-1] for run in runs], env)
                for env, runs in zip(self.envs, self.runs, strict=True)
            ],
            axis=1,
        )

    def final_env_steps(self) -> np.ndarray:
        """(R, E) the env step of each final score."""
        return np.array([[run.steps[-1] for run in runs] for runs in self.runs]).T

    def curves(self, grid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The grid (G,) (`aggregate_metrics.align_curves`'s default where None) and the (R, E, G) scores on it."""
        flat = [run for runs in self.runs for run in runs]  # env-major
        try:
            grid, values = aggregate_metrics.align_curves(
                [(run.steps, run.values) for run in flat], grid=grid
            )
        except ValueError as error:
            raise ValueError(
                f"the runs of {self.label!r} cover no common range of env steps: "
                + ", ".join(f"{run.path}: {run.steps[0]:.0f}-{run.steps[-1]:.0f}" for run in flat)
            ) from error
        values = values.reshape(len(self.envs), self.num_runs, len(grid))  # (E, R, G)
        return grid, np.stack([self.score(values[e], env) for e, env in enumerate(self.envs)], axis=1)


@dataclass
class Report:
    metric: str
    normalized: bool
    reps: int
    seed: int
    confidence: float
    groups: list[GroupScores]
    normalization: dict[str, tuple[float, float, str]]  # env -> (random, reference, source); normalized only
    estimates: dict[str, dict[str, Estimate]]  # group -> IQM, median, mean of the final scores
    profiles: dict[str, Profile]
    threshold: (
        float | None
    )  # tau of `above_threshold`: 1 normalized, else the one env's threshold (None: unknown)
    above_threshold: dict[str, Estimate]
    improvement: dict[tuple[str, str], Estimate]  # (X, Y) -> P(X > Y)
    iqm_curves: dict[str, CurveEstimate]  # each group on its own grid
    iqm_table: dict[str, CurveEstimate]  # each group at the same env steps (empty: no common range)
    notes: list[str]


def seed_key(run: Run) -> tuple[float, str]:
    seed = run.config.get("seed")
    return (float(seed) if isinstance(seed, int | float) else math.inf, str(run.path))


def group_scores(curve: Curve, env_order: list[str], normalized: bool, notes: list[str]) -> GroupScores:
    """`curve`'s runs as a score matrix whose columns are its envs in `env_order`'s order (the same columns in every
    group: the probability of improvement pairs them); a note in `notes` for every run left out to make the matrix
    rectangular."""
    by_env: dict[str, list[Run]] = {}
    for run in curve.runs:
        by_env.setdefault(str(run.config.get("env")), []).append(run)
    envs = [env for env in env_order if env in by_env]
    count = min(len(runs) for runs in by_env.values())
    ordered = {env: sorted(by_env[env], key=seed_key) for env in envs}
    group = GroupScores(curve.label, envs, [ordered[env][:count] for env in envs], normalized)
    for env in envs:
        dropped = ordered[env][count:]
        group.left_out += dropped
        if dropped:
            notes.append(
                f"{curve.label}: {len(dropped)} run(s) of {env} left out (seed "
                f"{', '.join(str(r.config.get('seed')) for r in dropped)}) so that each of its envs has {count}"
            )
    return group


def env_threshold(env: str) -> float | None:
    from pglab.results.record import threshold_for

    try:
        return threshold_for(env)[0]
    except Exception:  # noqa: BLE001  (an env gymnasium does not know, or one without a threshold: no such column)
        return None


def profile_taus(finals: list[np.ndarray], normalized: bool, envs: list[str]) -> np.ndarray:
    """Thresholds from a random policy's score to the best score: 0 to at least 1 when normalized; raw returns of
    one env from its random-policy return (where known) or the lowest score, past its threshold."""
    scores = np.concatenate([f.ravel() for f in finals])
    low, high = float(scores.min()), float(scores.max())
    if normalized:
        low, high = min(low, 0.0), max(high, 1.0)
    elif len(envs) == 1:
        marks = [aggregate_metrics.RANDOM_POLICY_RETURNS.get(envs[0]), env_threshold(envs[0])]
        known = [m for m in marks if m is not None]
        low, high = min([low, *known]), max([high, *known])
    pad = 0.05 * (high - low) or max(abs(high) * 0.05, 1.0)
    return np.linspace(low - pad, high + pad, PROFILE_POINTS)


def table_steps(grids: list[np.ndarray], count: int = TABLE_STEPS) -> np.ndarray | None:
    """At most `count` round env steps (multiples of 1, 2, 2.5 or 5 times a power of ten) inside the range that
    every grid covers; None when that range holds fewer than two."""
    start, stop = max(float(g[0]) for g in grids), min(float(g[-1]) for g in grids)
    if start >= stop:
        return None
    power = 10.0 ** math.floor(math.log10((stop - start) / count))
    for step in (m * power * scale for scale in (1, 10, 100) for m in (1, 2, 2.5, 5)):
        steps = np.arange(math.ceil(start / step) * step, stop + 1e-9 * stop, step)
        if len(steps) <= count:
            return steps if len(steps) >= 2 else None
    return None


def build_report(
    curves: list[Curve],
    metric: str,
    normalize: bool | None = None,
    reps: int = aggregate_metrics.DEFAULT_REPS,
    seed: int = 0,
    confidence: float = 0.95,
) -> Report:
    """The report of the groups `curves` (`pglab.comparison.group_runs`). `normalize`: None normalizes when the
    runs cover more than one env.

    Raises:
        ValueError: an env without a random-policy return when normalizing (naming it), or a group whose runs
            share no range of env steps.
    """
    envs = list(dict.fromkeys(str(run.config.get("env")) for curve in curves for run in curve.runs))
    normalized = len(envs) > 1 if normalize is None else normalize
    normalization = {env: aggregate_metrics.normalization(env) for env in envs} if normalized else {}
    notes: list[str] = []
    groups = [group_scores(curve, envs, normalized, notes) for curve in curves]
    finals = {g.label: g.final() for g in groups}
    estimates = aggregate_metrics.interval_estimates(finals, reps, seed, confidence)
    taus = profile_taus(list(finals.values()), normalized, envs)
    profiles = aggregate_metrics.performance_profiles(finals, taus, reps, seed, confidence)
    threshold = 1.0 if normalized else (env_threshold(envs[0]) if len(envs) == 1 else None)
    above = {}
    if threshold is not None:
        at = aggregate_metrics.performance_profiles(finals, [threshold], reps, seed, confidence)
        above = {g: Estimate(float(p.fraction[0]), float(p.low[0]), float(p.high[0])) for g, p in at.items()}
    improvement: dict[tuple[str, str], Estimate] = {}
    for x, y in itertools.combinations(groups, 2):
        if x.envs != y.envs:
            notes.append(
                f"no probability of improvement of {x.label} over {y.label}: they ran on different envs "
                f"({', '.join(x.envs)} / {', '.join(y.envs)})"
            )
            continue
        pair = {x.label: finals[x.label], y.label: finals[y.label]}
        improvement |= aggregate_metrics.probability_of_improvement(pair, reps, seed, confidence)
    iqm_curves = {}
    for g in groups:
        grid, scores = g.curves()
        iqm_curves[g.label] = aggregate_metrics.iqm_curve(grid, scores, reps, seed, confidence, name=g.label)
    steps = table_steps([c.env_steps for c in iqm_curves.values()])
    iqm_table = {}
    if steps is not None:
        for g in groups:
            grid, scores = g.curves(steps)
            iqm_table[g.label] = aggregate_metrics.iqm_curve(
                grid, scores, reps, seed, confidence, name=g.label
            )
    return Report(
        metric=metric,
        normalized=normalized,
        reps=reps,
        seed=seed,
        confidence=confidence,
        groups=groups,
        normalization=normalization,
        estimates=estimates,
        profiles=profiles,
        threshold=threshold,
        above_threshold=above,
        improvement=improvement,
        iqm_curves=iqm_curves,
        iqm_table=iqm_table,
        notes=notes,
    )


# ---------------------------------------------------------------------------------------------- text
def interval(e: Estimate, digits: str) -> str:
    """`point [low, high]`, each formatted with `digits` (e.g. "{:.2f}")."""
    return f"{digits.format(e.point)} [{digits.format(e.low)}, {digits.format(e.high)}]"


def score_description(report: Report) -> str:
    envs = list(dict.fromkeys(env for g in report.groups for env in g.envs))
    if report.normalized:
        refs = "; ".join(
            f"{env} {random:g} and {reference:g}"
            for env, (random, reference, _) in report.normalization.items()
        )
        return (
            f"the final {report.metric} of each run, normalized per env as (return - random) / (threshold - random) "
            f"with the random-policy return and the threshold of each env ({refs})"
        )
    return f"the final {report.metric} of each run on {', '.join(envs)}"


def markdown(report: Report) -> str:
    """The aggregates of the final scores, the fraction above the threshold, the probabilities of improvement and
    the IQM at a few env steps."""
    digits = "{:.3f}" if report.normalized else "{:,.1f}"
    lines = [
        f"Scores: {score_description(report)}. Intervals: {report.confidence:.0%} stratified bootstrap "
        f"({report.reps:,} resamples, seed {report.seed}; rliable {importlib.metadata.version('rliable')}).",
        "",
    ]
    above = ""
    if report.threshold is not None:
        above = f" fraction > {report.threshold:g}" + (" (the threshold)" if report.normalized else "") + " |"
    lines += [
        f"| group | runs × envs | IQM | median | mean |{above}",
        "|---|---|---|---|---|" + ("---|" if above else ""),
    ]
    for g in report.groups:
        cells = [interval(report.estimates[g.label][m], digits) for m in METRICS]
        if above:
            cells.append(interval(report.above_threshold[g.label], "{:.2f}"))
        lines.append(f"| {g.label} | {g.num_runs} × {len(g.envs)} | " + " | ".join(cells) + " |")
    if report.improvement:
        lines += ["", "| X | Y | P(X > Y) |", "|---|---|---|"]
        lines += [f"| {x} | {y} | {interval(e, '{:.2f}')} |" for (x, y), e in report.improvement.items()]
    if report.iqm_table:
        steps = next(iter(report.iqm_table.values())).env_steps
        lines += [
            "",
            "| IQM at env steps | " + " | ".join(f"{s:,.0f}" for s in steps) + " |",
            "|---|" + "---|" * len(steps),
        ]
        for label, c in report.iqm_table.items():
            cells = [
                interval(Estimate(*values), digits) for values in zip(c.point, c.low, c.high, strict=True)
            ]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if report.notes:
        lines += [""] + [f"- {note}" for note in report.notes]
    return "\n".join(lines) + "\n"


def curve_json(c: CurveEstimate) -> dict[str, list[float]]:
    return {
        "env_steps": c.env_steps.tolist(),
        "iqm": c.point.tolist(),
        "low": c.low.tolist(),
        "high": c.high.tolist(),
    }


def as_json(report: Report) -> dict[str, Any]:
    groups = []
    for g in report.groups:
        profile = report.profiles[g.label]
        entry = {
            "label": g.label,
            "envs": g.envs,
            "runs": [[str(run.path) for run in runs] for runs in g.runs],
            "left_out": [str(run.path) for run in g.left_out],
            "final_scores": g.final().tolist(),
            "final_env_steps": g.final_env_steps().tolist(),
            **{m: report.estimates[g.label][m].as_dict() for m in METRICS},
        }
        if report.threshold is not None:
            entry["above_threshold"] = report.above_threshold[g.label].as_dict()
        entry["performance_profile"] = {
            "tau": profile.taus.tolist(),
            "fraction": profile.fraction.tolist(),
            "low": profile.low.tolist(),
            "high": profile.high.tolist(),
        }
        entry["iqm_curve"] = curve_json(report.iqm_curves[g.label])
        if g.label in report.iqm_table:
            entry["iqm_table"] = curve_json(report.iqm_table[g.label])
        groups.append(entry)
    return {
        "metric": report.metric,
        "score": score_description(report),
        "normalized": report.normalized,
        "normalization": {
            env: {"random": random, "reference": reference, "reference_source": source}
            for env, (random, reference, source) in report.normalization.items()
        },
        "bootstrap": {
            "reps": report.reps,
            "seed": report.seed,
            "confidence": report.confidence,
            "rliable": importlib.metadata.version("rliable"),
        },
        "threshold": report.threshold,
        "groups": groups,
        "probability_of_improvement": [
            {"x": x, "y": y, **e.as_dict()} for (x, y), e in report.improvement.items()
        ],
        "notes": report.notes,
    }


# ---------------------------------------------------------------------------------------------- figure
def env_steps_label(x: float, _: Any) -> str:
    return f"{x / 1e6:g}M" if abs(x) >= 1e6 else f"{x / 1e3:g}k" if abs(x) >= 1e3 else f"{x:g}"


def plot_report(report: Report, path: Path, title: str | None = None) -> None:
    """Top: IQM, median and mean of the final scores with their intervals, one bar per group. Bottom: the
    performance profile, the probability of improvement of each pair and the IQM sample-efficiency curve."""
    from rliable import plot_utils

    labels = [g.label for g in report.groups]
    colors = {label: plt.get_cmap("tab10")(i % 10) for i, label in enumerate(labels)}
    score_name = "normalized score" if report.normalized else "return"
    fig = plt.figure(figsize=(16, 8 + 0.3 * len(labels)), dpi=100)
    grid = fig.add_gridspec(2, 3, height_ratios=[1 + 0.35 * len(labels), 4])
    for i, metric in enumerate(METRICS):
        ax = fig.add_subplot(grid[0, i])
        ends = [
            v
            for label in labels
            for v in (report.estimates[label][metric].low, report.estimates[label][metric].high)
        ]
        pad = 0.05 * (max(ends) - min(ends)) or max(abs(max(ends)) * 0.01, 0.01)
        for row, label in enumerate(labels):
            e = report.estimates[label][metric]
            ax.barh(row, e.high - e.low, left=e.low, height=0.6, color=colors[label], alpha=0.75)
            ax.plot([e.point], [row], "k|", ms=14, mew=2)
        ax.set_xlim(min(ends) - pad, max(ends) + pad)
        ax.set_yticks(range(len(labels)))
        ax.set_yticklabels(labels if i == 0 else [""] * len(labels))
        ax.invert_yaxis()
        ax.set_title(f"{metric} of the final {score_name}")
        ax.grid(True, axis="x", alpha=0.3)
    ax = fig.add_subplot(grid[1, 0])
    plot_utils.plot_performance_profiles(
        {label: report.profiles[label].fraction for label in labels},
        report.profiles[labels[0]].taus,
        performance_profile_cis={
            label: (report.profiles[label].low, report.profiles[label].high) for label in labels
        },
        ax=ax,
        colors=colors,
        xlabel=f"final {score_name} τ",
        ylabel="fraction of runs with score > τ",
        labelsize="medium",
        ticklabelsize="small",
    )
    if report.threshold is not None:
        ax.axvline(report.threshold, color="gray", ls=":", lw=1)
    ax.legend(fontsize=8, loc="best")
    ax.set_title("performance profile")
    ax = fig.add_subplot(grid[1, 1])
    if report.improvement:
        pairs = [f"{x}\t{y}" for x, y in report.improvement]
        plot_utils.plot_probability_of_improvement(
            {pair: e.point for pair, e in zip(pairs, report.improvement.values(), strict=True)},
            {
                pair: np.array([e.low, e.high])
                for pair, e in zip(pairs, report.improvement.values(), strict=True)
            },
            pair_separator="\t",
            ax=ax,
            colors=[colors[x] for x, _ in report.improvement],
            xticks=[0.0, 0.25, 0.5, 0.75, 1.0],
            left_ylabel="X",
            right_ylabel="Y",
            labelsize="medium",
            ticklabelsize="small",
        )
        ax.set_yticklabels([x for x, _ in report.improvement], fontsize="small")
        ax.set_xlim(-0.02, 1.02)
    else:
        ax.text(0.5, 0.5, "no two groups on the same envs", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    ax.set_title("probability of improvement P(X > Y)")
    ax = fig.add_subplot(grid[1, 2])
    for label in labels:
        c = report.iqm_curves[label]
        ax.plot(c.env_steps, c.point, "o-", ms=3, lw=2, color=colors[label], label=label)
        ax.fill_between(c.env_steps, c.low, c.high, color=colors[label], alpha=0.2, lw=0)
    ax.xaxis.set_major_formatter(FuncFormatter(env_steps_label))
    ax.set_xlabel("env steps")
    ax.set_ylabel(f"IQM {score_name}")
    ax.set_title("sample efficiency: IQM over env steps")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.suptitle(
        title
        or f"{report.metric}: rliable aggregates, {report.confidence:.0%} stratified-bootstrap CIs "
        f"({report.reps:,} resamples)"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def write_report(report: Report, png: Path, title: str | None = None) -> list[Path]:
    """`png` (the figure), and beside it the markdown (`.md`) and JSON (`.json`) of the same name."""
    png.parent.mkdir(parents=True, exist_ok=True)
    md, js = png.with_suffix(".md"), png.with_suffix(".json")
    md.write_text(markdown(report))
    js.write_text(json.dumps(as_json(report), indent=1) + "\n")
    plot_report(report, png, title)
    return [png, md, js]
