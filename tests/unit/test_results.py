"""Results records: the crossings of an evaluation curve against a slow reference, a seed's entry read off a
run dir, the comparison `--check` makes, and the JSON layout."""

import csv
import json
import random

import pytest

from pglab.results import record


def slow_crossings(curve, threshold, score):
    """The definitions, spelled out: first evaluation at the threshold; the earliest evaluation after which no
    evaluation (itself included) is below it."""
    scores = [mean - std if score == "mean_minus_std" else mean for _, mean, std in curve]
    steps = [step for step, _, _ in curve]
    first = next((steps[i] for i in range(len(curve)) if scores[i] >= threshold), None)
    stable = None
    for i in range(len(curve)):
        if all(s >= threshold for s in scores[i:]):
            stable = steps[i]
            break
    return first, stable


@pytest.mark.parametrize("score", ["mean", "mean_minus_std"])
def test_crossings_match_the_definitions_on_random_curves(score):
    rng = random.Random(0)
    for _ in range(500):
        n = rng.randint(1, 12)
        curve = [
            [1000 * (i + 1), rng.choice([100.0, 470.0, 475.0, 480.0, 500.0]), rng.choice([0.0, 10.0])]
            for i in range(n)
        ]
        assert record.crossings(curve, 475.0, score) == slow_crossings(curve, 475.0, score), curve


def test_crossings_of_a_curve_that_dips_after_reaching_the_threshold():
    curve = [[10, 480.0, 0.0], [20, 300.0, 0.0], [30, 500.0, 0.0], [40, 500.0, 0.0]]
    assert record.crossings(curve, 475, "mean") == (10, 30)
    assert record.crossings(curve[:2], 475, "mean") == (10, None)  # ends below: never stable
    assert record.crossings([[10, 500.0, 30.0]], 475, "mean_minus_std") == (None, None)


def write_run_dir(path, evals, status="completed"):
    """A run dir as train.py leaves it: csv/metrics.csv (training and evaluation rows) and summary.json."""
    (path / "csv").mkdir(parents=True)
    fields = [
        "step",
        "losses/entropy",
        "rollout/episode_return_mean",
        "eval/episode_return_mean",
        "eval/episode_return_std",
    ]
    with open(path / "csv" / "metrics.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=fields)
        writer.writeheader()
        for step, mean, std in evals:
            writer.writerow(
                {
                    "step": step - 8,
                    "losses/entropy": 0.5 - step / 1e5,
                    "rollout/episode_return_mean": mean / 2,
                }
            )
            writer.writerow(
                {"step": step, "eval/episode_return_mean": repr(mean), "eval/episode_return_std": repr(std)}
            )
    summary = {
        "status": status,
        "progress/env_steps": evals[-1][0],
        "progress/episodes": 42,
        "time/wall_s": 10.0,
        "time/collect_s": 2.5,
        "time/update_s": 6.0,
    }
    (path / "summary.json").write_text(json.dumps(summary))


def test_a_seed_entry_holds_the_curve_exactly_and_what_follows_from_it(tmp_path):
    evals = [[1024, 21.3, 9.148496], [2048, 480.05, 1 / 3], [3072, 500.0, 0.0]]
    write_run_dir(tmp_path, evals)
    entry = record.seed_result(tmp_path, 475.0, "mean")
    assert entry["eval"] == evals  # floats round-trip through the CSV bit for bit
    assert entry["final"] == {"env_steps": 3072, "mean": 500.0, "std": 0.0, "score": 500.0}
    assert (entry["first_at"], entry["stable_from"]) == (2048, 2048)
    assert entry["env_steps"] == 3072 and entry["episodes"] == 42
    assert entry["wall_s"] == 10.0 and entry["sps"] == 307.2
    assert entry["phases_s"] == {"collect": 2.5, "update": 6.0}
    assert entry["last"] == {
        "losses/entropy": pytest.approx(0.5 - 3072 / 1e5),
        "rollout/episode_return_mean": 250.0,
    }
    assert record.seed_result(tmp_path, 475.0, "mean_minus_std")["final"]["score"] == 500.0


def test_a_run_that_did_not_complete_gives_no_entry(tmp_path):
    write_run_dir(tmp_path, [[1024, 10.0, 1.0]], status="interrupted")
    with pytest.raises(RuntimeError, match="did not complete: interrupted"):
        record.seed_result(tmp_path, 475.0, "mean")


def test_first_difference_names_the_first_evaluation_that_differs():
    recorded = {"eval": [[10, 100.0, 1.0], [20, 200.0, 2.0], [30, 300.0, 3.0]], "env_steps": 30}
    assert record.first_difference(recorded, json.loads(json.dumps(recorded))) is None
    rerun = {"eval": [[10, 100.0, 1.0], [20, 200.00000000000003, 2.0], [30, 0.0, 0.0]], "env_steps": 30}
    assert record.first_difference(recorded, rerun) == (
        "evaluation 2 at 20 env steps: recorded 200.0 ± 2.0, rerun 200.00000000000003 ± 2.0 at 20 env steps"
    )
    shorter = {"eval": recorded["eval"][:2], "env_steps": 20}
    assert record.first_difference(recorded, shorter) == "3 evaluations recorded, 2 in the rerun"
    assert (
        record.first_difference(recorded, recorded | {"env_steps": 31}) == "env steps: recorded 30, rerun 31"
    )


def test_a_record_is_json_with_one_evaluation_per_line():
    result = {
        "preset": "x",
        "seeds": {"0": {"eval": [[10, -1.5e-07, 2.0], [20, 500.0, 0.0]], "first_at": None}},
    }
    text = record.dumps(result)
    assert json.loads(text) == result
    assert "    [10, -1.5e-07, 2.0],\n" in text and "    [20, 500.0, 0.0]\n" in text


def test_thresholds_come_from_gymnasium_where_it_has_one():
    assert record.threshold_for("CartPole-v1") == (475.0, "gymnasium's reward_threshold of CartPole-v1")
    assert record.threshold_for("Acrobot-v1")[0] == -100.0
    assert record.threshold_for("Pendulum-v1")[0] == -200.0  # no gymnasium threshold: pglab's table
    assert record.threshold_for("pglab/PixelCopter-v0")[0] == 5.0
