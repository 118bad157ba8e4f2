"""`pglab.benchmark`'s pure parts: the plan of a repeat, the pglab -> Stable-Baselines3 mapping, the clocks, the
numbers read from a pglab run's summary and logged rows, the stable-solve rule and the summaries (the benchmark
itself is run by hand; it measures speed, which tests never assert)."""

import importlib.util
import json
import subprocess
import sys

import pytest
from hydra.core.global_hydra import GlobalHydra

from pglab.benchmark import child_pglab, plan, sb3_config, summary, timing
from pglab.benchmark.child_process import CHILDREN
from pglab.benchmark.report import markdown


def compose(preset: str, *overrides: str):
    GlobalHydra.instance().clear()
    try:
        return plan.compose_config(preset, list(overrides))
    finally:
        GlobalHydra.instance().clear()


def test_a_repeat_pairs_each_pglab_run_with_its_counterpart_and_flips_the_pairs_on_odd_repeats(tmp_path):
    GlobalHydra.instance().clear()
    try:
        even, odd = (plan.plan_repeat(k, seed=k, budget=plan.QUICK, work_dir=tmp_path) for k in (0, 1))
    finally:
        GlobalHydra.instance().clear()
    assert [run.name for run in even] == [
        "pglab/ppo_cartpole",
        "sb3/ppo_cartpole",
        "pglab/a2c_cartpole",
        "sb3/a2c_cartpole",
        "sb3/rl_zoo_ppo",
        "plain/ppo",
        "pglab/vpg_cartpole",
        "pglab/reinforce_cartpole",
        "ceiling",
    ]
    assert [run.name for run in odd[:2]] == ["sb3/ppo_cartpole", "pglab/ppo_cartpole"]
    pglab_ppo = even[0].spec
    assert pglab_ppo["overrides"] == [
        "experiment=ppo_cartpole",
        "seed=0",
        "callbacks.evaluation.every_env_steps=2048",
        "callbacks.evaluation.episodes=4",
        "total_env_steps=4096",
        "logger=none",
        "+logger.evaluation_clock._target_=pglab.benchmark.evaluation_clock.EvaluationClock",
        f"+logger.evaluation_clock.path={tmp_path / 'pglab-ppo_cartpole-r0' / 'evaluation_clock.json'}",
        f"hydra.run.dir={tmp_path / 'pglab-ppo_cartpole-r0'}",
    ]
    assert {run.spec["total_steps"] for run in even if run.kind in ("sb3", "plain_ppo")} == {4096}
    assert odd[1].spec["overrides"][1] == "seed=1"
    # SB3 evaluates on pglab's eval seeds, handed over so that its child needs no pglab import
    assert even[1].spec["eval_seed"] == 1_000_000 and odd[0].spec["eval_seed"] == 1_000_001
    # every kind of run has its child module (found, not imported: the SB3 one needs the bench extra)
    assert {run.kind for run in even} == set(CHILDREN)
    for module in CHILDREN.values():
        assert importlib.util.find_spec(f"pglab.benchmark.{module}") is not None


def test_the_runs_are_planned_in_another_process_and_come_back_as_they_were_planned(tmp_path, monkeypatch):
    def run_in_this_process(command, cwd, check):  # `python -m pglab.benchmark.plan SPEC PATH`, here
        assert command[1:3] == ["-m", "pglab.benchmark.plan"] and check
        GlobalHydra.instance().clear()
        try:
            plan.main(command[3:])
        finally:
            GlobalHydra.instance().clear()

    monkeypatch.setattr(plan.subprocess, "run", run_in_this_process)
    runs = plan.plan_runs(repeats=2, seed=5, budget=plan.QUICK, work_dir=tmp_path)
    assert [k for k, _ in runs] == [0] * 9 + [1] * 9
    GlobalHydra.instance().clear()
    try:
        assert [run for k, run in runs if k == 1] == plan.plan_repeat(1, 6, plan.QUICK, tmp_path)
    finally:
        GlobalHydra.instance().clear()


