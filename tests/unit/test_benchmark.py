"""`pglab.benchmark`'s pure parts: the thread calibration and the plan of a repeat, the pglab -> Stable-Baselines3
mapping, the clocks, the numbers read from a pglab run's summary and logged rows, the stable-solve rule, the
summaries (the thread picks, the like-for-like collection ratio, the headline solve ratio) and the command line
with fake children (the benchmark itself is run by hand; it measures speed, which tests never assert)."""

import importlib.util
import json
import subprocess
import sys

import pytest
from hydra.core.global_hydra import GlobalHydra

from pglab.benchmark import child_pglab, cli, plan, sb3_config, summary, timing
from pglab.benchmark.child_process import CHILDREN
from pglab.benchmark.report import markdown

ONE_THREAD = dict.fromkeys(plan.FRAMEWORKS, 1)


def compose(preset: str, *overrides: str):
    GlobalHydra.instance().clear()
    try:
        return plan.compose_config(preset, list(overrides))
    finally:
        GlobalHydra.instance().clear()


def planned_in_this_process(function, *args):
    GlobalHydra.instance().clear()
    try:
        return function(*args)
    finally:
        GlobalHydra.instance().clear()


def test_a_repeat_pairs_each_pglab_run_with_its_counterpart_and_flips_the_pairs_on_odd_repeats(tmp_path):
    even, odd = (
        planned_in_this_process(plan.plan_repeat, k, k, plan.QUICK, tmp_path, ONE_THREAD) for k in (0, 1)
    )
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
        "torch_threads=1",
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
    # every kind of run has its child module (found, not imported: the SB3 one needs the bench extra); the torch
    # backend's section has the one kind more
    assert {run.kind for run in even} == set(CHILDREN) - {"batched"}
    for module in CHILDREN.values():
        assert importlib.util.find_spec(f"pglab.benchmark.{module}") is not None


def test_every_timed_run_trains_with_its_own_frameworks_thread_count(tmp_path):
    threads = {"pglab": 2, "sb3": 1, "plain_ppo": 3}
    runs = planned_in_this_process(plan.plan_repeat, 0, 0, plan.QUICK, tmp_path, threads)
    by_kind = {"pglab": 2, "sb3": 1, "plain_ppo": 3, "ceiling": 2}  # the ceiling is pglab's env and policy
    assert {run.name: run.threads for run in runs} == {run.name: by_kind[run.kind] for run in runs}
    for run in runs:
        if run.kind in ("sb3", "plain_ppo"):
            assert run.spec["torch_threads"] == threads[run.kind], run.name
        else:
            overrides = run.spec["overrides"]
            assert "torch_threads=2" in overrides and "torch_threads=1" not in overrides, run.name


def test_the_calibration_runs_the_headline_ppo_of_every_framework_at_each_count_in_flipped_rounds(tmp_path):
    budget = plan.FULL
    runs = planned_in_this_process(plan.plan_calibration, 7, budget, [1, 2], tmp_path)
    assert [(k, run.name) for k, run in runs] == [
        (0, "calibration/pglab/t1"),
        (0, "calibration/pglab/t2"),
        (0, "calibration/sb3/t1"),
        (0, "calibration/sb3/t2"),
        (0, "calibration/plain_ppo/t1"),
        (0, "calibration/plain_ppo/t2"),
        (1, "calibration/pglab/t2"),
        (1, "calibration/pglab/t1"),
        (1, "calibration/sb3/t2"),
        (1, "calibration/sb3/t1"),
        (1, "calibration/plain_ppo/t2"),
        (1, "calibration/plain_ppo/t1"),
    ]
    assert [run.threads for _, run in runs[:6]] == [1, 2] * 3
    pglab_t2 = runs[1][1].spec["overrides"]
    assert pglab_t2[:6] == [
        "experiment=ppo_cartpole",
        "seed=7",
        "torch_threads=2",
        "callbacks.evaluation.every_env_steps=8192",  # one evaluation, at the end
        "callbacks.evaluation.episodes=1",
        "total_env_steps=8192",
    ]
    assert "seed=8" in runs[6][1].spec["overrides"]  # round k: seed + k
    sb3_t2, plain_t1 = runs[3][1].spec, runs[10 + 1][1].spec
    assert (sb3_t2["algo"], sb3_t2["torch_threads"], sb3_t2["total_steps"], sb3_t2["seed"]) == (
        "PPO",
        2,
        8192,
        7,
    )
    assert (sb3_t2["eval_every"], sb3_t2["eval_episodes"]) == (8192, 1)
    # SB3 gets the headline comparison's hyperparameters, its annealing shifted by one rollout of this budget
    assert sb3_t2["kwargs"]["n_epochs"] == 20 and sb3_t2["kwargs"]["learning_rate"]["shift"] == 256 / 8192
    assert (plain_t1["torch_threads"], plain_t1["total_steps"], plain_t1["seed"]) == (1, 8192, 8)


def test_the_calibration_tries_the_powers_of_two_below_the_core_count_and_the_core_count():
    assert plan.thread_candidates(1) == [1]
    assert plan.thread_candidates(2) == [1, 2]
    assert plan.thread_candidates(6) == [1, 2, 4, 6]
    assert plan.thread_candidates(16) == [1, 2, 4, 8, 16]


