"""The sweep section of the benchmark: the same `python train.py -m` sweep under Hydra's basic launcher, the joblib
launcher (`n_jobs=2`, its fastest on 2 cores) and pglab's population launcher, each as one fresh process, alone.

    python scripts/benchmark.py --sweeps              # every sweep, every launcher (about 40 min on 2 cores)
    python scripts/benchmark.py --sweeps reinforce24  # only the sweeps named; the report keeps the others' sections
    python scripts/benchmark.py --sweeps --quick      # tiny budgets: a smoke check of the harness

Sweeps:
- `grid64`: 4 lr x 4 gamma x 4 ent_coef around the torch backend's CartPole preset (`experiment=ppo_cartpole_torch`),
  50,000 env steps each, evaluation included (every 8,192 env steps and at the end);
- `grid24`: 2 lr x 2 gamma x 2 ent_coef x 3 seeds with the default PPO on the gymnasium backend (`env=cartpole`,
  8 sync envs, 100,000 env steps each);
- `a2c24`, `vpg24`, `reinforce24`: the same grid shape with the A2C, VPG and REINFORCE CartPole presets
  (`experiment=a2c_cartpole`, `experiment=vpg_cartpole`, `experiment=reinforce_cartpole`) on the gymnasium backend,
  50,000 env steps each; `reinforce24_torch`: REINFORCE's on the torch backend.

Each sweep's wall time is the whole command's (imports, composition, every job, the sweep summary). Every job's
final evaluation is read from its `summary.json`; the report compares each job's return under the population
launcher with the same job's under the other launchers (a population member trains bit for bit as its own run on
the CPU, so they are equal), and the per-configuration means over seeds.

The report: `docs/sweeps.md` and `docs/sweeps.json` (or `--out-dir`); each sweep's section says when, with which
command and on which machine it was measured.
"""

import datetime
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pglab.benchmark.plan import ROOT, TRAIN_PY
from pglab.benchmark.report import cpu_line, machine

LAUNCHERS = {
    "basic": [],
    "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
    "population": ["hydra/launcher=population", "hydra.launcher.n_jobs=2"],
}
#: the REINFORCE sweeps' grid, on either backend
REINFORCE_GRID = ["algo.lr=5e-3,1e-2", "algo.gamma=0.98,0.99", "algo.ent_coef=0,0.01", "seed=0,1,2"]
SWEEPS = {
    "grid64": {
        "description": "4 lr x 4 gamma x 4 ent_coef, ppo_cartpole_torch (torch backend), 50,000 env steps each",
        "overrides": [
            "experiment=ppo_cartpole_torch",
            "algo.lr=1e-3,2e-3,3e-3,5e-3",
            "algo.gamma=0.95,0.98,0.99,0.995",
            "algo.ent_coef=0,0.001,0.01,0.03",
        ],
        "steps": 50_000,
        "launchers": ["population", "joblib", "basic"],
    },
    "grid24": {
        "description": "2 lr x 2 gamma x 2 ent_coef x 3 seeds, default PPO on the gymnasium backend (8 sync envs), "
        "100,000 env steps each",
        "overrides": ["algo.lr=1e-3,3e-4", "algo.gamma=0.98,0.99", "algo.ent_coef=0,0.01", "seed=0,1,2"],
        "steps": 100_000,
        "launchers": ["population", "joblib"],
    },
    "a2c24": {
        "description": "2 lr x 2 gamma x 2 ent_coef x 3 seeds, a2c_cartpole (RMSprop, 8 sync envs x 5 steps), "
        "50,000 env steps each",
        "overrides": [
            "experiment=a2c_cartpole",
            "algo.lr=7e-4,1e-3",
            "algo.gamma=0.98,0.99",
            "algo.ent_coef=0,0.01",
            "seed=0,1,2",
        ],
        "steps": 50_000,
        "launchers": ["population", "joblib"],
    },
    "vpg24": {
        "description": "2 lr x 2 gamma x 2 ent_coef x 3 seeds, vpg_cartpole (8 sync envs x 256 steps, 40 value "
        "steps a rollout), 50,000 env steps each",
        "overrides": [
            "experiment=vpg_cartpole",
            "algo.lr=3e-3,1e-2",
            "algo.gamma=0.98,0.99",
            "algo.ent_coef=0,0.01",
            "seed=0,1,2",
        ],
        "steps": 50_000,
        "launchers": ["population", "joblib"],
    },
    "reinforce24": {
        "description": "2 lr x 2 gamma x 2 ent_coef x 3 seeds, reinforce_cartpole (8 sync envs, 16 whole episodes "
        "a rollout), 50,000 env steps each",
        "overrides": ["experiment=reinforce_cartpole", *REINFORCE_GRID],
        "steps": 50_000,
        "launchers": ["population", "joblib"],
    },
    "reinforce24_torch": {
        "description": "the reinforce24 grid on the torch backend (`env.vectorization=torch`, 8 envs), 50,000 env "
        "steps each",
        "overrides": ["experiment=reinforce_cartpole", "env.vectorization=torch", *REINFORCE_GRID],
        "steps": 50_000,
        "launchers": ["population", "joblib"],
    },
}
QUICK_STEPS = {
    "grid64": 2_048,
    "grid24": 2_048,
    "a2c24": 2_000,
    "vpg24": 4_096,
    "reinforce24": 3_000,
    "reinforce24_torch": 3_000,
}


