"""Every command in docs/guide.md runs, at a smoke budget (one seed, a few thousand env steps)."""

import os
import re
import shlex

import pytest
import torch

from tests.cli import run_script, train
from tests.conftest import ROOT

GUIDE = ROOT / "docs" / "guide.md"
SMOKE = [
    "debug=smoke",
    "total_env_steps=4096",
    "seed=0",
    "callbacks.progress.refresh_every_env_steps=1000000000",
]


def guide_commands() -> list[str]:
    """The `python ...` lines of the guide's bash blocks."""
    blocks = re.findall(r"```bash\n(.*?)```", GUIDE.read_text(), flags=re.S)
    return [
        line.strip() for block in blocks for line in block.splitlines() if line.strip().startswith("python ")
    ]


def test_the_guide_answers_all_30_questions_and_has_no_unfilled_results():
    text = GUIDE.read_text()
    assert [int(n) for n in re.findall(r"^\*\*Q(\d+)\.", text, flags=re.M)] == list(range(1, 31))
    assert "_RESULT" not in text
    for figure in re.findall(r"\]\((figures/[^)]+\.png)\)", text):
        assert (GUIDE.parent / figure).stat().st_size > 10_000, figure


@pytest.fixture(scope="module")
def smoke_run_and_sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("guide")
    run_dir, sweep_dir = root / "run", root / "sweep"
    assert train(*SMOKE, f"hydra.run.dir={run_dir}").returncode == 0
    assert train("-m", "algo.lr=1e-3,3e-4", *SMOKE, f"hydra.sweep.dir={sweep_dir}").returncode == 0
    return run_dir, sweep_dir


def two_jobs(args: list[str]) -> list[str]:
    """A sweep's overrides cut to two jobs: the first swept key keeps its first two values, every other swept
    key its first value (`key=a,b,c`; lists in brackets, like `[16],[64,64]`, count as one value each)."""
    kept, first = [], True
    for override in args:
        key, sep, values = override.partition("=")
        parts = re.findall(r"\[[^\]]*\]|[^,]+", values) if sep and not key.startswith("hydra") else []
        if len(parts) > 1:
            override, first = f"{key}={','.join(parts[:2] if first else parts[:1])}", False
        kept.append(override)
    return kept


@pytest.mark.parametrize("command", guide_commands())
def test_guide_command(command, smoke_run_and_sweep, tmp_path):
    run_dir, sweep_dir = smoke_run_and_sweep
    command = command.replace("outputs/runs/<run>", str(run_dir)).replace(
        "outputs/multiruns/<sweep>", str(sweep_dir)
    )
    script, *args = shlex.split(command)[1:]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")} | {
        "NETRC": str(tmp_path / "none")
    }
    if script == "train.py":
        args = [a for a in args if not a.startswith(("seed=", "total_env_steps=", "hydra.sweeper.n_trials="))]
        if "-m" in args:  # two jobs make it a sweep all the same
            args = two_jobs(args)
        args += SMOKE + [f"hydra.run.dir={tmp_path / 'run'}", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
        if any(a.startswith("hparams_search=") for a in args):
            args.append("hydra.sweeper.n_trials=2")
    result = run_script(script, *args, env=env, timeout=600)
    if "accelerator=gpu" in args and not torch.cuda.is_available():
        assert result.returncode == 2 and "PyTorch sees no CUDA GPU" in result.stdout + result.stderr
        return
    assert result.returncode == 0, (command, (result.stdout + result.stderr)[-3000:])