def test_the_runs_are_planned_in_another_process_and_come_back_as_they_were_planned(tmp_path, monkeypatch):
    def run_in_this_process(command, cwd, check):  # `python -m pglab.benchmark.plan SPEC PATH`, here
        assert command[1:3] == ["-m", "pglab.benchmark.plan"] and check
        planned_in_this_process(plan.main, command[3:])

    monkeypatch.setattr(plan.subprocess, "run", run_in_this_process)
    threads = {"pglab": 1, "sb3": 2, "plain_ppo": 1}
    runs = plan.plan_runs(repeats=2, seed=5, budget=plan.QUICK, work_dir=tmp_path, threads=threads)
    assert [k for k, _ in runs] == [0] * 9 + [1] * 9
    expected = planned_in_this_process(plan.plan_repeat, 1, 6, plan.QUICK, tmp_path, threads)
    assert [run for k, run in runs if k == 1] == expected
    calibration = plan.plan_calibration_runs(seed=5, budget=plan.QUICK, candidates=[1, 2], work_dir=tmp_path)
    assert calibration == planned_in_this_process(plan.plan_calibration, 5, plan.QUICK, [1, 2], tmp_path)
    assert (tmp_path / "plan.json").exists() and (tmp_path / "calibration-plan.json").exists()


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

    totals = {"advantages_s": 0.5}
    timing.timed_calls(Work, "step", totals, "update_s")
    timing.timed_calls(Work, "items", totals, "collect_s")
    work = Work()
    assert work.step(0.5) == 0.5 and work.step(0.25) == 0.25
    for _ in work.items():
        clock[0] += 10.0  # the consumer's time
    assert totals == {"advantages_s": 0.5, "update_s": 0.75, "collect_s": 3.0}
    breakdown = timing.time_breakdown(totals, train_s=25.0)
    assert breakdown == {"collect_s": 3.0, "advantages_s": 0.5, "update_s": 0.75, "other_s": 20.75}


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
        {"env_steps": 2000, "train_s": 3.5, "wall_s": 5.0, "return_mean": 120.0},
        {"env_steps": 4000, "train_s": 6.5, "wall_s": 9.5, "return_mean": 480.0},
        {"env_steps": 4500, "train_s": 7.5, "wall_s": 10.5, "return_mean": 500.0},
    ]
    # the final evaluation's own seconds are in the run's total evaluation time only (3.75 s: 0.75 s of it)
    assert child_pglab.evaluations(rows, final_eval_s=3.75)[2]["wall_s"] == 11.25
    assert child_pglab.evaluations(rows, final_eval_s=3.75)[1]["wall_s"] == 9.5  # in its rollout row already


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
    assert child_pglab.evaluations(rows) == [
        {"env_steps": 2000, "train_s": 3.5, "wall_s": 5.0, "return_mean": 120.0}
    ]


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
    assert result["wall_s"] == 9.0  # evaluations included
    # the rest: 8 training seconds less collection, advantages and updates (checkpoints are in it)
    assert result["breakdown"] == {"collect_s": 3.0, "advantages_s": 0.5, "update_s": 4.0, "other_s": 0.5}
    assert result["phases_s"]["checkpoint_s"] == 0.25
    assert result["evals"] == [
        {"env_steps": 2000, "train_s": 4.0, "wall_s": 5.0, "return_mean": 300.0},
        # the final evaluation, after its rollout's row: its second (2 - 1) is added to that row's 9
        {"env_steps": 4000, "train_s": 8.0, "wall_s": 10.0, "return_mean": 500.0},
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


#: the training seconds at the stable solve of the runs that solve, in repeat k: `SOLVE_S[name] * (1 + k)`
SOLVE_S = {
    "pglab/ppo_cartpole": 8.0,
    "sb3/ppo_cartpole": 16.0,
    "pglab/reinforce_cartpole": 5.0,
    "sb3/rl_zoo_ppo": 20.0,
}
#: SB3's collection (its collect_rollouts less its GAE) in repeat 0 and 1, and its GAE: 3.0 and 4.5 s in all
SB3_COLLECT_S, SB3_ADVANTAGES_S = (2.5, 4.0), 0.5
TIMED_RUNS = (
    *(f"pglab/{p}" for p in plan.PRESETS),
    "sb3/ppo_cartpole",
    "sb3/a2c_cartpole",
    "sb3/rl_zoo_ppo",
    "plain/ppo",
)


def fake_result(name: str, k: int) -> dict:
    """A timed run's result in repeat k, as its child reports it: pglab twice as fast as SB3 in repeat 0 and
    three times in repeat 1; the solves of `SOLVE_S`; pglab collects in 1.0 s and computes advantages in 0.5 s
    of its 10, SB3 in `SB3_COLLECT_S[k]` + 0.5 s."""
    if name == "ceiling":
        ceiling = {"raw_sps": 200.0, "collection_sps": 180.0, "collection_advantages_sps": 160.0}
        return {"name": name, "presets": dict.fromkeys(plan.PRESETS, ceiling), "peak_rss_mib": 300.0}
    pglab = name.startswith("pglab/")
    solve_s = SOLVE_S.get(name, 0.0) * (1 + k)
    evals = [{"env_steps": 1000, "train_s": solve_s, "return_mean": 500.0 if name in SOLVE_S else 9.0}]
    result = {
        "name": name,
        "env_steps": 1000,
        "train_s": 10.0 if pglab else 10.0 * (2 + k),
        "evals": evals if not name.startswith("plain/") else [],
        "first_step_s": 2.0,
        "peak_rss_mib": 400.0 if pglab else 320.0,
    }
    if pglab:
        result["breakdown"] = {"collect_s": 1.0, "advantages_s": 0.5, "update_s": 2.0, "other_s": 0.5}
    elif name.startswith("sb3/"):
        collect_s = SB3_COLLECT_S[k]
        result["breakdown"] = {
            "collect_s": collect_s,
            "advantages_s": SB3_ADVANTAGES_S,
            "update_s": 2.0,
            "other_s": 0.5,
        }
    return result


def fake_results(repeats: int, threads: dict[str, int] = ONE_THREAD) -> list[dict]:
    """Every timed run of `repeats` repeats, as the command line keeps them (`fake_result`)."""
    results = []
    for k in range(repeats):
        for name in (*TIMED_RUNS, "ceiling"):
            kind = {"plain": "plain_ppo"}.get(name.split("/")[0], name.split("/")[0])
            extra = {"repeat": k, "seed": k, "kind": kind, "threads": threads.get(kind, threads["pglab"])}
            results.append(summary.with_training_metrics(fake_result(name, k)) | extra)
    return results


def calibration_result(kind: str, threads: int, sps: float) -> dict:
    return {"name": f"calibration/{kind}/t{threads}", "kind": kind, "threads": threads, "sps": sps}


def test_the_calibration_picks_each_frameworks_fastest_median_and_the_fewer_threads_on_a_tie():
    results = [
        calibration_result("pglab", 1, 2000.0),
        calibration_result("pglab", 2, 1500.0),
        calibration_result("pglab", 2, 2600.0),  # pglab at 2: median 2,050 > 2,000 at 1
        calibration_result("pglab", 2, 2100.0),
        calibration_result("sb3", 1, 1000.0),
        calibration_result("sb3", 2, 1400.0),
        calibration_result("sb3", 1, 1200.0),  # sb3 at 1: median 1,100 < 1,400 at 2
        calibration_result("plain_ppo", 2, 900.0),
        calibration_result("plain_ppo", 1, 900.0),  # a tie: one thread
    ]
    picked = summary.calibrate(results)
    assert picked["threads"] == {"pglab": 2, "sb3": 2, "plain_ppo": 1}
    assert picked["sps"]["pglab"]["2"] == {"median": 2100.0, "min": 1500.0, "max": 2600.0, "n": 3}
    assert picked["sps"]["sb3"]["1"]["median"] == 1100.0
    assert list(picked["sps"]["plain_ppo"]) == ["1", "2"]  # by count, as the report's columns go


def test_a_count_under_half_its_frameworks_best_runs_no_more_calibration_rounds():
    results = [
        calibration_result("pglab", 1, 2000.0),
        calibration_result("pglab", 2, 999.0),  # under half of 2,000
        calibration_result("sb3", 1, 1000.0),
        calibration_result("sb3", 2, 500.0),  # exactly half: stays
        calibration_result("plain_ppo", 1, 100.0),
        calibration_result("plain_ppo", 2, 1000.0),
    ]
    assert summary.clearly_slower(results) == {("pglab", 2), ("plain_ppo", 1)}
    assert summary.clearly_slower([]) == set()


def fake_report(results: list[dict], threads: dict[str, int], calibration: dict | None) -> dict:
    return {
        "date": "2026-01-01T00:00:00",
        "settings": {
            "command": "python scripts/benchmark.py",
            "quick": True,
            "repeats": 2,
            "seed": 0,
            "thread_candidates": [1, 2],
        }
        | vars(plan.QUICK),
        "machine": {
            "cpu": "cpu",
            "cores": 2,
            "memory_gib": 4.0,
            "os": "Linux",
            "python": "3.11",
            "versions": {},
        },
        "threads": threads,
        "calibration": calibration,
        "summary": summary.summarize(results),
        "results": results,
    }


def test_summaries_take_ratios_within_each_repeat_and_spreads_over_the_repeats():
    results = fake_results(repeats=2)
    summarized = summary.summarize(results)
    assert summarized["ratios"]["ppo"] == {"median": 2.5, "min": 2.0, "max": 3.0, "n": 2}
    assert summarized["ratios"]["memory"]["median"] == 1.25
    assert summarized["best_preset"] == "reinforce_cartpole"
    reinforce = summarized["runs"]["pglab/reinforce_cartpole"]
    assert reinforce["solved"] == 2 and reinforce["solve_train_s"]["median"] == 7.5
    assert reinforce["breakdown"]["update_s"]["median"] == 2000.0  # ms per 1,000 env steps
    assert summarized["runs"]["plain/ppo"]["breakdown"] == {}  # it reports none: no row in that table
    assert summarized["runs"]["plain/ppo"]["collection_advantages"] is None
    assert summarized["runs"]["sb3/ppo_cartpole"]["threads"] == 1
    ceiling = summarized["ceilings"]["ppo_cartpole"]
    assert ceiling["collection_sps"]["median"] == 180.0
    # collection with its advantages against the raw loop: 160 / 200 (collection alone would be 0.9)
    assert ceiling["collection_fraction"]["median"] == 0.8 and ceiling["training_fraction"]["median"] == 0.5


def test_collection_is_compared_like_for_like_with_the_advantages_on_both_sides():
    """pglab: 1.0 s collection + 0.5 s advantages; SB3: 2.5 (repeat 0) or 4.0 s (repeat 1) + 0.5 s. Per repeat,
    3.0 / 1.5 and 4.5 / 1.5; collection alone would give 2.5 and 4.0."""
    summarized = summary.summarize(fake_results(repeats=2))
    ppo = summarized["ratios"]["collection"]["ppo"]
    assert ppo == {"median": pytest.approx(2.5), "min": pytest.approx(2.0), "max": pytest.approx(3.0), "n": 2}
    assert summarized["ratios"]["collection"]["a2c"] == ppo
    pglab, sb3 = summarized["runs"]["pglab/ppo_cartpole"], summarized["runs"]["sb3/ppo_cartpole"]
    assert pglab["collection_advantages"] == {"median": 1500.0, "min": 1500.0, "max": 1500.0, "n": 2}
    assert sb3["collection_advantages"] == {"median": 3750.0, "min": 3000.0, "max": 4500.0, "n": 2}


def test_the_headline_solve_ratio_is_pglab_ppo_against_sb3_ppo_and_the_best_preset_is_the_second_line():
    """Medians over the repeats: pglab PPO 12 s, SB3 PPO 24 s; best preset REINFORCE 7.5 s, RL Zoo's PPO 30 s."""
    summarized = summary.summarize(fake_results(repeats=2))
    assert summarized["ratios"]["solve"] == 0.5
    assert summarized["ratios"]["solve_best_preset"] == 0.25
    one_repeat_unsolved = [
        r if r["name"] != "sb3/ppo_cartpole" else r | {"solve": None} for r in fake_results(1)
    ]
    assert summary.summarize(one_repeat_unsolved)["ratios"]["solve"] is None  # SB3's PPO never solved there


def test_the_report_states_each_frameworks_threads_the_calibration_and_both_solve_lines():
    threads = {"pglab": 1, "sb3": 2, "plain_ppo": 1}
    calibration = summary.calibrate(
        [
            calibration_result("pglab", 1, 2000.0),
            calibration_result("pglab", 2, 1500.0),
            calibration_result("sb3", 1, 1000.0),
            calibration_result("sb3", 2, 1250.0),
            calibration_result("plain_ppo", 1, 900.0),
            calibration_result("plain_ppo", 2, 800.0),
        ]
    )
    assert calibration["threads"] == threads
    results = fake_results(repeats=2, threads=threads)
    text = markdown(fake_report(results, threads, calibration))
    assert "**QUICK MODE**" in text
    assert (
        "| torch threads | pglab 1, Stable-Baselines3 2, plain PyTorch PPO 1 (each its fastest of 1, 2: see Torch "
        "threads) |"
    ) in text
    assert "| framework | 1 thread | 2 threads | ran with |" in text
    assert "| Stable-Baselines3 | 1,000 | 1,250 | **2** |" in text
    assert "pglab / SB3 with the same hyperparameters: **2.50 [2.00–3.00]**" in text
    assert (
        "same algorithm and hyperparameters: pglab PPO (`ppo_cartpole`, 12.0 s [8.0 s–16.0 s], solved 2/2) / SB3 PPO "
        "(24.0 s [16.0 s–32.0 s], solved 2/2), ratio of medians: **0.50** (target ≤ 0.5)"
    ) in text
    assert (
        "best pglab preset (`reinforce_cartpole`, 7.5 s [5.0 s–10.0 s], solved 2/2) / SB3's RL Zoo PPO "
        "(30.0 s [20.0 s–40.0 s], solved 2/2), ratio of medians: 0.25"
    ) in text
    assert "PPO **2.50 [2.00–3.00]**, A2C **2.50 [2.00–3.00]**" in text  # collection + advantages
    assert "PPO rollout collection plus advantages / ceiling: **0.80 [0.80–0.80]**" in text
    # where the time goes: threads, then collection + advantages, then its parts
    assert (
        "| pglab/ppo_cartpole | 1 | 1,500.0 [1,500.0–1,500.0] | 1,000.0 [1,000.0–1,000.0] | 500.0 [500.0–500.0] | "
        "2,000.0 [2,000.0–2,000.0] | 500.0 [500.0–500.0] | 4000.0 |"
    ) in text
    assert (
        "| sb3/ppo_cartpole | 2 | 3,750.0 [3,000.0–4,500.0] | 3,250.0 [2,500.0–4,000.0] | 500.0 [500.0–500.0] | "
    ) in text
    assert "| plain/ppo | 320 [320–320] | 1.00 | 2.00 [2.00–2.00] |" in text
    uncalibrated = markdown(fake_report(results, ONE_THREAD, None))
    assert (
        "| torch threads | pglab 1, Stable-Baselines3 1, plain PyTorch PPO 1 (given by `--threads`) |"
        in uncalibrated
    )
    assert (
        "Every framework ran with 1 torch thread(s), as `--threads 1` asked: no calibration." in uncalibrated
    )


def test_the_ceiling_times_collection_and_advantages_apart_after_a_warm_up_rollout(monkeypatch):
    """With a fake clock and module: each rollout takes 0.2 s to collect 100 env steps and 0.05 s to prepare."""
    from pglab.benchmark import child_ceiling

    clock = [0.0]
    monkeypatch.setattr(child_ceiling.time, "perf_counter", lambda: clock[0])

    class Module:
        def __init__(self):
            self.collector = type("Collector", (), {"env_steps": 0})()
            self.metrics = type("Metrics", (), {"update_means": lambda self: {}})()
            self.prepared = 0

        def collect_rollout(self):
            clock[0] += 0.2
            self.collector.env_steps += 100
            return "rollout"

        def prepare_batch(self, rollout):
            assert rollout == "rollout"
            clock[0] += 0.05
            self.prepared += 1

    module = Module()
    measured = child_ceiling.collection_sps(module, steps=1000)
    assert measured == {
        "collection_sps": pytest.approx(500.0),
        "collection_advantages_sps": pytest.approx(400.0),
    }
    assert module.prepared == 11 and module.collector.env_steps == 1100  # 10 timed rollouts and the warm-up


def test_the_command_line_calibrates_then_runs_every_framework_at_its_fastest_count(tmp_path, monkeypatch):
    """With fake children: pglab and the plain PPO run faster on 1 thread, SB3 on 2; pglab's 2-thread count
    falls under half its best in round 0 and runs no round 1. The timed runs get those counts, and the report
    (markdown, JSON, figure) is written where --out-dir says."""
    calibration_sps = {("pglab", 1): 2000.0, ("pglab", 2): 900.0, ("sb3", 1): 1000.0, ("sb3", 2): 1200.0}
    calibration_sps |= {("plain_ppo", 1): 1100.0, ("plain_ppo", 2): 1000.0}
    started = []

    def fake_run_child(run, log_path):
        started.append(run.name)
        if run.name.startswith(("torch/", "gymnasium/", "single_thread/")):
            return fake_torch_result(run.name, k=0) | {"peak_rss_mib": 400.0}
        if run.name.startswith("calibration/"):
            sps = calibration_sps[run.kind, run.threads]
            return {
                "name": run.name,
                "env_steps": 1000,
                "train_s": 1000 / sps,
                "evals": [],
                "first_step_s": 1.0,
                "peak_rss_mib": 300.0,
            }
        return fake_result(run.name, k=0) | {"peak_rss_mib": 300.0 if run.kind == "ceiling" else 400.0}

    planned_threads = {}

    def fake_plan_runs(repeats, seed, budget, work_dir, threads):
        planned_threads.update(threads)
        return [
            (0, run) for run in planned_in_this_process(plan.plan_repeat, 0, seed, budget, work_dir, threads)
        ]

    def fake_plan_calibration_runs(seed, budget, candidates, work_dir):
        budget = plan.Budget(**(vars(budget) | {"calibration_rounds": 2}))
        return planned_in_this_process(plan.plan_calibration, seed, budget, candidates, work_dir)

    def fake_plan_torch_backend_runs(seed, budget, work_dir, threads):
        return planned_in_this_process(plan.plan_torch_backend, seed, budget, work_dir, threads)

    monkeypatch.setattr(cli, "run_child", fake_run_child)
    monkeypatch.setattr(cli, "plan_runs", fake_plan_runs)
    monkeypatch.setattr(cli, "plan_calibration_runs", fake_plan_calibration_runs)
    monkeypatch.setattr(cli, "plan_torch_backend_runs", fake_plan_torch_backend_runs)
    monkeypatch.setattr(plan, "TORCH_PRESETS", STAND_IN_PRESETS)
    out_dir = tmp_path / "out"
    argv = ["--quick", "--threads", "2", "1", "--out-dir", str(out_dir), "--work-dir", str(tmp_path / "work")]
    args = cli.parse_args(argv)
    assert args.threads == [1, 2]
    cli.benchmark(args, plan.QUICK, "python scripts/benchmark.py " + " ".join(argv))
    assert planned_threads == {"pglab": 1, "sb3": 2, "plain_ppo": 1}
    assert started.count("calibration/pglab/t2") == 1 and started.count("calibration/pglab/t1") == 2
    # the torch backend's section: one seed of its 7 runs, and the single-threaded pairs, since SB3 ran with 2 threads
    torch_section = [name for name in started if name.startswith(("torch/", "gymnasium/", "single_thread/"))]
    assert len(torch_section) == 7 + 4 and started[-len(torch_section) :] == torch_section
    assert started.count("calibration/sb3/t2") == 2 and len(started) == 11 + 9 + 11
    report = json.loads((out_dir / "benchmarks.json").read_text())
    assert report["threads"] == {"pglab": 1, "sb3": 2, "plain_ppo": 1}
    assert (
        report["calibration"]["sps"]["pglab"]["2"]["n"] == 1 and len(report["calibration"]["results"]) == 11
    )
    assert {r["name"]: r["threads"] for r in report["results"]}["sb3/a2c_cartpole"] == 2
    text = (out_dir / "benchmarks.md").read_text()
    assert "| pglab | 2,000 [2,000–2,000] | 900 | **1** |" in text
    torch_backend = report["torch_backend"]
    assert (
        len(torch_backend["results"]) == 11
        and torch_backend["summary"]["single_thread"]["source"] == "single_thread"
    )
    assert "## Torch env backend (`env.vectorization=torch`)" in text
    assert (out_dir / "figures" / "benchmark.png").stat().st_size > 0


def test_the_thread_candidates_on_the_command_line_are_sorted_once_each_and_positive(capsys):
    assert cli.parse_args(["--threads", "2", "1", "2"]).threads == [1, 2]
    assert cli.parse_args([]).threads == plan.thread_candidates(cli.usable_cores())
    with pytest.raises(SystemExit):
        cli.parse_args(["--threads", "0", "1"])
    assert "every count must be at least 1" in capsys.readouterr().err


#: existing presets that stand in for the torch backend's in the planning tests (planning only composes them)
STAND_IN_PRESETS = {"cartpole": "ppo_cartpole", "acrobot": "ppo_acrobot", "pendulum": "ppo_pendulum"}


def test_the_torch_backend_runs_every_torch_measurement_per_seed_with_one_thread_and_pairs_the_gymnasium_presets(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(plan, "TORCH_PRESETS", STAND_IN_PRESETS)
    budget = plan.Budget(**(vars(plan.FULL) | {"torch_seeds": 3, "pair_seeds": 2}))
    threads = {"pglab": 2, "sb3": 1, "plain_ppo": 1}
    runs = planned_in_this_process(plan.plan_torch_backend, 10, budget, tmp_path, threads)
    per_seed = ["torch/env_collection", "torch/ppo_throughput", "torch/cartpole"]
    pairs = ["torch/acrobot", "gymnasium/acrobot", "torch/pendulum", "gymnasium/pendulum"]
    flipped = ["gymnasium/acrobot", "torch/acrobot", "gymnasium/pendulum", "torch/pendulum"]
    single_thread = [
        "single_thread/pglab/ppo_cartpole",
        "single_thread/sb3/ppo_cartpole",
        "single_thread/pglab/a2c_cartpole",
        "single_thread/sb3/a2c_cartpole",
    ]
    assert [(k, run.name) for k, run in runs] == [
        *((0, name) for name in per_seed + pairs),
        *((1, name) for name in per_seed + flipped),
        *((2, name) for name in per_seed),
        *((0, name) for name in single_thread),
        *((1, name) for name in [single_thread[i] for i in (1, 0, 3, 2)]),
    ]
    by_name = {(k, run.name): run for k, run in runs}
    # every torch run and the single-threaded pairs: 1 thread; the gymnasium presets: pglab's calibrated count
    assert {run.name: run.threads for _, run in runs if run.threads != 1} == {
        "gymnasium/acrobot": 2,
        "gymnasium/pendulum": 2,
    }
    assert "torch_threads=2" in by_name[0, "gymnasium/acrobot"].spec["overrides"]
    solve = by_name[1, "torch/cartpole"].spec["overrides"]
    assert solve[:5] == [
        "experiment=ppo_cartpole",
        "seed=11",
        "torch_threads=1",
        "callbacks.evaluation.every_env_steps=10000",
        "callbacks.evaluation.episodes=20",
    ]
    assert not any(o.startswith("total_env_steps=") for o in solve)  # the preset's own budget
    # throughput: the preset with 1,024 envs (its steps per env kept), one final evaluation
    throughput = by_name[0, "torch/ppo_throughput"].spec["overrides"]
    assert throughput[1:6] == [
        "seed=10",
        "torch_threads=1",
        "callbacks.evaluation.every_env_steps=262144",
        "callbacks.evaluation.episodes=1",
        "total_env_steps=262144",
    ]
    assert throughput[6] == "env.num_envs=1024"
    assert not any(o.startswith("algo.num_steps=") for o in throughput)
    batched = by_name[2, "torch/env_collection"]
    assert batched.kind == "batched" and batched.threads == 1
    assert {
        k: batched.spec[k]
        for k in ("seed", "torch_threads", "env_only_envs", "env_steps", "collection_steps")
    } == {
        "seed": 12,
        "torch_threads": 1,
        "env_only_envs": 4096,
        "env_steps": 4096 * 1024,
        "collection_steps": 1024 * 1024,
    }
    assert batched.spec["preset"] == "ppo_cartpole"
    assert batched.spec["overrides"][-2:] == ["env.num_envs=1024", "network.hidden_sizes=[64,64]"]
    sb3 = by_name[0, "single_thread/sb3/a2c_cartpole"].spec
    assert (sb3["algo"], sb3["torch_threads"], sb3["total_steps"], sb3["eval_every"]) == (
        "A2C",
        1,
        32_768,
        32_768,
    )
    assert "total_env_steps=32768" in by_name[1, "single_thread/pglab/ppo_cartpole"].spec["overrides"]
    # with one thread for both pglab and SB3 the repeats' own pairs are single-threaded: no extra runs
    single = planned_in_this_process(plan.plan_torch_backend, 10, plan.QUICK, tmp_path, ONE_THREAD)
    assert [run.name for _, run in single] == per_seed + pairs
    # quick mode's 4,096 env steps are raised to two rollouts of a preset where one rollout is more
    budgets = {run.name: run.spec["overrides"] for _, run in single if run.kind == "pglab"}
    assert "total_env_steps=4096" in budgets["torch/cartpole"]  # ppo_cartpole's rollouts: 256 env steps
    assert "total_env_steps=8192" in budgets["gymnasium/pendulum"]  # ppo_pendulum's: 4 x 1,024


def test_the_torch_presets_exist_and_use_the_torch_backend():
    missing = [
        p
        for p in plan.TORCH_PRESETS.values()
        if not (plan.ROOT / "conf" / "experiment" / f"{p}.yaml").exists()
    ]
    if missing:
        pytest.skip(f"presets not written yet: {', '.join(missing)}")
    for env, preset in plan.TORCH_PRESETS.items():
        cfg = compose(preset)
        assert cfg.env.vectorization == "torch", preset
        if env in plan.GYMNASIUM_PRESETS:
            assert cfg.env.id == compose(plan.GYMNASIUM_PRESETS[env]).env.id


def test_the_batched_child_times_the_env_alone_and_collection_on_the_torch_backend():
    """In this process, tiny: the numbers' shape, not their speed."""
    from pglab.benchmark.child_batched import child_batched

    overrides = [
        "seed=3",
        "torch_threads=1",
        "env.vectorization=torch",
        "env.num_envs=16",
        "algo.num_steps=4",
    ]
    spec = {
        "seed": 3,
        "torch_threads": 1,
        "device": "cpu",
        "env_only_envs": 32,
        "env_steps": 320,
        "preset": "ppo_cartpole",
        "overrides": [*overrides, "network.hidden_sizes=[64,64]"],
        "collection_steps": 128,
    }
    GlobalHydra.instance().clear()
    try:
        result = child_batched(spec)
    finally:
        GlobalHydra.instance().clear()
    assert result["device"] == "cpu"
    assert {k: result["env_only"][k] for k in ("env_id", "num_envs")} == {
        "env_id": "CartPole-v1",
        "num_envs": 32,
    }
    collection = result["collection"]
    assert {k: collection[k] for k in ("preset", "num_envs", "num_steps", "hidden_sizes")} == {
        "preset": "ppo_cartpole",
        "num_envs": 16,
        "num_steps": 4,
        "hidden_sizes": [64, 64],
    }
    assert all(collection[k] > 0 for k in ("raw_sps", "collection_sps", "collection_advantages_sps"))
    assert result["env_only"]["sps"] > 0


#: the torch backend's synthetic numbers over 5 seeds (seed k: index k)
ENV_ONLY_SPS = (5.2e6, 5.0e6, 6.0e6, 4.9e6, 5.5e6)  # median 5.2M, worst 4.9M
COLLECTION_SPS = (1.1e6, 0.9e6, 1.3e6, 1.2e6, 1.0e6)  # median 1.1M, worst 0.9M
THROUGHPUT_SPS = (40e3, 45e3, 60e3, 50e3, 55e3)  # median 50k, worst 40k
#: CartPole: wall seconds at the first evaluation >= 475 (seed 4 never solves), training seconds at the stable solve
SOLVE_WALL_S, STABLE_TRAIN_S = (1.5, 1.8, 2.5, 1.0, None), (3.0, 4.0, 5.0, 6.0, None)
#: one seed each: final return and wall seconds of (torch, gymnasium)
PAIRS = {"acrobot": ((-85.0, 5.0), (-80.0, 25.0)), "pendulum": ((-250.0, 10.0), (-170.0, 60.0))}


def fake_torch_result(name: str, k: int) -> dict:
    """A torch-backend section run's result in seed index k, as the command line keeps it."""
    kind = "batched" if name == "torch/env_collection" else "sb3" if "/sb3/" in name else "pglab"
    threads = 2 if name.startswith("gymnasium/") else 1
    result = {"name": name, "repeat": k, "seed": k, "kind": kind, "threads": threads, "peak_rss_mib": 400.0}
    if kind == "batched":
        collection = {
            "preset": "ppo_cartpole_torch",
            "env_id": "CartPole-v1",
            "num_envs": 1024,
            "num_steps": 2,
            "hidden_sizes": [64, 64],
            "raw_sps": 2 * COLLECTION_SPS[k],
            "collection_sps": COLLECTION_SPS[k],
            "collection_advantages_sps": 0.5 * COLLECTION_SPS[k],
        }
        env_only = {"env_id": "CartPole-v1", "num_envs": 4096, "sps": ENV_ONLY_SPS[k]}
        return result | {"device": "cpu", "env_only": env_only, "collection": collection}
    preset = {"torch/ppo_throughput": "ppo_cartpole_torch", "torch/cartpole": "ppo_cartpole_torch"}.get(name)
    env = name.split("/")[-1]
    if name.startswith("single_thread/"):
        preset, env_steps, train_s = env, 32_768, 32_768 / (3000.0 if "/pglab/" in name else 1500.0 * (1 + k))
        evals, wall_s = (
            [{"env_steps": env_steps, "train_s": train_s, "wall_s": train_s, "return_mean": 9.0}],
            train_s,
        )
    elif name == "torch/ppo_throughput":
        env_steps = 200_000  # 200,000 / (200,000 / 50,000) is 50,000 exactly
        train_s = wall_s = env_steps / THROUGHPUT_SPS[k]
        evals = [{"env_steps": env_steps, "train_s": train_s, "wall_s": train_s + 0.1, "return_mean": 500.0}]
    elif name == "torch/cartpole":
        env_steps, train_s, wall_s = 100_000, 8.0, 9.0
        solve, stable = SOLVE_WALL_S[k], STABLE_TRAIN_S[k]
        curve = [(10_000, 480.0, 1.0, solve), (20_000, 470.0, 2.0, 2.9), (30_000, 500.0, stable, 5.5)]
        if solve is None:
            curve = [(10_000, 100.0, 1.0, 1.2), (30_000, 200.0, 3.0, 3.5)]
        evals = [{"env_steps": s, "return_mean": r, "train_s": t, "wall_s": w} for s, r, t, w in curve]
    else:
        backend = 0 if name.startswith("torch/") else 1
        preset = f"ppo_{env}_torch" if backend == 0 else f"ppo_{env}"
        final_return, wall_s = PAIRS[env][backend]
        env_steps, train_s = 200_000, wall_s - 1.0
        evals = [{"env_steps": env_steps, "train_s": train_s, "wall_s": wall_s, "return_mean": final_return}]
    overrides = [f"experiment={preset}", f"seed={k}", f"torch_threads={threads}"]
    if name == "torch/ppo_throughput":
        overrides += ["total_env_steps=200000", "env.num_envs=1024", "algo.num_steps=2"]
    config = {"env.num_envs": 1024, "algo.num_steps": 2, "algo.num_minibatches": 2, "algo.update_epochs": 10}
    result |= {
        "env_steps": env_steps,
        "train_s": train_s,
        "wall_s": wall_s,
        "evals": evals,
        "first_step_s": 1.0,
    }
    result |= {"overrides": overrides, "config": config if name == "torch/ppo_throughput" else {}}
    return summary.with_training_metrics(result)


def fake_torch_results(single_thread_repeats: int = 0) -> list[dict]:
    results = [
        fake_torch_result(name, k)
        for k in range(5)
        for name in ("torch/env_collection", "torch/ppo_throughput", "torch/cartpole")
    ]
    results += [
        fake_torch_result(f"{backend}/{env}", 0) for env in PAIRS for backend in ("torch", "gymnasium")
    ]
    results += [
        fake_torch_result(f"single_thread/{side}/{preset}", k)
        for k in range(single_thread_repeats)
        for preset in ("ppo_cartpole", "a2c_cartpole")
        for side in ("pglab", "sb3")
    ]
    return results


def test_the_torch_backend_summary_takes_medians_and_worst_seeds_and_its_ratios_to_the_repeats():
    main = summary.summarize(
        fake_results(repeats=2)
    )  # pglab ppo_cartpole: 100 steps/s; RL Zoo stable: 30 s median
    torch_backend = summary.summarize_torch_backend(fake_torch_results(), main)
    env_only = torch_backend["env_only"]["sps"]
    assert (env_only["median"], env_only["worst"], env_only["n"], env_only["missing"]) == (5.2e6, 4.9e6, 5, 0)
    collection = torch_backend["collection"]
    assert (collection["collection_sps"]["median"], collection["collection_sps"]["worst"]) == (1.1e6, 0.9e6)
    assert collection["raw_sps"]["median"] == 2.2e6 and collection["hidden_sizes"] == [64, 64]
    throughput = torch_backend["ppo_throughput"]
    assert throughput["sps"]["median"] == pytest.approx(50e3) and throughput["sps"]["worst"] == pytest.approx(
        40e3
    )
    assert throughput["ratio"] == pytest.approx(500.0) and throughput["gymnasium_threads"] == 1
    assert throughput["overrides"] == [
        "experiment=ppo_cartpole_torch",
        "torch_threads=1",
        "total_env_steps=200000",
        "env.num_envs=1024",
        "algo.num_steps=2",
    ]  # the seed left out
    cartpole = torch_backend["cartpole"]
    assert (cartpole["preset"], cartpole["solved"], cartpole["stable"]) == ("ppo_cartpole_torch", 4, 4)
    # the unsolved seed counts as infinitely slow: median of 1.0, 1.5, 1.8, 2.5, inf; no worst
    assert cartpole["solve_wall_s"] == {
        "median": 1.8,
        "worst": None,
        "min": 1.0,
        "max": 2.5,
        "n": 5,
        "missing": 1,
    }
    assert cartpole["solve_env_steps"]["median"] == 10_000
    assert cartpole["stable_train_s"]["median"] == 5.0 and cartpole["stable_wall_s"]["median"] == 5.5
    assert cartpole["stable_ratio"] == pytest.approx(5.0 / 30.0) and cartpole["rl_zoo_solved"] == [2, 2]
    acrobot = torch_backend["pairs"]["acrobot"]
    assert (
        acrobot["torch"]["final_return"]["median"] == -85.0
        and acrobot["gymnasium"]["preset"] == "ppo_acrobot"
    )
    assert acrobot["wall_ratio"] == 0.2 and acrobot["gymnasium"]["threads"] == 2
    assert torch_backend["pairs"]["pendulum"]["wall_ratio"] == pytest.approx(10 / 60)
    # the repeats ran pglab and SB3 with one thread each: their ratios are the single-threaded ones
    single_thread = torch_backend["single_thread"]
    assert single_thread["source"] == "repeats" and single_thread["ratios"]["ppo"] == main["ratios"]["ppo"]
    assert {name: (t["value"], t["met"]) for name, t in torch_backend["targets"].items()} == {
        "env_only_sps": (5.2e6, True),
        "collection_sps": (1.1e6, True),
        "ppo_sps": (pytest.approx(50e3), True),
        "ppo_vs_gymnasium": (pytest.approx(500.0), True),
        "solve_wall_s": (1.8, True),
        "solve_wall_s_worst": (None, False),  # a seed never solved
        "stable_vs_rl_zoo": (pytest.approx(5.0 / 30.0), True),
        "acrobot_return": (-85.0, True),
        "pendulum_return": (-250.0, False),
        "single_thread_ppo": (2.5, True),
        "single_thread_a2c": (2.5, True),
    }


def test_the_single_threaded_ratios_come_from_their_own_pairs_when_the_repeats_ran_with_more_threads():
    """pglab 3,000 steps/s, SB3 1,500 in repeat 0 and 3,000 in repeat 1: ratios 2.0 and 1.0, per repeat."""
    two_threads = {"pglab": 2, "sb3": 1, "plain_ppo": 1}
    main = summary.summarize(fake_results(repeats=2, threads=two_threads))
    assert summary.single_thread_ratios(fake_torch_results(), main) is None  # neither source
    single_thread = summary.single_thread_ratios(fake_torch_results(single_thread_repeats=2), main)
    assert (single_thread["source"], single_thread["repeats"], single_thread["steps"]) == (
        "single_thread",
        2,
        32_768,
    )
    assert single_thread["ratios"]["a2c"] == {"median": 1.5, "min": 1.0, "max": 2.0, "n": 2}
    assert single_thread["sps"]["single_thread/sb3/ppo_cartpole"]["median"] == pytest.approx(2250.0)
    targets = summary.summarize_torch_backend(fake_torch_results(single_thread_repeats=2), main)["targets"]
    assert (targets["single_thread_ppo"]["value"], targets["single_thread_ppo"]["met"]) == (1.5, True)


def test_over_seeds_counts_a_seed_that_never_got_there_as_the_worst():
    assert summary.over_seeds([3.0, 1.0, 2.0]) == {
        "median": 2.0,
        "worst": 1.0,
        "min": 1.0,
        "max": 3.0,
        "n": 3,
        "missing": 0,
    }
    assert summary.over_seeds([3.0, 1.0, 2.0], lower_is_better=True)["worst"] == 3.0
    most_unsolved = summary.over_seeds([1.0, None, None], lower_is_better=True)
    assert (most_unsolved["median"], most_unsolved["worst"], most_unsolved["missing"]) == (None, None, 2)
    assert summary.over_seeds([]) is None


def test_the_report_has_a_torch_backend_section_with_a_verdict_per_target_and_what_ran():
    results = fake_results(repeats=2)
    report = fake_report(results, ONE_THREAD, None)
    report["settings"] |= {"torch_seeds": 5}
    report["torch_backend"] = {
        "summary": summary.summarize_torch_backend(fake_torch_results(), report["summary"]),
        "results": fake_torch_results(),
    }
    text = markdown(report)
    assert text.index("## Torch env backend (`env.vectorization=torch`)") < text.index("## Torch threads")
    expected_lines = [
        "- the env alone (CartPole-v1, 4,096 envs, uniform random actions): 5.2M median (worst 4.9M) steps/s, "
        "target ≥ 5M: met",
        "- collection with an untrained 64×64 policy at 1,024 envs, pglab's collector (`collect_rollout()`): 1.1M "
        "median (worst 900k) steps/s (the bare `policy.act` + `env.step` loop 2.2M median (worst 1.8M); with "
        "advantages and batching 550k median (worst 450k)), target ≥ 1M: met",
        "- PPO training throughput at 1,024 envs (evaluation excluded): 50k median (worst 40k) steps/s, target ≥ "
        "50k: met",
        "- that throughput's median / the gymnasium backend's `ppo_cartpole` (100 steps/s median, 1 torch thread): "
        "500.0×, target ≥ 10.0: met",
        "- CartPole solved (first evaluation ≥ 475) by `ppo_cartpole_torch`, training wall time at it, evaluations "
        "included: 1.80 s median (worst –, 1 of 5 seeds never got there), 4/5 seeds solved, target ≤ 2.00 s: met",
        "- every seed solved in time: a seed never solved, target ≤ 5.00 s: not met",
        "- Acrobot final return by `ppo_acrobot_torch`: −85.0 median (worst −85.0), wall time / `ppo_acrobot`'s "
        "0.20, target ≥ −90.0: met",
        "- Pendulum final return by `ppo_pendulum_torch`: −250.0 median (worst −250.0), wall time / "
        "`ppo_pendulum`'s 0.17, target ≥ −200.0: not met",
        "- gymnasium backend PPO training steps/s / SB3's with the same hyperparameters, one torch thread each (the "
        "repeats' own pairs (2 repeats), which ran single-threaded): 2.50 [2.00–3.00], target ≥ 1.50: met",
    ]
    for line in expected_lines:
        assert line in text, line
    assert (
        "training seconds without evaluation: 5.00 s median (worst –, 1 of 5 seeds never got there), 4/5 seeds stable"
    ) in text
    assert (
        "SB3's RL Zoo PPO's, its evaluation excluded too (30.00 s median, solved 2/2): 0.17, target ≤ 0.50: met"
    ) in text
    assert (
        "| PPO training, steps/s (evaluation excluded) | `python train.py experiment=ppo_cartpole_torch torch_threads=1 "
        "total_env_steps=200000 env.num_envs=1024 algo.num_steps=2`: rollout 2,048 = 1,024 envs × 2 steps (the "
        "preset's steps per env, epochs and minibatch count kept), 2 minibatch(es) of 1,024, 10 epochs | 50k | 40k | 40k–60k | 5/5 |"
    ) in text
    assert "| CartPole first solve, wall s (evaluations included) |" in text
    assert (
        "| Acrobot | gymnasium | `python train.py experiment=ppo_acrobot torch_threads=2` | 2 | 1 | 200,000 |"
        in text
    )
    # an older report without the section still renders
    assert "## Torch env backend" not in markdown(fake_report(results, ONE_THREAD, None))
