"""The GPU path, where a CUDA GPU exists (`pytest -m gpu`; `scripts/gpu_check.sh` runs these and more): every
algorithm trains a smoke budget with `accelerator=gpu`, `evaluate.py device=cuda` reproduces the `device=cpu`
evaluation of the same checkpoint, and two-GPU data-parallel training ends with the same weights on both GPUs.
Without CUDA every test here is skipped; the CPU side (`device=cuda` and `accelerator=gpu` refused with one line)
is tested in `test_evaluate.py` and `test_failures.py`.

Each script runs in a fresh interpreter (`fresh=True`), not forked from the test zygote: CUDA cannot be used in a
child forked from a process that has initialized the CUDA driver, and a fresh process is what a user runs.
"""

import csv
import json
import math

import pytest
import torch

from tests.cli import run_script, train
from tests.conftest import ALGOS

NO_CUDA = "needs a CUDA GPU: torch.cuda.is_available() is False"
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)]

GPU = ["accelerator=gpu", "logger=csv", "callbacks.progress.refresh_every_env_steps=1000000000"]
EVAL_EPISODES = 6
#: Greedy evaluation of the same seeds: only the network's forward pass differs between the devices (the envs
#: step on the CPU in both). CPU and CUDA float32 kernels sum in different orders, which moves logits and
#: Gaussian means by about 1e-7 relative (TF32 is off for matmuls by default, and these are MLPs: no cuDNN).
#: Measured on CPU with checkpoints of these two configs (trained on the CPU): multiplying every weight by
#: 1 + 1e-5 * N(0, 1), a hundred times that, left CartPole's 6 episodes identical and moved Pendulum's returns
#: by at most 1.9e-6 relative (3 draws). So CartPole's episodes must be identical, Pendulum's returns within 1e-4.
CONTINUOUS_RTOL = 1e-4


def dump_args(path) -> list[str]:
    """Each process writes its final policy weights (on their device) to `<path>/rank-<r>.pt`."""
    return ["+callbacks.dump._target_=tests.fakes.DumpProcessState", f"+callbacks.dump.dirpath={path}"]


def metric_rows(run_dir) -> list[dict[str, str]]:
    with open(run_dir / "csv" / "metrics.csv", newline="") as file:
        return [row for row in csv.DictReader(file) if row.get("progress/rollouts")]


