"""`python scripts/reproduce.py NAME --seeds 0,1,2` trains NAME's configuration once per seed and writes its
results record, `docs/results/NAME.json`; `--check` reruns the seeds of the record and compares.

NAME is a preset (`conf/experiment/NAME.yaml`: the runs are `python train.py experiment=NAME seed=S`) or one of
the guide's studies (`STUDIES`). `--set key=value` adds overrides (kept in the record, e.g. a shorter budget for
a preset that needs a GPU at full length). The seeds run as separate `train.py` processes, `--jobs` at a time
(default: one per CPU core, each with `torch_threads=1`); their run dirs stay under
`outputs/reproduce/NAME/<time>/seed_<S>`.

`--check` trains every seed of the record again, with the record's overrides, and compares each evaluation
curve with the recorded one. CPU runs with fixed seeds are deterministic, so they must be identical: otherwise
it prints the first difference of each seed and exits 1. The record is left as it was.
"""

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pglab.atomic import atomic_path
from pglab.results import record

ROOT = Path(__file__).resolve().parents[3]
RESULTS_DIR = ROOT / "docs" / "results"
RUNS_DIR = ROOT / "outputs" / "reproduce"
PRESETS_DIR = ROOT / "conf" / "experiment"
#: the guide's experiments (docs/guide.md, Q25-Q30): REINFORCE on CartPole at 100k env steps, one override each
GUIDE_BASE = ("algo=reinforce", "env=cartpole", "total_env_steps=100000")
STUDIES = {
    "guide_reinforce": (),
    "guide_reinforce_lr_1e-3": ("algo.lr=1e-3",),
    "guide_reinforce_lr_1e-1": ("algo.lr=1e-1",),
    "guide_reinforce_gamma_0.9": ("algo.gamma=0.9",),
    "guide_reinforce_gamma_1.0": ("algo.gamma=1.0",),
    "guide_reinforce_raw": ("algo.normalize_advantage=false", "algo.baseline=none"),
    "guide_reinforce_raw_mean_baseline": ("algo.normalize_advantage=false", "algo.baseline=mean"),
    "guide_reinforce_ent_0.01": ("algo.ent_coef=0.01",),
    "guide_reinforce_ent_0.05": ("algo.ent_coef=0.05",),
}
#: code that training does not run: changes to it leave a record's commit clean
NOT_TRAINING = (
    ":!src/pglab/benchmark",
    ":!src/pglab/results",
    ":!src/pglab/evaluate.py",
    ":!src/pglab/hub.py",
    ":!src/pglab/aggregate_metrics.py",
    ":!src/pglab/aggregate_report.py",
)
PACKAGES = ("torch", "lightning", "gymnasium", "numpy", "hydra-core", "mujoco", "ale-py", "box2d")


