"""Learning tests: the suite replays the presets' published claims. Each test trains a preset at seed 0 and
compares its whole evaluation curve with the preset's results record (`docs/results/<preset>.json`), bit for
bit: on the CPU a seeded run is deterministic, so the final return, the first step at the threshold and the
stable-from step that README.md and the preset's `MEASURED:` comment state (written from that record, which
`tests/unit/test_results_docs.py` checks) are what this code reaches. No wall-clock bounds: speed is for the
benchmark scripts.

A record is replayable on the CPU kind it was measured on: the same torch CPU capability
(`torch.backends.cpu.get_cpu_capability()`) and the same CPU model, both kept in the record. Other vector
instructions may round differently, and so may the same instructions on another vendor's CPU (the math libraries
dispatch on the CPU model: AVX512 records from an AMD EPYC do not replay on an AVX512 Intel Xeon), so on another kind
the test is skipped, saying so.
"""

import pytest
import torch
from omegaconf import OmegaConf, open_dict

from pglab.results import record
from pglab.results.reproduce import RESULTS_DIR, cpu_model
from pglab.train import run

pytestmark = pytest.mark.slow

#: the presets replayed (seed 0), each to the env step given (None: the whole run): every CartPole and Acrobot preset
#: but the longest (`reinforce_cartpole_hf`, `ppo_cartpole_cleanrl`), which `python scripts/reproduce.py NAME --check`
#: replays, as it does the Pendulum presets (`ppo_pendulum` alone would take a tenth of the suite's time;
#: tests/integration/test_resume.py's Pendulum runs check that continuous-action runs are deterministic). The
#: presets of 200k-300k env steps replay their first 100k, past their first solve (the time-limit truncations of a
#: solved CartPole included), at their whole budget's schedules; `--check` replays them to the end.
REPLAYED = {
    "ppo_cartpole": None,
    "a2c_cartpole": 100_000,
    "vpg_cartpole": 100_000,
    "reinforce_cartpole": 100_000,
    "ppo_acrobot": 100_000,
    "ppo_cartpole_torch": None,  # the torch backend: batched CartPole, the rollout on the device
    "ppo_acrobot_torch": 100_000,
}


@pytest.mark.parametrize("preset", list(REPLAYED))
def test_preset_replays_its_recorded_curve_at_seed_0(make_cfg, tmp_path, preset):
    recorded = record.load(RESULTS_DIR / f"{preset}.json")
    here = (torch.backends.cpu.get_cpu_capability(), cpu_model())
    there = (recorded["machine"]["torch_cpu_capability"], recorded["machine"]["cpu"])
    if here != there:
        pytest.skip(
            f"{preset}'s record was measured with torch CPU capability {there[0]} on {there[1]}; this is {here}"
        )
    claimed = recorded["seeds"]["0"]
    cfg = make_cfg(*recorded["overrides"], "seed=0", "torch_threads=1")
    stop = REPLAYED[preset]
    if stop is None:
        summary = run(cfg)
        assert summary["status"] == "completed"
        rerun = record.seed_result(tmp_path, recorded["threshold"], recorded["score"])
        assert record.first_difference(claimed, rerun) is None, record.first_difference(claimed, rerun)
        assert rerun["final"] == claimed["final"]
        assert (rerun["first_at"], rerun["stable_from"]) == (claimed["first_at"], claimed["stable_from"])
        return
    # The first `stop` env steps: the run stops there as at a SIGINT (`tests.fakes.StopAt`).
    with open_dict(cfg):
        cfg.callbacks.stop = {"_target_": "tests.fakes.StopAt", "env_steps": stop}
    summary = run(cfg)
    assert summary["status"] == "interrupted"
    reached = summary["progress/env_steps"]
    assert stop <= reached < stop + 20_000
    rerun, _ = record.read_eval_curve(tmp_path)
    expected = [point for point in claimed["eval"] if point[0] <= reached]
    assert len(expected) >= 8 and claimed["first_at"] is not None and claimed["first_at"] <= reached
    difference = record.first_difference(
        {"eval": expected, "env_steps": reached}, {"eval": rerun[: len(expected)], "env_steps": reached}
    )
    assert difference is None, difference


def test_the_default_config_is_the_ppo_cartpole_preset(make_cfg):
    # `python train.py` (= algo=ppo env=cartpole) trains exactly what `ppo_cartpole`'s record measured.
    default = OmegaConf.to_container(make_cfg(), resolve=True)
    preset = OmegaConf.to_container(make_cfg("experiment=ppo_cartpole"), resolve=True)
    assert default == preset