def test_the_parent_imports_neither_torch_nor_lightning_nor_hydra():
    """A child reports at least its parent's peak memory as its own (Linux keeps it across exec): the parent, which
    imports the CLI, the children's starter, the summaries and the report, must stay small."""
    modules = "pglab.benchmark.cli, pglab.benchmark.child_process, pglab.benchmark.report"
    heavy = "('torch', 'lightning', 'hydra', 'omegaconf', 'stable_baselines3', 'gymnasium', 'matplotlib')"
    code = f"import sys, {modules}; print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy}))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_ppo_and_a2c_presets_map_onto_sb3_hyperparameters():
    ppo = sb3_config.sb3_hyperparameters(compose("ppo_cartpole"))
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
    a2c = sb3_config.sb3_hyperparameters(compose("a2c_cartpole"))
    assert a2c["use_rms_prop"] is True and a2c["n_steps"] == 5 and "batch_size" not in a2c


def test_settings_sb3_is_not_given_are_refused_by_name():
    with pytest.raises(ValueError, match=r"env.normalize_obs"):
        sb3_config.sb3_hyperparameters(compose("ppo_cartpole", "env.normalize_obs=true"))


def test_a_schedule_travels_as_json_and_becomes_the_callable_of_the_progress_remaining():
    lr = sb3_config.schedule(sb3_config.linear_schedule(1e-3, shift=0.25))
    assert lr(1.0) == pytest.approx(1.25e-3) and lr(0.5) == pytest.approx(0.75e-3)
    assert lr(-0.5) == 0.0  # clamped once the shifted progress runs out
    assert sb3_config.schedule(3e-4) == 3e-4


def test_timed_calls_add_up_the_time_inside_methods_and_generators_only(monkeypatch):
    """With a fake clock: a method's calls add up; a generator method counts while it computes its items, not
    while its consumer works between them; `time_breakdown` leaves the rest of the training time to "other"."""
    clock = [0.0]
    monkeypatch.setattr(timing.time, "perf_counter", lambda: clock[0])

    class Work:
        def step(self, seconds):
            clock[0] += seconds
            return seconds

        def items(self):
            for seconds in (1.0, 2.0):
                clock[0] += seconds
                yield seconds

    totals = {}
    timing.timed_calls(Work, "step", totals, "update_s")
    timing.timed_calls(Work, "items", totals, "collect_s")
    work = Work()
    assert work.step(0.5) == 0.5 and work.step(0.25) == 0.25
    for _ in work.items():
        clock[0] += 10.0  # the consumer's time
    assert totals == {"update_s": 0.75, "collect_s": 3.0}
    breakdown = timing.time_breakdown(totals, train_s=25.0)
    assert breakdown == {"collect_s": 3.0, "advantages_s": 0.0, "update_s": 0.75, "other_s": 21.25}


def test_record_first_call_stores_the_seconds_since_process_start_once_and_restores_the_method(monkeypatch):
    monkeypatch.setenv(timing.START_TIME_ENV, "100.0")
    now = [103.5]
    monkeypatch.setattr(timing.time, "time", lambda: now[0])

    class Env:
        def step(self, action):
            return action * 2

    original = Env.step
    first = timing.record_first_call(Env, "step")
    assert Env().step(3) == 6 and first == {"s": 3.5}
    now[0] = 200.0
    assert Env().step(4) == 8 and first == {"s": 3.5} and Env.step is original


def rollout_row(env_steps: int, wall_s: float, eval_s: float) -> dict[str, float]:
    return {
        "progress/env_steps": env_steps,
        "time/wall_s": wall_s,
        "time/eval_s": eval_s,
        "losses/policy": 0.1,
    }


def eval_row(env_steps: int, return_mean: float) -> dict[str, float]:
    return {"progress/env_steps": env_steps, "eval/episode_return_mean": return_mean}


