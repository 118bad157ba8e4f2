"""Every tuned preset in conf/experiment/ trains a smoke budget with its values (what each reaches is its results
record's, checked by tests/unit/test_results_docs.py and replayed by tests/e2e/test_learning.py)."""

import pytest
import yaml
from omegaconf import OmegaConf

from pglab.train import run
from tests.conftest import CONF

PRESETS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


def test_the_required_presets_exist():
    assert {
        "ppo_cartpole",
        "a2c_cartpole",
        "vpg_cartpole",
        "reinforce_cartpole",
        "reinforce_cartpole_hf",
        "ppo_pendulum",
        "ppo_acrobot",
        "ppo_cartpole_torch",
        "ppo_acrobot_torch",
        "ppo_pendulum_torch",
        "ppo_pixelcopter_torch",
    } <= set(PRESETS)


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_trains_a_smoke_budget_with_its_values(make_cfg, tmp_path, preset):
    budget = 1024 if preset.endswith("pong") else 5000  # CNN updates dominate a CPU smoke run
    cfg = make_cfg(f"experiment={preset}", "debug=smoke", f"total_env_steps={budget}", "logger=none")
    values = yaml.safe_load((CONF / "experiment" / f"{preset}.yaml").read_text())
    for key, value in values.get("algo", {}).items():
        assert OmegaConf.select(cfg, f"algo.{key}") == value, key
    summary = run(cfg)
    assert summary["status"] == "completed"
    assert summary["progress/env_steps"] >= budget
    assert summary["eval/episode_return_mean"] == summary["eval/episode_return_mean"]  # a number, not NaN
