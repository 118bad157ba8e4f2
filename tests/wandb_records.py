"""Read an offline W&B run back with wandb's own reader (`wandb leet inspect --json`), one record per line."""

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path


def read_records(run_file: Path) -> dict[str, list[dict]]:
    """The records of a `run-*.wandb` transaction log, by record type (history, config, metric, artifact...)."""
    wandb_cli = Path(sys.executable).with_name("wandb")
    out = subprocess.run(
        [str(wandb_cli), "leet", "inspect", "--json", str(run_file)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    records: dict[str, list[dict]] = defaultdict(list)
    for line in out.splitlines():
        if line.strip():
            record = json.loads(line)
            records[record["type"]].append(record[record["type"]])
    return records


def offline_runs(run_dir: Path) -> list[Path]:
    return sorted(run_dir.glob("wandb/offline-run-*/run-*.wandb"))