def test_each_evaluation_gets_the_training_seconds_of_its_rollout_without_evaluation_time():
    """As pglab logs them: a periodic evaluation just before its rollout's row (whose cumulative eval_s includes
    it), the final one after the last rollout's row."""
    rows = [
        rollout_row(1000, wall_s=2.0, eval_s=0.0),
        eval_row(2000, 120.0),
        rollout_row(2000, wall_s=5.0, eval_s=1.5),
        rollout_row(3000, wall_s=6.5, eval_s=1.5),
        eval_row(4000, 480.0),
        rollout_row(4000, wall_s=9.5, eval_s=3.0),
        rollout_row(4500, wall_s=10.5, eval_s=3.0),
        eval_row(4500, 500.0),  # final
    ]
    assert child_pglab.evaluations(rows) == [
        {"env_steps": 2000, "train_s": 3.5, "return_mean": 120.0},
        {"env_steps": 4000, "train_s": 6.5, "return_mean": 480.0},
        {"env_steps": 4500, "train_s": 7.5, "return_mean": 500.0},
    ]


def test_the_evaluation_clock_keeps_the_clock_and_evaluation_keys_of_every_row_and_writes_them_at_the_end(
    tmp_path,
):
    from pglab.benchmark.evaluation_clock import EvaluationClock

    path = tmp_path / "evaluation_clock.json"
    clock = EvaluationClock(str(path))
    clock.log_metrics({**eval_row(2000, 120.0), "eval/episode_return_std": 3.0}, step=2000)
    clock.log_metrics(rollout_row(2000, wall_s=5.0, eval_s=1.5), step=2000)
    clock.log_metrics({"optim/lr": 1e-3}, step=2000)  # nothing of it kept
    assert not path.exists()
    clock.finalize("success")
    rows = json.loads(path.read_text())
    assert rows == [
        eval_row(2000, 120.0),
        {k: v for k, v in rollout_row(2000, 5.0, 1.5).items() if k != "losses/policy"},
    ]
    assert child_pglab.evaluations(rows) == [{"env_steps": 2000, "train_s": 3.5, "return_mean": 120.0}]


def test_a_pglab_run_is_measured_from_its_phase_times_without_an_evaluation_after_its_last_rollout():
    """The summary's wall_s is the last rollout row's (9 s); its eval_s (2 s) also counts a final evaluation of
    1 s after that row: training seconds are that row's wall_s - eval_s, 9 - 1."""
    run_summary = {
        "status": "completed",
        "progress/env_steps": 4000.0,
        "time/wall_s": 9.0,
        "time/sps": 444.4,
        "time/collect_s": 3.0,
        "time/advantages_s": 0.5,
        "time/update_s": 4.0,
        "time/eval_s": 2.0,
        "time/checkpoint_s": 0.25,
    }
    rows = [eval_row(2000, 300.0), rollout_row(2000, wall_s=5.0, eval_s=1.0)]
    rows += [rollout_row(4000, wall_s=9.0, eval_s=1.0), eval_row(4000, 500.0)]
    result = child_pglab.pglab_result(run_summary, rows)
    assert result["env_steps"] == 4000 and result["train_s"] == 8.0 and result["reported_sps"] == 444.4
    # the rest: 8 training seconds less collection, advantages and updates (checkpoints are in it)
    assert result["breakdown"] == {"collect_s": 3.0, "advantages_s": 0.5, "update_s": 4.0, "other_s": 0.5}
    assert result["phases_s"]["checkpoint_s"] == 0.25
    assert result["evals"] == [
        {"env_steps": 2000, "train_s": 4.0, "return_mean": 300.0},
        {"env_steps": 4000, "train_s": 8.0, "return_mean": 500.0},
    ]


def test_stable_solve_is_the_first_evaluation_after_which_none_drops_below_475():
    evals = [
        {"env_steps": s, "return_mean": r, "train_s": s / 1000}
        for s, r in [(10_000, 400.0), (20_000, 480.0), (30_000, 470.0), (40_000, 490.0), (50_000, 500.0)]
    ]
    assert summary.stable_solve(evals) == {"env_steps": 40_000, "train_s": 40.0}
    assert (
        summary.stable_solve(evals + [{"env_steps": 60_000, "return_mean": 474.9, "train_s": 60.0}]) is None
    )