@pytest.mark.parametrize("env", ["cartpole", "pendulum"])
@pytest.mark.parametrize("algo", ALGOS)
def test_every_algorithm_trains_a_smoke_budget_on_the_gpu(tmp_path, algo, env):
    run_dir = tmp_path / "run"
    result = train(
        f"algo={algo}",
        f"env={env}",
        "debug=smoke",
        *GPU,
        *dump_args(tmp_path / "dump"),
        f"hydra.run.dir={run_dir}",
        fresh=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["progress/env_steps"] >= 2000
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert checkpoint["collector"]["env_steps"] == summary["progress/env_steps"]
    # The policy trained on the GPU: every parameter and buffer was on cuda at the end of training.
    weights = torch.load(tmp_path / "dump" / "rank-0.pt", weights_only=True)["weights"]
    assert weights and {str(value.device) for value in weights.values()} == {"cuda:0"}
    # One logged row per rollout up to the budget, every loss finite.
    rows = metric_rows(run_dir)
    assert float(rows[-1]["progress/env_steps"]) == summary["progress/env_steps"]
    losses = [key for key in rows[0] if key.startswith("losses/")]
    assert losses, list(rows[0])
    for row in rows:
        for key in losses:
            if row[key]:
                assert math.isfinite(float(row[key])), (key, row)
    assert sum(1 for row in rows for key in losses if row[key]) >= len(rows)


@pytest.mark.parametrize("env", ["cartpole", "pendulum"])
def test_evaluate_on_cuda_reproduces_the_cpu_evaluation_of_a_gpu_trained_checkpoint(tmp_path, env):
    run_dir = tmp_path / "run"
    result = train(
        f"env={env}",
        "debug=smoke",
        "total_env_steps=4000",
        f"callbacks.evaluation.episodes={EVAL_EPISODES}",
        *GPU,
        f"hydra.run.dir={run_dir}",
        fresh=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    ckpt = run_dir / "checkpoints" / "last.ckpt"

    outs = {}
    for device in ("cpu", "cuda"):
        before = set(ckpt.parent.glob("last-eval-*.json"))
        result = run_script(
            "evaluate.py", f"ckpt_path={ckpt}", f"episodes={EVAL_EPISODES}", f"device={device}", fresh=True
        )
        assert result.returncode == 0, (device, result.stderr[-3000:])
        (json_path,) = set(ckpt.parent.glob("last-eval-*.json")) - before
        outs[device] = json.loads(json_path.read_text())
    cpu, cuda = outs["cpu"], outs["cuda"]
    assert cpu["seed"] == cuda["seed"] == 1_000_000 and len(cpu["returns"]) == EVAL_EPISODES
    assert cpu["lengths"] == cuda["lengths"]
    if env == "cartpole":
        assert cpu["returns"] == cuda["returns"]
    else:
        assert cuda["returns"] == pytest.approx(cpu["returns"], rel=CONTINUOUS_RTOL)
    # On the GPU, evaluate.py replays training's final evaluation (same device, weights, seeds and batch).
    assert cuda["episode_return_mean"] == pytest.approx(summary["eval/episode_return_mean"], rel=1e-6)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 CUDA GPUs (torch.cuda.device_count() < 2)")
def test_two_gpu_data_parallel_training_ends_with_the_same_weights_on_both_gpus(tmp_path):
    run_dir = tmp_path / "run"
    # debug=smoke: 2 envs x 32 steps per process, so a rollout is 128 env steps over both processes.
    result = train(
        "debug=smoke",
        "total_env_steps=4096",
        *GPU,
        "trainer.strategy=ddp",
        "trainer.devices=2",
        *dump_args(tmp_path / "dump"),
        f"hydra.run.dir={run_dir}",
        fresh=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["progress/env_steps"] == 4096
    ranks = [torch.load(tmp_path / "dump" / f"rank-{r}.pt", weights_only=True) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert [r["seed_offset"] for r in ranks] == [
        0,
        2,
    ]  # distinct envs: sub-env i of process r is seed + 2r + i
    for rank, dumped in enumerate(ranks):  # process r trained on GPU r
        assert {str(value.device) for value in dumped["weights"].values()} == {f"cuda:{rank}"}
    for key, value in ranks[0]["weights"].items():  # NCCL all-reduced gradients: identical weights
        assert torch.equal(value.cpu(), ranks[1]["weights"][key].cpu()), key
    assert ranks[0]["env_steps"] == ranks[1]["env_steps"] == summary["progress/env_steps"]
    assert ranks[0]["episodes"] == ranks[1]["episodes"] == summary["progress/episodes"]
    steps = [int(float(row["step"])) for row in metric_rows(run_dir)]
    assert steps == list(range(128, 4097, 128))


@pytest.mark.parametrize("env", ["cartpole", "pendulum"])
def test_the_torch_backend_trains_with_its_envs_on_the_gpu(tmp_path, env):
    # the batched envs move to the policy's device: the env state in the checkpoint came from cuda tensors, and
    # the episodes are the CPU's (the counter-based resets are integer arithmetic, the same on every device)
    run_dir = tmp_path / "run"
    result = train(
        f"env={env}",
        "env.vectorization=torch",
        "env.num_envs=64",
        "debug=smoke",
        *GPU,
        f"hydra.run.dir={run_dir}",
        fresh=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["progress/env_steps"] >= 2000
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert checkpoint["collector"]["env_state"]["episode"].shape == (64,)
    assert math.isfinite(summary["eval/episode_return_mean"])
