"""Learning curves of many runs, grouped by configuration, as mean and 95% confidence band across seeds.

Used by `scripts/plot.py`. A run is a dir with the `config.yaml` and `csv/metrics.csv` that every pglab run
writes (CSV logger, the default); its curve is one metric (by default the evaluation return) against env
steps. A results record (`docs/results/<name>.json`, `pglab.results.record`) is one run per seed, with the
evaluation return only and a small config: `preset` (the record's name), `env`, `seed` and the record's dotted
overrides (`algo.lr=...`). Runs are grouped by config keys (`--group-by algo.lr`); by default by `label` (and env)
where the runs were given one (`LABEL=DIR` on the command line), else by `preset` for records, else by the
algorithm and env when those differ, else by every key that differs between the runs (seeds, paths and output
dirs excepted).

Runs of one group are evaluated at slightly different env steps (evaluations happen at rollout boundaries),
so each curve is linearly interpolated onto the union of the group's steps, within the range that every run
of the group covers. The band is the two-sided 95% Student-t interval of the mean across runs,
mean ± t(0.975, n-1) · s / sqrt(n) (s: sample std): with 3 seeds t = 4.30, so the band is wide, as it
should be (Henderson et al., 2018, "Deep RL that matters", and Agarwal et al., 2021, on reporting few seeds).
"""

import csv
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import yaml
from scipy import stats

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

#: Config keys that differ between runs without making them different configurations.
IGNORED_KEY_PARTS = ("seed", "dir", "path", "save_dir", "ckpt")
#: Keys whose value alone names a group ("PPO" rather than "algo=PPO").
BARE_KEYS = ("label", "preset", "algo", "env")
#: The metrics a results record holds, as the index of their column in its `eval` rows ([env_step, mean, std]).
RECORD_METRICS = {"eval/episode_return_mean": 1, "eval/episode_return_std": 2}


@dataclass
class Run:
    path: Path
    config: dict[str, Any]  # flattened: {"algo.lr": 0.001, "algo": "PPO", "env": "CartPole-v1", ...}
    steps: np.ndarray  # (K,) env steps of the metric's values
    values: np.ndarray  # (K,)


@dataclass
class Curve:
    label: str
    runs: list[Run] = field(default_factory=list)
    steps: np.ndarray | None = None  # (G,) common grid
    mean: np.ndarray | None = None  # (G,)
    low: np.ndarray | None = None  # (G,) lower end of the 95% interval (= mean for a single run)
    high: np.ndarray | None = None  # (G,)


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config -> {"a.b.c": value}; plus "algo" (class name) and "env" (env id) for grouping."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = tuple(value) if isinstance(value, list) else value
    if not prefix:
        flat["algo"] = str(flat.get("algo._target_", "?")).rsplit(".", 1)[-1]
        flat["env"] = flat.get("env.id", "?")
    return flat


