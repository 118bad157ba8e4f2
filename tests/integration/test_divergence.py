"""A non-finite loss or gradient stops training with a message naming the env step, the metric and the last
good checkpoint (kept as it was), unless `on_nonfinite=skip`."""

import pytest
import torch

from pglab.errors import DivergenceError
from pglab.train import run

# 8 envs x 32 steps = 256 env steps per rollout; each sub-env's rewards turn NaN after 100 of its steps, so
# the 4th rollout (768 -> 1024 env steps) holds the first NaN; last.ckpt is written every 256 env steps.
NAN = [
    "env.id=pglab-test/NaNReward-v0",
    "env.num_envs=8",
    "algo.num_steps=32",
    "total_env_steps=4096",
    "logger=none",
    "callbacks.checkpoint.every_env_steps=256",
    "callbacks.evaluation.every_env_steps=100000",
]


def test_a_nan_stops_training_naming_step_metric_and_the_last_good_checkpoint(make_cfg, tmp_path):
    with pytest.raises(DivergenceError) as info:
        run(make_cfg(*NAN))
    message = str(info.value)
    ckpt = tmp_path / "checkpoints" / "last.ckpt"
    assert message.startswith("non-finite loss (nan) in the update after 1,024 env steps")
    assert (
        f"the last good checkpoint, {ckpt} at 768 env steps, is kept" in message
        and "on_nonfinite=skip" in message
    )
    checkpoint = torch.load(ckpt, weights_only=True)
    assert checkpoint["collector"]["env_steps"] == 768
    assert all(torch.isfinite(t).all() for t in checkpoint["state_dict"].values())
    summary = (tmp_path / "summary.json").read_text()
    assert '"status": "failed"' in summary and "DivergenceError: non-finite loss" in summary


def test_skip_drops_the_nonfinite_updates_and_counts_them(make_cfg, tmp_path):
    summary = run(make_cfg(*NAN, "on_nonfinite=skip", "logger=csv"))
    assert summary["status"] == "completed" and summary["progress/env_steps"] == 4096
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert all(torch.isfinite(t).all() for t in checkpoint["state_dict"].values())
    rows = (tmp_path / "csv" / "metrics.csv").read_text().splitlines()
    column = rows[0].split(",").index("diagnostics/skipped_updates")
    skipped = [float(r.split(",")[column]) for r in rows[1:] if r.split(",")[column]]
    # PPO's default 20 epochs x 1 minibatch: every update from the 4th rollout on is skipped.
    assert skipped[:3] == [0.0, 0.0, 0.0] and skipped[-1] == 20 * (len(skipped) - 3)


def test_an_update_that_bypasses_gradient_step_and_leaves_nonfinite_weights_stops_training(make_cfg):
    # An algorithm that calls its optimizer itself is checked after that step: the weights must be finite.
    from hydra.utils import instantiate

    from pglab.rollout.collector import RolloutCollector

    cfg = make_cfg("env.num_envs=2")
    collector = RolloutCollector(instantiate(cfg.env)(), seed=0)
    try:
        module = instantiate(cfg.algo)(
            network=instantiate(cfg.network), collector=collector, total_env_steps=1000
        )
        optimizer = module.configure_optimizers()
        module.watch_optimizers([optimizer])
        weight = next(module.policy.parameters())
        weight.grad = torch.ones_like(weight)
        optimizer.step()  # finite gradients, finite weights: nothing happens
        weight.grad[0] = float("nan")
        with pytest.raises(
            DivergenceError, match=r"^non-finite weights \(nan\) in the update after 0 env steps"
        ):
            optimizer.step()
    finally:
        collector.close()
