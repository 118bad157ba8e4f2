"""The summary of a multirun sweep: one row per job, and one row per configuration across seeds.

Written into the sweep dir by the `SweepSummary` Hydra callback when a multirun ends (whatever the launcher
or sweeper), or on demand with `python scripts/summarize_runs.py <sweep dir>`:

- `sweep_summary.csv`: one row per job: job dir, overrides, seed, status, final eval mean/std, env steps,
  wall time, error.
- `sweep_summary_by_config.csv`: one row per configuration (the job's overrides without `seed`): seeds,
  mean and std across seeds of the final eval mean, best first.
- `sweep_summary.md`: both tables in markdown.

A job is read from its dir: `.hydra/overrides.yaml` (written by Hydra before the job starts) and
`summary.json` (written by `pglab.train.run` when the job completes or fails). A job dir without
`summary.json` is reported as failed: the process crashed or was killed. A job that continued a run elsewhere
(`-m resume=<run dir>,...`) leaves `resumed_run.json` in its dir, naming that run, which is read instead.
"""

import csv
import json
import logging
import math
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger(__name__)

#: Number of failed jobs in the last sweep summarized in this process (read by `train.py` for its exit code).
last_sweep_failures = 0


@dataclass
class JobResult:
    job: str
    overrides: str  # the job's command-line overrides except seed, space-separated
    seed: int | None
    status: str  # completed | failed
    eval_return_mean: float = math.nan
    eval_return_std: float = math.nan
    env_steps: int | None = None
    wall_s: float = math.nan
    error: str = ""


@dataclass
class ConfigResult:
    overrides: str
    seeds: list[int | None] = field(default_factory=list)
    eval_means: list[float] = field(default_factory=list)
    failed: int = 0

    @property
    def mean(self) -> float:
        return statistics.fmean(self.eval_means) if self.eval_means else math.nan

    @property
    def std(self) -> float:
        """Sample std across seeds (n - 1 in the denominator; NaN, "no spread", for fewer than two seeds)."""
        return statistics.stdev(self.eval_means) if len(self.eval_means) > 1 else math.nan


def job_sort_key(path: Path) -> tuple[int, str]:
    return (int(path.name), "") if path.name.isdigit() else (1 << 30, str(path))


def seed_value(text: object) -> int | None:
    """A job's seed as an int (`seed=1e3` is 1000); None when there is none or it is no whole number (the job
    then failed its config check, and its row says why)."""
    try:
        value = float(str(text))
    except ValueError:
        return None
    return int(value) if value.is_integer() else None


def read_job(job_dir: Path, overrides: list[str] | None = None) -> JobResult:
    """The job of `job_dir`, with its overrides from `.hydra/overrides.yaml` unless given."""
    if overrides is None:
        overrides = yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text()) or []
    given = next((o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0].lstrip("+~") == "seed"), None)
    seed = seed_value(given)
    if seed is None and (job_dir / "config.yaml").exists():
        seed = seed_value((yaml.safe_load((job_dir / "config.yaml").read_text()) or {}).get("seed"))
    rest = " ".join(o for o in overrides if o.split("=", 1)[0].lstrip("+~") != "seed")
    result = JobResult(job=job_dir.name, overrides=rest, seed=seed, status="failed")
    summary_path = job_dir / "summary.json"
    if not summary_path.exists():
        result.error = "no summary.json: the job crashed or was killed before it finished"
        return result
    try:
        summary: dict[str, Any] = json.loads(summary_path.read_text())
    except json.JSONDecodeError as error:
        result.error = f"unreadable summary.json ({error})"
        return result
    result.status = summary.get("status", "completed")
    result.error = summary.get("error", "")
    result.eval_return_mean = summary.get("eval/episode_return_mean", math.nan)
    result.eval_return_std = summary.get("eval/episode_return_std", math.nan)
    steps = summary.get("progress/env_steps")
    result.env_steps = None if steps is None else int(steps)
    result.wall_s = summary.get("time/wall_s", math.nan)
    return result


def read_sweep(sweep_dir: Path) -> list[JobResult]:
    """The jobs of `sweep_dir`: its sub-dirs holding `.hydra/overrides.yaml` (Hydra's `<sweep dir>/<job
    number>`) or `resumed_run.json`, or `sweep_dir` itself when it is a single run dir; in job-number order."""
    if (sweep_dir / ".hydra" / "overrides.yaml").exists():
        return [read_job(sweep_dir)]
    job_dirs = {p.parent.parent for p in sweep_dir.glob("*/.hydra/overrides.yaml")}
    job_dirs |= {p.parent for p in sweep_dir.glob(f"*/{RESUMED_RUN}")}
    return [read_resumed_job(d) for d in sorted(job_dirs, key=job_sort_key)]


#: the file of a sweep's job dir naming the run the job continued (`-m resume=<run dir>,...`)
RESUMED_RUN = "resumed_run.json"


def point_to_resumed_run(job_dir: Path, run_dir: Path) -> Path | None:
    """When a sweep job's own dir (Hydra's, which then holds only its log) is not the run it resumes, record that
    run there (`resumed_run.json`) and return the job dir, where a refused resume is recorded; else None."""
    if job_dir.resolve() == run_dir.resolve():
        return None
    job_dir.mkdir(parents=True, exist_ok=True)
    (job_dir / RESUMED_RUN).write_text(json.dumps({"run_dir": str(run_dir.resolve())}) + "\n")
    return job_dir


