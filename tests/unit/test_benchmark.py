"""scripts/benchmark.py's pure parts: the stable-solve rule and the pglab -> Stable-Baselines3 mapping (the full
benchmark is run by hand; it measures speed, which tests never assert)."""

import importlib.util

import pytest
from hydra.core.global_hydra import GlobalHydra

from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location("benchmark", ROOT / "scripts" / "benchmark.py")
benchmark = importlib.util.module_from_spec(spec)
spec.loader.exec_module(benchmark)


def compose(preset: str, *overrides: str):
    GlobalHydra.instance().clear()
    try:
        return benchmark.compose_config(preset, list(overrides))
    finally:
        GlobalHydra.instance().clear()


def test_stable_solve_is_the_first_evaluation_after_which_none_drops_below_475():
    evals = [
        {"env_steps": s, "return_mean": r, "train_s": s / 1000}
        for s, r in [(10_000, 400.0), (20_000, 480.0), (30_000, 470.0), (40_000, 490.0), (50_000, 500.0)]
    ]
    assert benchmark.stable_solve(evals) == {"env_steps": 40_000, "train_s": 40.0}
    assert (
        benchmark.stable_solve(evals + [{"env_steps": 60_000, "return_mean": 474.9, "train_s": 60.0}]) is None
    )


def test_ppo_and_a2c_presets_map_onto_sb3_hyperparameters():
    ppo = benchmark.sb3_hyperparameters(compose("ppo_cartpole"))
    assert {
        k: ppo[k]
        for k in (
            "n_steps",
            "batch_size",
            "n_epochs",
            "gamma",
            "gae_lambda",
            "clip_range",
            "ent_coef",
            "max_grad_norm",
            "normalize_advantage",
        )
    } == {
        "n_steps": 32,
        "batch_size": 256,
        "n_epochs": 20,
        "gamma": 0.98,
        "gae_lambda": 0.8,
        "clip_range": 0.2,
        "ent_coef": 0.0,
        "max_grad_norm": 0.5,
        "normalize_advantage": True,
    }
    assert ppo["vf_coef"] == 0.25  # pglab's 0.5 * MSE with coefficient 0.5 is SB3's MSE with 0.25
    # pglab anneals with the progress before each rollout, SB3 after it: one rollout (256 of 100k) apart.
    assert ppo["learning_rate"] == {"linear_from": 1e-3, "shift": 256 / 100_000}
    assert ppo["policy_kwargs"] == {"net_arch": [64, 64], "activation_fn": "Tanh", "ortho_init": True}
    a2c = benchmark.sb3_hyperparameters(compose("a2c_cartpole"))
    assert a2c["use_rms_prop"] is True and a2c["n_steps"] == 5 and "batch_size" not in a2c


def test_settings_sb3_is_not_given_are_refused_by_name():
    with pytest.raises(ValueError, match=r"env.normalize_obs"):
        benchmark.sb3_hyperparameters(compose("ppo_cartpole", "env.normalize_obs=true"))


def test_timed_calls_add_up_the_time_inside_methods_and_generators_only(monkeypatch):
    """With a fake clock: a method's calls add up; a generator method counts while it computes its items, not
    while its consumer works between them; `time_breakdown` leaves the rest of the training time to "other"."""
    clock = [0.0]
    monkeypatch.setattr(benchmark.time, "perf_counter", lambda: clock[0])

    class Work:
        def step(self, seconds):
            clock[0] += seconds
            return seconds

        def items(self):
            for seconds in (1.0, 2.0):
                clock[0] += seconds
                yield seconds

    totals = {}
    benchmark.timed_calls(Work, "step", totals, "update_s")
    benchmark.timed_calls(Work, "items", totals, "collect_s")
    work = Work()
    assert work.step(0.5) == 0.5 and work.step(0.25) == 0.25
    for _ in work.items():
        clock[0] += 10.0  # the consumer's time
    assert totals == {"update_s": 0.75, "collect_s": 3.0}
    breakdown = benchmark.time_breakdown(totals, train_s=25.0)
    assert breakdown == {"collect_s": 3.0, "advantages_s": 0.0, "update_s": 0.75, "other_s": 21.25}
