"""Grouping and confidence bands of learning curves (scripts/plot.py)."""

import json
import math

import numpy as np
import pytest

from pglab.comparison import (
    Curve,
    Run,
    aggregate,
    default_group_by,
    default_title,
    find_runs,
    flatten,
    group_runs,
)


def make_run(algo, lr, seed, steps, values):
    config = flatten(
        {
            "algo": {"_target_": f"pglab.algos.{algo.lower()}.{algo}", "lr": lr},
            "env": {"id": "CartPole-v1"},
            "seed": seed,
            "paths": {"output_dir": f"/runs/{algo}/{seed}"},
        }
    )
    return Run(path=None, config=config, steps=np.asarray(steps, float), values=np.asarray(values, float))


def test_mean_and_student_t_band_on_the_common_grid():
    curve = aggregate(
        Curve(
            "x",
            [
                make_run("PPO", 1e-3, 0, [0, 10, 20], [0, 10, 20]),
                make_run("PPO", 1e-3, 1, [5, 15, 25], [0, 20, 40]),
            ],
        )
    )
    # Common range [5, 20]; grid = union of steps inside it; run 0 is y = x, run 1 is y = 2(x - 5).
    np.testing.assert_array_equal(curve.steps, [5, 10, 15, 20])
    np.testing.assert_allclose(curve.mean, [(5 + 0) / 2, (10 + 10) / 2, (15 + 20) / 2, (20 + 30) / 2])
    # n = 2: half-width = t(0.975, 1) * |a - b| / sqrt(2) / sqrt(2) = 12.706 * |a - b| / 2
    t = 12.706204736174707
    np.testing.assert_allclose(curve.high - curve.mean, t * np.abs([5, 0, -5, -10]) / 2)
    np.testing.assert_allclose(curve.mean - curve.low, curve.high - curve.mean)


def test_single_run_has_no_band_and_three_runs_use_t_with_two_dof():
    single = aggregate(Curve("x", [make_run("PPO", 1e-3, 0, [0, 1], [3, 4])]))
    np.testing.assert_array_equal(single.low, single.mean)
    runs = [make_run("PPO", 1e-3, s, [0, 1], [v, v]) for s, v in enumerate([1.0, 2.0, 6.0])]
    curve = aggregate(Curve("x", runs))
    assert curve.mean[0] == pytest.approx(3.0)
    assert curve.high[0] - curve.mean[0] == pytest.approx(4.302652729911275 * math.sqrt(7.0) / math.sqrt(3))


def test_default_groups_are_algorithms_and_explicit_keys_group_by_value():
    runs = [make_run(a, lr, s, [0], [0]) for a in ("PPO", "A2C") for lr in (1e-3, 3e-4) for s in (0, 1)]
    assert default_group_by(runs) == ["algo"]  # seeds and output dirs differ too, but never define a group
    assert [(c.label, len(c.runs)) for c in group_runs(runs, ["algo"])] == [("PPO", 4), ("A2C", 4)]
    labels = [c.label for c in group_runs(runs, ["algo", "algo.lr"])]
    assert labels == [
        "PPO, algo.lr=0.001",
        "PPO, algo.lr=0.0003",
        "A2C, algo.lr=0.001",
        "A2C, algo.lr=0.0003",
    ]
    same_algo = [r for r in runs if r.config["algo"] == "PPO"]
    assert default_group_by(same_algo) == ["algo.lr"]


def test_the_title_promises_a_band_only_where_a_group_has_two_runs():
    one = [Curve("a", [make_run("PPO", 1e-3, 0, [0], [0])]), Curve("b", [make_run("A2C", 1e-3, 0, [0], [0])])]
    assert default_title({"eval/episode_return_mean": one}) == "one run per group (no CI band with one seed)"
    two = [Curve("a", [make_run("PPO", 1e-3, s, [0], [0]) for s in (0, 1)])]
    assert (
        default_title({"eval/episode_return_mean": one, "rollout/episode_return_mean": two})
        == "mean and 95% CI across seeds"
    )


def test_a_results_record_is_one_run_per_seed_grouped_by_preset(tmp_path):
    record = {
        "preset": "guide_reinforce_lr_1e-3",
        "overrides": ["algo=reinforce", "env=cartpole", "algo.lr=1e-3"],
        "env_id": "CartPole-v1",
        "seeds": {
            "10": {"eval": [[100, 20.0, 1.0], [200, 30.0, 2.0]]},
            "2": {"eval": [[100, 25.0, 3.0], [200, 35.0, 4.0]]},
        },
    }
    path = tmp_path / "guide_reinforce_lr_1e-3.json"
    path.write_text(json.dumps(record))
    runs, skipped = find_runs([path], "eval/episode_return_mean")
    assert skipped == [] and [run.config["seed"] for run in runs] == [2, 10]  # seed order, not "10" < "2"
    assert runs[0].config == {
        "preset": "guide_reinforce_lr_1e-3",
        "env": "CartPole-v1",
        "env.id": "CartPole-v1",
        "algo.lr": 1e-3,
        "seed": 2,
    }
    np.testing.assert_array_equal(runs[1].steps, [100, 200])
    np.testing.assert_array_equal(runs[1].values, [20.0, 30.0])
    stds, _ = find_runs([path], "eval/episode_return_std")
    np.testing.assert_array_equal(stds[0].values, [3.0, 4.0])
    assert find_runs([path], "losses/entropy") == ([], [path])  # a record holds the evaluations only
    other = tmp_path / "ppo.json"
    other.write_text(json.dumps(record | {"preset": "ppo", "overrides": []}))
    runs, _ = find_runs([path, other], "eval/episode_return_mean")
    assert default_group_by(runs) == ["preset"]
    assert [c.label for c in group_runs(runs, ["preset"])] == ["guide_reinforce_lr_1e-3", "ppo"]


def test_labelled_inputs_are_the_default_groups_per_env(tmp_path):
    record = {"preset": "p", "env_id": "CartPole-v1", "seeds": {"0": {"eval": [[1, 1.0, 0.0]]}}}
    paths = []
    for name, env in (("a", "CartPole-v1"), ("b", "Acrobot-v1"), ("c", "CartPole-v1")):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(record | {"preset": name, "env_id": env}))
    runs, _ = find_runs(paths, "eval/episode_return_mean", ["old", "old", "new"])
    assert [run.config["label"] for run in runs] == ["old", "old", "new"]
    assert default_group_by(runs) == ["label", "env"]
    assert [c.label for c in group_runs(runs, ["label", "env"])] == [
        "old, CartPole-v1",
        "old, Acrobot-v1",
        "new, CartPole-v1",
    ]
    assert default_group_by(runs[:1] + runs[2:]) == ["label"]  # one env


def test_a_json_that_is_not_a_results_record_is_refused_naming_it(tmp_path):
    evaluation = tmp_path / "last-eval-20261203.json"
    evaluation.write_text(json.dumps({"env_id": "CartPole-v1", "returns": [500.0]}))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    for path, reason in ((evaluation, "not a results record"), (broken, "not a readable results record")):
        with pytest.raises(ValueError, match=rf"{path.name}: {reason}"):
            find_runs([path], "eval/episode_return_mean")
