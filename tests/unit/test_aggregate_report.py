"""The rliable report's assembly from grouped runs (pglab.aggregate_report): matrices of final scores, pairs on the
same envs only, the same report from the same runs, round env steps for the sample-efficiency table."""

from pathlib import Path

import numpy as np
import pytest

from pglab.aggregate_report import as_json, build_report, markdown, table_steps
from pglab.comparison import Curve, Run

REPS = 200


def run(env, seed, final, steps=(1000, 2000)):
    return Run(
        Path(f"/runs/{env}/{seed}"),
        {"env": env, "seed": seed},
        np.asarray(steps, float),
        np.array([0.0, final]),
    )


def test_groups_on_other_envs_are_not_paired_and_the_same_runs_give_the_same_report():
    cartpole = Curve("a", [run("CartPole-v1", s, f) for s, f in enumerate([500.0, 400.0, 300.0])])
    both = Curve("b", [run("CartPole-v1", 0, 475.0), run("Acrobot-v1", 0, -100.0)])
    report = build_report([cartpole, both], "eval/episode_return_mean", reps=REPS)
    assert report.normalized and report.improvement == {}
    assert "no probability of improvement of a over b: they ran on different envs" in report.notes[0]
    assert report.estimates["b"]["IQM"].point == pytest.approx(1.0)  # both runs at their env's threshold
    again = build_report([cartpole, both], "eval/episode_return_mean", reps=REPS)
    assert as_json(again) == as_json(report) and markdown(again) == markdown(report)


def test_raw_returns_of_one_env_and_no_table_without_a_common_range_of_env_steps():
    early = Curve("early", [run("CartPole-v1", s, 100.0 * s, steps=(0, 1000)) for s in range(3)])
    late = Curve("late", [run("CartPole-v1", s, 500.0, steps=(2000, 3000)) for s in range(2)])
    report = build_report([early, late], "eval/episode_return_mean", reps=REPS)
    assert not report.normalized and report.threshold == 475.0
    assert report.estimates["early"]["mean"].point == pytest.approx(100.0)
    assert report.improvement[("early", "late")].point == 0.0
    assert report.iqm_table == {} and "IQM at env steps" not in markdown(report)
    np.testing.assert_array_equal(report.iqm_curves["late"].env_steps, [2000, 3000])


def test_table_steps_are_round_and_inside_every_grid():
    np.testing.assert_array_equal(table_steps([np.array([12288.0, 100096.0])]), [2e4, 4e4, 6e4, 8e4, 1e5])
    grids = [np.array([10240.0, 100096.0]), np.array([40960.0, 300000.0])]
    np.testing.assert_array_equal(table_steps(grids), [6e4, 8e4, 1e5])
    np.testing.assert_array_equal(table_steps([np.array([5.0, 20.0])]), [5, 10, 15, 20])
    assert table_steps([np.array([0.0, 10.0]), np.array([10.0, 20.0])]) is None