def names() -> list[str]:
    """Every name a record can have: the presets, then the guide's studies."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml")) + list(STUDIES)


def base_overrides(name: str) -> list[str]:
    if name in STUDIES:
        return [*GUIDE_BASE, *STUDIES[name]]
    if (PRESETS_DIR / f"{name}.yaml").exists():
        return [f"experiment={name}"]
    raise SystemExit(f"unknown record name {name!r}; choose a preset or a study: {', '.join(names())}")


def train_seed(overrides: list[str], seed: int, run_dir: Path) -> Path:
    """Run `python train.py OVERRIDES seed=SEED` into `run_dir` (its console output goes to `run_dir.log`), and
    note the machine's load averages when it ended (`load_average.json`: 1, 5 and 15 minutes), which tell how
    much else ran beside it."""
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        *overrides,
        f"seed={seed}",
        "torch_threads=1",
        f"hydra.run.dir={run_dir}",
        "callbacks.progress.refresh_every_env_steps=1000000000",
    ]
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{run_dir}.log", "w") as log:
        status = subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT).returncode
    if status != 0:
        raise RuntimeError(f"seed {seed} exited {status}; see {run_dir}.log")
    (run_dir / "load_average.json").write_text(json.dumps(os.getloadavg()))
    return run_dir


def train_seeds(
    name: str, overrides: list[str], seeds: list[int], jobs: int, runs_dir: Path = RUNS_DIR
) -> dict[int, Path]:
    """Train every seed, `jobs` at a time, into `runs_dir/NAME/<time>/seed_<S>`; their run dirs by seed."""
    stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    root = runs_dir / name / stamp
    print(f"{name}: seeds {', '.join(map(str, seeds))} ({jobs} at a time); run dirs under {root}", flush=True)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {s: pool.submit(train_seed, overrides, s, root / f"seed_{s}") for s in seeds}
        return {s: future.result() for s, future in futures.items()}


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def uncommitted_training_changes() -> list[str]:
    """The files of what training runs (src/, train.py, conf/) that differ from the commit; a YAML file counts only
    when its parsed content differs (a rewritten comment, such as a preset's MEASURED block, does not)."""
    import yaml

    changed = []
    paths = ("src", "conf", "train.py", *NOT_TRAINING)
    listed = (
        git("diff", "--name-only", "HEAD", "--", *paths)
        + "\n"
        + git("ls-files", "-o", "--exclude-standard", "--", *paths)
    )
    for path in filter(None, listed.splitlines()):
        if path.endswith(".yaml") and (ROOT / path).exists():
            committed = subprocess.run(
                ["git", "show", f"HEAD:{path}"], cwd=ROOT, capture_output=True, text=True
            )
            if committed.returncode == 0 and yaml.safe_load(committed.stdout) == yaml.safe_load(
                (ROOT / path).read_text()
            ):
                continue
        changed.append(path)
    return changed


def cpu_model() -> str:
    """The CPU's model name (`/proc/cpuinfo`), as records keep it."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    return next(
        (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
        platform.processor(),
    )


def provenance() -> dict[str, Any]:
    """The commit (and the files of what training runs that differ from it), package versions, the machine."""
    import torch

    cpu = cpu_model()
    return {
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(uncommitted := uncommitted_training_changes()),
        "uncommitted": uncommitted,
        "versions": {"python": platform.python_version()}
        | {package: importlib.metadata.version(package) for package in PACKAGES},
        "machine": {
            "cpu": cpu,
            "cores": os.cpu_count(),
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "system": f"{platform.system()} {platform.machine()}",
        },
    }


def write_record(
    name: str,
    seeds: list[int],
    extra: list[str],
    jobs: int,
    results_dir: Path = RESULTS_DIR,
    runs_dir: Path = RUNS_DIR,
) -> dict[str, Any]:
    """Train NAME's configuration (plus the `extra` overrides) at each seed and write its record."""
    overrides = base_overrides(name) + extra
    start = time.perf_counter()
    run_dirs = train_seeds(name, overrides, seeds, jobs, runs_dir)
    settings = record.run_settings(run_dirs[seeds[0]])
    seed_flag = ",".join(map(str, seeds))
    result = {
        "preset": name,
        "overrides": overrides,
        "command": " ".join(
            ["python scripts/reproduce.py", name, "--seeds", seed_flag, *(f"--set {o}" for o in extra)]
        ),
        **settings,
        "seeds": {
            str(s): record.seed_result(d, settings["threshold"], settings["score"])
            for s, d in run_dirs.items()
        },
        **provenance(),
        "jobs": jobs,
        "date": datetime.date.today().isoformat(),
    }
    results_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(results_dir / f"{name}.json") as tmp:
        tmp.write_text(record.dumps(result))
    for seed, entry in result["seeds"].items():
        final = entry["final"]
        print(
            f"  seed {seed}: final {final['mean']:.1f} ± {final['std']:.1f} at {final['env_steps']:,}; "
            f"first >= {settings['threshold']:g} at {entry['first_at']}, stable from {entry['stable_from']}; "
            f"{entry['wall_s']:.1f} s, {entry['sps']:,.0f} steps/s"
        )
    print(f"wrote {results_dir / f'{name}.json'} in {time.perf_counter() - start:.0f} s")
    return result


def check_record(name: str, jobs: int, results_dir: Path = RESULTS_DIR, runs_dir: Path = RUNS_DIR) -> bool:
    """Rerun every seed of NAME's record and compare the evaluation curves; True if all are identical."""
    path = results_dir / f"{name}.json"
    if not path.exists():
        raise SystemExit(f"{path} does not exist: write it first with python scripts/reproduce.py {name}")
    recorded = record.load(path)
    seeds = [int(s) for s in recorded["seeds"]]
    run_dirs = train_seeds(name, recorded["overrides"], seeds, min(jobs, len(seeds)), runs_dir)
    identical = True
    for seed, run_dir in run_dirs.items():
        rerun = record.seed_result(run_dir, recorded["threshold"], recorded["score"])
        difference = record.first_difference(recorded["seeds"][str(seed)], rerun)
        identical &= difference is None
        print(f"  seed {seed}: {'identical' if difference is None else 'DIFFERS: ' + difference}")
    return identical


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help="presets or guide studies ('all': every one)"
    )
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="an extra override")
    parser.add_argument("--jobs", type=int, default=os.cpu_count(), help="seeds trained at once")
    parser.add_argument("--check", action="store_true", help="rerun the record's seeds and compare")
    parser.add_argument(
        "--docs", action="store_true", help="rewrite the docs' measured blocks from the records"
    )
    parser.add_argument("--results", type=Path, default=RESULTS_DIR, help="where records are (docs/results)")
    parser.add_argument("--runs", type=Path, default=RUNS_DIR, help="where run dirs go (outputs/reproduce)")
    args = parser.parse_args(argv)
    if args.docs and not args.names:
        from pglab.results import docs

        missing: list[str] = []
        for path in docs.write_all(args.results, missing):
            print(f"rewrote {path}")
        for block in missing:
            print(f"left as it was: {block}", file=sys.stderr)
        return 1 if missing else 0
    chosen = names() if args.names == ["all"] else args.names
    if not chosen:
        parser.error("name a preset or study, 'all', or --docs")
    for name in chosen:
        base_overrides(name)  # an unknown name fails before anything runs
    if args.check:
        results = [check_record(name, max(1, args.jobs), args.results, args.runs) for name in chosen]
        return 0 if all(results) else 1
    seeds = [int(s) for s in args.seeds.split(",")]
    for name in chosen:
        write_record(name, seeds, args.set, max(1, min(args.jobs, len(seeds))), args.results, args.runs)
    return 0