def fake_results(repeats: int) -> list[dict]:
    """Results of every run of `repeats` repeats, as the children report them: pglab twice as fast as SB3 in
    repeat 0 and three times in repeat 1; only pglab's REINFORCE solves, in 10 s (repeat 0) and 20 s."""
    results = []
    for k in range(repeats):
        for name in (
            *(f"pglab/{p}" for p in plan.PRESETS),
            "sb3/ppo_cartpole",
            "sb3/a2c_cartpole",
            "sb3/rl_zoo_ppo",
            "plain/ppo",
        ):
            train_s = 10.0 if name.startswith("pglab/") else 10.0 * (2 + k)
            solves = name == "pglab/reinforce_cartpole"
            evals = [{"env_steps": 1000, "train_s": 10.0 * (1 + k), "return_mean": 500.0 if solves else 9.0}]
            result = {
                "name": name,
                "env_steps": 1000,
                "train_s": train_s,
                "evals": evals if not name.startswith("plain/") else [],
                "first_step_s": 2.0,
                "peak_rss_mib": 400.0 if name.startswith("pglab/") else 320.0,
            }
            if not name.startswith("plain/"):
                result["breakdown"] = {"collect_s": 1.0, "advantages_s": 0.5, "update_s": 2.0, "other_s": 0.5}
            results.append(summary.with_training_metrics(result) | {"repeat": k, "seed": k})
        ceiling = {p: {"raw_sps": 200.0, "collector_sps": 160.0} for p in plan.PRESETS}
        results.append({"name": "ceiling", "presets": ceiling, "peak_rss_mib": 300.0, "repeat": k, "seed": k})
    return results


def test_summaries_take_ratios_within_each_repeat_and_spreads_over_the_repeats():
    results = fake_results(repeats=2)
    summarized = summary.summarize(results)
    assert summarized["ratios"]["ppo"] == {"median": 2.5, "min": 2.0, "max": 3.0, "n": 2}
    assert summarized["ratios"]["memory"]["median"] == 1.25
    assert summarized["best_preset"] == "reinforce_cartpole"
    reinforce = summarized["runs"]["pglab/reinforce_cartpole"]
    assert reinforce["solved"] == 2 and reinforce["solve_train_s"]["median"] == 15.0
    assert summarized["ratios"]["solve"] is None  # RL Zoo's PPO never solved here
    assert reinforce["breakdown"]["update_s"]["median"] == 2000.0  # ms per 1,000 env steps
    assert summarized["runs"]["plain/ppo"]["breakdown"] == {}  # it reports none: no row in that table
    ceiling = summarized["ceilings"]["ppo_cartpole"]
    assert ceiling["collector_fraction"]["median"] == 0.8 and ceiling["training_fraction"]["median"] == 0.5
    report = {
        "date": "2026-01-01T00:00:00",
        "settings": {"command": "python scripts/benchmark.py", "quick": True, "repeats": 2, "seed": 0}
        | vars(plan.QUICK),
        "machine": {
            "cpu": "cpu",
            "cores": 2,
            "memory_gib": 4.0,
            "os": "Linux",
            "python": "3.11",
            "versions": {},
        },
        "summary": summarized,
        "results": results,
    }
    text = markdown(report)
    assert "**QUICK MODE**" in text
    assert "pglab / SB3 with the same hyperparameters: **2.50 [2.00–3.00]**" in text
    assert (
        "| pglab/ppo_cartpole | 1,000.0 [1,000.0–1,000.0] | 500.0 [500.0–500.0] | 2,000.0 [2,000.0–2,000.0] | "
        "500.0 [500.0–500.0] | 4000.0 |"
    ) in text
    assert "| plain/ppo | 320 [320–320] | 1.00 | 2.00 [2.00–2.00] |" in text