def read_metric(metrics_csv: Path, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of the rows of a pglab `metrics.csv` that hold `metric`."""
    steps, values = [], []
    with open(metrics_csv) as f:
        for row in csv.DictReader(f):
            if row.get(metric) not in (None, "") and math.isfinite(float(row[metric])):
                steps.append(float(row["step"]))
                values.append(float(row[metric]))
    order = np.argsort(steps, kind="stable")
    return np.asarray(steps)[order], np.asarray(values)[order]


def override_value(text: str) -> Any:
    """A command-line value as Hydra reads it: YAML, plus numbers such as `1e-3` (a string to YAML 1.1)."""
    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def record_runs(path: Path, metric: str) -> list[Run]:
    """One run per seed of the results record `path` (none if it does not hold `metric`)."""
    if metric not in RECORD_METRICS:
        return []
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: not a readable results record ({error})") from None
    if not isinstance(record, dict) or not all(k in record for k in ("seeds", "preset", "env_id")):
        raise ValueError(
            f"{path}: not a results record (docs/results/<name>.json, with seeds, preset and env_id); "
            "give run or sweep dirs for other runs"
        )
    runs = []
    for seed in sorted(record["seeds"], key=int):
        curve = np.asarray(record["seeds"][seed]["eval"], dtype=float)  # (K, 3): env step, mean, std
        config: dict[str, Any] = {
            "preset": record["preset"],
            "env": record["env_id"],
            "env.id": record["env_id"],
        }
        for override in record.get("overrides", []):
            key, _, value = override.partition("=")
            if "." in key:
                config[key.lstrip("+~")] = override_value(value)
        config["seed"] = int(seed)
        runs.append(Run(Path(f"{path}#seed={seed}"), config, curve[:, 0], curve[:, RECORD_METRICS[metric]]))
    return runs


def find_runs(
    dirs: list[Path], metric: str, labels: list[str | None] | None = None
) -> tuple[list[Run], list[Path]]:
    """The runs under `dirs` (run or sweep dirs, or results records) with `metric` logged, and the run dirs
    skipped (failed, no CSV or no such metric). `labels[i]`, where given, becomes the `label` key of the config of
    every run under `dirs[i]`."""
    runs, skipped = [], []
    for root, label in zip(dirs, labels or [None] * len(dirs), strict=True):
        found = len(runs)
        if root.is_file():
            record = record_runs(root, metric)
            runs += record
            skipped += [] if record else [root]
        for config_path in sorted(root.rglob("config.yaml")) if root.is_dir() else []:
            run_dir = config_path.parent
            if run_dir.name == ".hydra":
                continue
            metrics_csv = run_dir / "csv" / "metrics.csv"
            summary = run_dir / "summary.json"
            if not metrics_csv.exists() or (
                summary.exists() and json.loads(summary.read_text()).get("status") == "failed"
            ):
                skipped.append(run_dir)
                continue
            steps, values = read_metric(metrics_csv, metric)
            if len(steps) == 0:
                skipped.append(run_dir)
                continue
            config = flatten(yaml.safe_load(config_path.read_text()))
            runs.append(Run(run_dir, config, steps, values))
        if label is not None:
            for run in runs[found:]:
                run.config["label"] = label
    return runs, skipped


def varying_keys(runs: list[Run]) -> list[str]:
    """Config keys whose values differ between runs, seeds and paths excepted, in config order."""
    keys: list[str] = []
    for run in runs:
        keys += [k for k in run.config if k not in keys]
    return [
        k
        for k in keys
        if not any(part in k.split(".")[-1] for part in IGNORED_KEY_PARTS)
        and len({repr(run.config.get(k)) for run in runs}) > 1
    ]


def default_group_by(runs: list[Run]) -> list[str]:
    varying = varying_keys(runs)
    if "label" in varying:
        return ["label"] + (["env"] if "env" in varying else [])
    if "preset" in varying:  # results records: the preset names the configuration (and its env)
        return ["preset"]
    preferred = [k for k in ("algo", "env") if k in varying]
    return preferred or [k for k in varying if not k.endswith("._target_")]


def group_runs(runs: list[Run], group_by: list[str]) -> list[Curve]:
    """One curve per distinct value of the `group_by` keys, in order of first appearance."""
    curves: dict[str, Curve] = {}
    for run in runs:
        label = (
            ", ".join(
                f"{k}={run.config.get(k)}" if k not in BARE_KEYS else str(run.config.get(k)) for k in group_by
            )
            or "all runs"
        )
        curves.setdefault(label, Curve(label)).runs.append(run)
    return list(curves.values())


def aggregate(curve: Curve, confidence: float = 0.95) -> Curve:
    """Fill the curve's grid, mean and confidence band from its runs (see the module docstring)."""
    start = max(run.steps[0] for run in curve.runs)
    stop = min(run.steps[-1] for run in curve.runs)
    grid = np.unique(np.concatenate([run.steps for run in curve.runs]))
    grid = grid[(grid >= start) & (grid <= stop)]
    if len(grid) == 0:
        raise ValueError(
            f"the runs of {curve.label!r} cover no common range of env steps: "
            + ", ".join(f"{run.path}: {run.steps[0]:.0f}-{run.steps[-1]:.0f}" for run in curve.runs)
        )
    ys = np.stack([np.interp(grid, run.steps, run.values) for run in curve.runs])  # (n_runs, G)
    n = len(curve.runs)
    curve.steps, curve.mean = grid, ys.mean(axis=0)
    if n > 1:
        half = stats.t.ppf(0.5 + confidence / 2, n - 1) * ys.std(axis=0, ddof=1) / math.sqrt(n)
    else:
        half = np.zeros_like(curve.mean)
    curve.low, curve.high = curve.mean - half, curve.mean + half
    return curve


def default_title(panels: dict[str, list[Curve]]) -> str:
    """What the figure shows: a 95% band needs two runs in a group at least."""
    if any(len(curve.runs) > 1 for curves in panels.values() for curve in curves):
        return "mean and 95% CI across seeds"
    return "one run per group (no CI band with one seed)"


def plot_curves(panels: dict[str, list[Curve]], path: Path, title: str | None = None) -> None:
    """One panel per metric (side by side), one line per group with its 95% band."""
    fig, axes = plt.subplots(1, len(panels), figsize=(7.5 * len(panels), 4.5), dpi=110, squeeze=False)
    for ax, (metric, curves) in zip(axes[0], panels.items(), strict=True):
        styles = itertools.cycle(
            ["-", "--", "-.", ":"]
        )  # curves that overlap (all at 500) stay distinguishable
        for curve in curves:
            (line,) = ax.plot(
                curve.steps, curve.mean, lw=2, ls=next(styles), label=f"{curve.label} (n={len(curve.runs)})"
            )
            if len(curve.runs) > 1:
                ax.fill_between(curve.steps, curve.low, curve.high, color=line.get_color(), alpha=0.2, lw=0)
        # With few seeds the t-interval can reach far past what any run scored; keep the axis on the runs' values.
        lowest = min(run.values.min() for curve in curves for run in curve.runs)
        highest = max(run.values.max() for curve in curves for run in curve.runs)
        pad = 0.05 * (highest - lowest or abs(highest) or 1.0)
        ax.set_ylim(lowest - pad, highest + pad)
        ax.set_xlabel("env steps")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    fig.suptitle(title or default_title(panels))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
