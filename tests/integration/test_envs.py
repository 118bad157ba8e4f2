"""Every algorithm trains every env option end to end at a smoke budget (`python train.py algo=X env=Y`)."""

import itertools

import pytest

from pglab.train import run
from tests.integration.test_configs import ALGOS, ENVS, IMAGE_ENVS


@pytest.mark.parametrize(("algo", "env"), list(itertools.product(ALGOS, ENVS)))
def test_algo_trains_env_at_a_smoke_budget(make_cfg, algo, env):
    extra = []
    if env in IMAGE_ENVS:  # CNN updates are the slow part on a CPU: one or two rollouts are enough here
        extra = ["network=cnn", "total_env_steps=600"]
        extra += {"vpg": ["network.shared_trunk=false", "algo.value_updates=5"],
                  "reinforce": ["algo.episodes_per_rollout=1"]}.get(algo, [])
    cfg = make_cfg(f"algo={algo}", f"env={env}", "debug=smoke", "logger=none", "callbacks.evaluation.episodes=1", *extra)
    summary = run(cfg)
    assert summary["status"] == "completed"
    assert summary["time/env_steps"] >= cfg.total_env_steps
    assert summary["eval/episode_length_mean"] >= 1