def run_sweep(name: str, launcher: str, steps: int, work_dir: Path) -> dict[str, Any]:
    """One sweep under one launcher, in a fresh process: wall time and every job's result."""
    sweep = SWEEPS[name]
    sweep_dir = work_dir / f"{name}-{launcher}"
    command = [
        sys.executable,
        str(TRAIN_PY),
        "-m",
        *sweep["overrides"],
        f"total_env_steps={steps}",
        *LAUNCHERS[launcher],
        "callbacks.progress.refresh_every_env_steps=1000000000",
        f"hydra.sweep.dir={sweep_dir}",
    ]
    log = work_dir / f"{name}-{launcher}.log"
    start = time.perf_counter()
    with open(log, "w") as output:
        completed = subprocess.run(command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - start
    jobs = {}
    for summary_path in sorted(sweep_dir.glob("*/summary.json")):
        job_dir = summary_path.parent
        overrides = (job_dir / ".hydra" / "overrides.yaml").read_text()
        summary = json.loads(summary_path.read_text())
        key = " ".join(line[2:] for line in overrides.splitlines() if line.startswith("- "))
        jobs[key] = {
            "status": summary.get("status"),
            "eval_return_mean": summary.get("eval/episode_return_mean", math.nan),
            "env_steps": summary.get("progress/env_steps"),
        }
    return {
        "launcher": launcher,
        "returncode": completed.returncode,
        "wall_s": wall,
        "jobs": jobs,
        "log": str(log),
    }


def config_means(jobs: dict[str, dict]) -> dict[str, float]:
    """Mean final return per configuration (the job's overrides without its seed)."""
    groups: dict[str, list[float]] = {}
    for key, job in jobs.items():
        config = " ".join(part for part in key.split() if not part.startswith("seed="))
        groups.setdefault(config, []).append(job["eval_return_mean"])
    return {config: statistics.fmean(values) for config, values in sorted(groups.items())}


def summarize(name: str, runs: list[dict]) -> dict[str, Any]:
    by_launcher = {run["launcher"]: run for run in runs}
    population = by_launcher["population"]
    summary: dict[str, Any] = {"wall_s": {run["launcher"]: run["wall_s"] for run in runs}}
    for launcher, run in by_launcher.items():
        if launcher == "population":
            continue
        summary[f"speedup_vs_{launcher}"] = run["wall_s"] / population["wall_s"]
        shared = sorted(set(run["jobs"]) & set(population["jobs"]))
        summary[f"identical_returns_vs_{launcher}"] = sum(
            run["jobs"][k]["eval_return_mean"] == population["jobs"][k]["eval_return_mean"] for k in shared
        )
        summary[f"jobs_compared_vs_{launcher}"] = len(shared)
    summary["jobs"] = {launcher: len(run["jobs"]) for launcher, run in by_launcher.items()}
    summary["completed"] = {
        launcher: sum(j["status"] == "completed" for j in run["jobs"].values())
        for launcher, run in by_launcher.items()
    }
    summary["config_means"] = {launcher: config_means(run["jobs"]) for launcher, run in by_launcher.items()}
    return summary


def markdown(report: dict) -> str:
    lines = [
        "# Sweeps: the population launcher against Hydra's basic and joblib launchers",
        "",
        "Each sweep is one fresh `python train.py -m` process, alone. joblib and the population launcher use "
        "`n_jobs=2` (one process per core; every job and member trains with 1 torch thread, pglab's default and its "
        "fastest for these networks). Wall time: the whole command.",
        "",
    ]
    for name, section in report["sweeps"].items():
        summary = section["summary"]
        machine_info = section.get("machine", report["machine"])
        lines += [
            f"## {name}: {SWEEPS[name]['description']}",
            "",
            f"Measured {section.get('date', report['date'])} with `{section.get('command', report['command'])}` on "
            f"{cpu_line(machine_info)}, {machine_info.get('cores', '?')} cores.",
            "",
            "| launcher | wall time | jobs completed |",
            "|---|---|---|",
        ]
        for launcher, wall in summary["wall_s"].items():
            lines.append(
                f"| {launcher} | {wall:,.1f} s | {summary['completed'][launcher]} / {summary['jobs'][launcher]} |"
            )
        lines.append("")
        for key, value in summary.items():
            if key.startswith("speedup_vs_"):
                other = key.removeprefix("speedup_vs_")
                lines.append(
                    f"- population launcher {value:.2f}x faster than {other}; final returns identical in "
                    f"{summary[f'identical_returns_vs_{other}']} of {summary[f'jobs_compared_vs_{other}']} jobs"
                )
        means = summary["config_means"]
        lines += ["", "Mean final evaluation return per configuration (over its seeds):", ""]
        launchers = list(means)
        lines += ["| configuration | " + " | ".join(launchers) + " |", "|---|" + "---|" * len(launchers)]
        for config in means["population"]:
            cells = [f"{means[launcher].get(config, math.nan):.1f}" for launcher in launchers]
            lines.append(f"| {config} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines) + "\n"


def run(
    quick: bool, out_dir: Path | None, work_dir: Path | None, command: str, names: list[str] | None = None
) -> None:
    """Run the sweeps `names` (default all, in `SWEEPS`' order) and write the report; a report already in `out_dir`
    keeps its other sweeps' sections (each with its own date, command and machine)."""
    stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    work_dir = (work_dir or ROOT / "outputs" / "benchmark-sweeps" / stamp).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    out_dir = out_dir or ROOT / ("outputs/benchmark-sweeps-quick" if quick else "docs")
    now = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": command,
        "machine": machine(),
    }
    report: dict[str, Any] = {**now, "quick": quick, "sweeps": {}}
    names = list(dict.fromkeys(names or SWEEPS))
    previous = out_dir / "sweeps.json"
    if set(names) != set(SWEEPS) and previous.is_file():
        earlier = json.loads(previous.read_text())
        if earlier.get("quick") != quick:
            print(
                f"{previous} holds {'quick' if earlier.get('quick') else 'full'} sweeps: its sections are dropped"
            )
        else:
            for name, section in earlier["sweeps"].items():
                if name in SWEEPS and name not in names:
                    kept = {key: earlier[key] for key in ("date", "command", "machine")}
                    report["sweeps"][name] = {**kept, **section}
    for name in names:
        sweep = SWEEPS[name]
        steps = QUICK_STEPS[name] if quick else sweep["steps"]
        runs = []
        for launcher in sweep["launchers"]:
            result = run_sweep(name, launcher, steps, work_dir)
            print(f"{name} / {launcher}: {result['wall_s']:,.1f} s, {len(result['jobs'])} jobs", flush=True)
            runs.append(result)
        report["sweeps"][name] = {**now, "steps": steps, "runs": runs, "summary": summarize(name, runs)}
    report["sweeps"] = {name: report["sweeps"][name] for name in SWEEPS if name in report["sweeps"]}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "sweeps.json").write_text(json.dumps(report, indent=1) + "\n")
    (out_dir / "sweeps.md").write_text(markdown(report))
    print(f"wrote {out_dir / 'sweeps.md'}, {out_dir / 'sweeps.json'}")