def read_resumed_job(job_dir: Path) -> JobResult:
    """`read_job(job_dir)`, or for a job that continued a run elsewhere, that run's row under this job's name."""
    pointer = job_dir / RESUMED_RUN
    if not pointer.is_file() or (job_dir / ".hydra" / "overrides.yaml").exists():
        return read_job(job_dir)
    run_dir = Path(json.loads(pointer.read_text())["run_dir"])
    if (job_dir / "summary.json").exists() or not (run_dir / ".hydra" / "overrides.yaml").exists():
        return read_job(job_dir, [f"resume={run_dir}"])  # a refused resume: this job's own record of why
    result = read_job(run_dir)  # with the run's own overrides, so that its configuration groups across seeds
    result.job = job_dir.name
    summary = run_dir / "summary.json"
    if summary.exists() and summary.stat().st_mtime < pointer.stat().st_mtime:  # the run's earlier summary
        result.status = "failed"
        result.error = "no summary.json since this job resumed the run: the job crashed or was killed"
    return result


def by_config(jobs: list[JobResult]) -> list[ConfigResult]:
    """Jobs grouped by their overrides without the seed, best mean first (configs without a result last)."""
    groups: dict[str, ConfigResult] = {}
    for job in jobs:
        group = groups.setdefault(job.overrides, ConfigResult(job.overrides))
        if job.status == "completed" and not math.isnan(job.eval_return_mean):
            group.seeds.append(job.seed)
            group.eval_means.append(job.eval_return_mean)
        else:
            group.failed += 1
    return sorted(
        groups.values(), key=lambda g: (math.isnan(g.mean), -g.mean if not math.isnan(g.mean) else 0)
    )


def fmt(value: float | int | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.{digits}f}"


def markdown(jobs: list[JobResult], configs: list[ConfigResult]) -> str:
    failed = sum(job.status != "completed" for job in jobs)
    lines = [f"# Sweep summary: {len(jobs)} jobs, {len(jobs) - failed} completed, {failed} failed", ""]
    if any(len(c.seeds) + c.failed > 1 for c in configs):
        lines += [
            "## By configuration (mean ± sample std of the final eval return across seeds, best first)",
            "",
            "| rank | overrides | seeds | eval return | failed |",
            "|---|---|---|---|---|",
        ]
        for rank, c in enumerate(configs, 1):
            seeds = ",".join(str(s) for s in c.seeds) or "-"
            spread = f" ± {fmt(c.std)}" if len(c.eval_means) > 1 else ""
            lines.append(
                f"| {rank} | {c.overrides or '(defaults)'} | {seeds} | {fmt(c.mean)}{spread} | {c.failed} |"
            )
        lines.append("")
    lines += [
        "## Jobs",
        "",
        "| job | overrides | seed | status | eval return | env steps | wall s | error |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for j in jobs:
        error = j.error.replace("|", "/").replace("\n", " ")[:200]
        lines.append(
            f"| {j.job} | {j.overrides or '(defaults)'} | {fmt(j.seed)} | {j.status} "
            f"| {fmt(j.eval_return_mean)} ± {fmt(j.eval_return_std)} | {fmt(j.env_steps)} "
            f"| {fmt(j.wall_s)} | {error} |"
        )
    return "\n".join(lines) + "\n"


def best_line(config: ConfigResult) -> str:
    """The best configuration's result: mean ± sample std across its seeds, or the one seed's return alone (a
    spread needs two seeds)."""
    name = config.overrides or "(defaults)"
    if len(config.eval_means) < 2:
        return f"{name}: eval return {config.mean:.1f} (seed {','.join(str(s) for s in config.seeds)}; one seed, no spread)"
    return f"{name}: eval return {config.mean:.1f} ± {config.std:.1f} over seeds {','.join(str(s) for s in config.seeds)}"


def write_sweep_summary(sweep_dir: Path) -> tuple[list[JobResult], list[ConfigResult]]:
    """Write the CSV and markdown summaries into `sweep_dir`; returns the jobs and configurations."""
    jobs = read_sweep(sweep_dir)
    configs = by_config(jobs)
    with open(sweep_dir / "sweep_summary.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(JobResult.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(asdict(job) for job in jobs)
    with open(sweep_dir / "sweep_summary_by_config.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["rank", "overrides", "seeds", "eval_return_mean", "eval_return_std", "completed", "failed"]
        )
        for rank, c in enumerate(configs, 1):
            seeds = " ".join(str(s) for s in c.seeds)
            writer.writerow([rank, c.overrides, seeds, c.mean, c.std, len(c.eval_means), c.failed])
    (sweep_dir / "sweep_summary.md").write_text(markdown(jobs, configs))
    return jobs, configs


class SweepSummary(Callback):
    """Hydra callback (conf/hydra/default.yaml): summarize the sweep into its dir when a multirun ends."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        global last_sweep_failures
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            log.warning("No sweep summary: the sweep dir %s does not exist (no job ran)", sweep_dir)
            return
        jobs, configs = write_sweep_summary(sweep_dir)
        last_sweep_failures = sum(job.status != "completed" for job in jobs)
        if configs and not math.isnan(configs[0].mean):
            log.info("Best: %s", best_line(configs[0]))
        log.info(
            "Sweep summary of %d jobs (%d failed): %s",
            len(jobs),
            last_sweep_failures,
            sweep_dir / "sweep_summary.md",
        )
