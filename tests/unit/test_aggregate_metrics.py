"""rliable's aggregate metrics on score matrices with known values (pglab.aggregate_metrics): IQM, median and mean
by hand, intervals that contain them, profiles and probabilities of improvement that can be counted, a seeded
bootstrap, the IQM curve, and per-env normalization."""

import numpy as np
import pytest
from rliable import metrics

from pglab import aggregate_metrics as am

REPS = 500  # enough for the assertions; seconds for the file
POI_REPS = 100  # rliable runs a Mann-Whitney U test per env and resample: the slow one

# (R=4 runs, E=3 envs). All 12 scores sorted: 0 1 1 2 2 3 3 4 10 20 30 100; the IQM drops 3 at each end (25% of 12)
# and averages 2 2 3 3 4 10 = 4.0. Per-env means 1.5, 2.5, 40: their median 2.5, their mean 44 / 3.
SCORES = np.array([[0, 1, 10], [1, 2, 20], [2, 3, 30], [3, 4, 100]], dtype=float)


def test_iqm_median_and_mean_of_a_known_matrix_and_intervals_that_contain_them():
    (estimates,) = am.interval_estimates({"x": SCORES}, reps=REPS).values()
    assert estimates["IQM"].point == pytest.approx(4.0)
    assert estimates["median"].point == pytest.approx(2.5)
    assert estimates["mean"].point == pytest.approx(44 / 3)
    for metric in am.METRICS:
        e = estimates[metric]
        assert SCORES.min() <= e.low < e.point < e.high <= SCORES.max(), metric
    # the mean's interval by hand: each resample's mean is the mean of 3 independent per-env resample means, so its
    # spread is that of the third env (values 10, 20, 30, 100) divided by 3: wide, and above the IQM's
    assert estimates["mean"].high - estimates["mean"].low > 10 > estimates["IQM"].high - estimates["IQM"].low


def test_one_env_iqm_is_the_mean_of_the_middle_half_and_equal_scores_have_no_spread():
    scores = np.array([[1.0], [2.0], [3.0], [4.0], [5.0], [6.0], [7.0], [100.0]])
    (e,) = am.interval_estimates({"x": scores}, reps=REPS).values()
    assert e["IQM"].point == pytest.approx((3 + 4 + 5 + 6) / 4)
    assert e["mean"].point == e["median"].point == pytest.approx(128 / 8)  # one env: the median of one mean
    assert e["IQM"].low <= 4.5 <= e["IQM"].high
    (solved,) = am.interval_estimates({"x": np.full((3, 2), 500.0)}, reps=REPS).values()
    assert all((solved[m].point, solved[m].low, solved[m].high) == (500.0, 500.0, 500.0) for m in am.METRICS)


def test_the_bootstrap_is_seeded_independent_of_the_other_groups_and_leaves_numpy_s_generator_alone():
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    first = am.interval_estimates({"x": SCORES}, reps=REPS, seed=7)
    assert np.array_equal(np.random.get_state()[1], before)
    assert am.interval_estimates({"other": SCORES * 2, "x": SCORES}, reps=REPS, seed=7)["x"] == first["x"]
    other_seed = am.interval_estimates({"x": SCORES}, reps=REPS, seed=8)["x"]
    assert other_seed["IQM"] != first["x"]["IQM"]  # the same data, other resamples


def test_probability_of_improvement_counts_pairs_of_runs_env_by_env():
    low, high = SCORES, SCORES + 1000
    result = am.probability_of_improvement({"high": high, "low": low, "same": low.copy()}, reps=POI_REPS)
    assert list(result) == [("high", "low"), ("high", "same"), ("low", "same")]
    assert result[("high", "low")] == am.Estimate(1.0, 1.0, 1.0)  # every run of X beats every run of Y
    assert result[("low", "same")].point == 0.5  # equal groups
    assert result[("low", "same")].low < 0.5 < result[("low", "same")].high
    # one env: X = 2, 3, 5 over Y = 1, 4 wins 4 of the 6 pairs; with a tie, it counts half: (1 = 1) + (2 > 1)
    counted = am.probability_of_improvement({"x": [[2.0], [3.0], [5.0]], "y": [[1.0], [4.0]]}, reps=POI_REPS)
    assert counted[("x", "y")].point == pytest.approx(4 / 6)
    tie = am.probability_of_improvement({"x": [[1.0], [2.0]], "y": [[1.0]]}, reps=POI_REPS)
    assert tie[("x", "y")].point == pytest.approx(0.75)
    # two envs: P averages the envs' probabilities: 1 on the first, 0 on the second
    two = am.probability_of_improvement(
        {"x": [[5.0, 0.0], [6.0, 1.0]], "y": [[1.0, 8.0], [2.0, 9.0]]}, reps=POI_REPS
    )
    assert two[("x", "y")].point == pytest.approx(0.5)
    with pytest.raises(ValueError, match="'x' has scores on 1 envs and 'y' on 2"):
        am.probability_of_improvement({"x": [[1.0]], "y": [[1.0, 2.0]]}, reps=POI_REPS)


def test_performance_profile_is_the_fraction_of_scores_strictly_above_each_threshold():
    scores = np.array([[0.1, 0.6], [0.4, 0.9]])  # 4 scores over 2 envs
    (profile,) = am.performance_profiles({"x": scores}, [0.0, 0.4, 0.5, 0.9, 1.0], reps=REPS).values()
    np.testing.assert_allclose(profile.fraction, [1.0, 0.5, 0.5, 0.0, 0.0])  # 0.4 is not above 0.4
    assert (profile.low <= profile.fraction).all() and (profile.fraction <= profile.high).all()
    assert profile.low[0] == profile.high[0] == 1.0 and profile.low[-1] == profile.high[-1] == 0.0


def test_curves_are_aligned_on_their_common_range_and_the_iqm_curve_is_rliable_s_iqm_at_each_step():
    grid, values = am.align_curves(
        [(np.array([0.0, 10, 20]), np.array([0.0, 10, 20])), (np.array([5.0, 25]), np.array([0.0, 40]))]
    )
    np.testing.assert_array_equal(
        grid, [5, 20]
    )  # from the latest start to the earliest end, 2 evaluations inside
    np.testing.assert_allclose(values, [[5, 20], [0, 30]])  # run 1 is y = 2(x - 5)
    grid, values = am.align_curves(
        [(np.array([0.0, 10, 20]), np.array([0.0, 10, 20]))], grid=np.array([5.0, 15])
    )
    np.testing.assert_allclose(values, [[5, 15]])
    with pytest.raises(ValueError, match="no common range"):
        am.align_curves(
            [(np.array([0.0, 10]), np.array([0.0, 1])), (np.array([20.0, 30]), np.array([0.0, 1]))]
        )
    with pytest.raises(ValueError, match="leaves the curves' range"):
        am.align_curves([(np.array([0.0, 10]), np.array([0.0, 1]))], grid=np.array([5.0, 11]))

    rng = np.random.default_rng(0)
    scores = rng.normal(size=(5, 2, 4))  # (R, E, G)
    curve = am.iqm_curve(np.array([1.0, 2, 3, 4]), scores, reps=REPS)
    np.testing.assert_allclose(curve.point, [metrics.aggregate_iqm(scores[..., g]) for g in range(4)])
    assert (
        (curve.low <= curve.point).all()
        and (curve.point <= curve.high).all()
        and (curve.low < curve.high).all()
    )


def test_scores_are_normalized_from_a_random_policy_to_the_env_s_threshold():
    np.testing.assert_allclose(
        am.normalize([23.68, 475.0, 500.0], "CartPole-v1"), [0.0, 1.0, (500 - 23.68) / (475 - 23.68)]
    )
    np.testing.assert_allclose(am.normalize([-497.08, -100.0], "Acrobot-v1"), [0.0, 1.0])
    random, reference, source = am.normalization("Pendulum-v1")
    assert (random, reference) == (-1207.56, -200.0) and "swung-up" in source
    with pytest.raises(ValueError, match="no random-policy return for MountainCarContinuous-v0"):
        am.normalize([0.0], "MountainCarContinuous-v0")


def test_the_table_s_cartpole_entry_is_what_random_actions_score():
    assert am.random_policy_return("CartPole-v1") == pytest.approx(
        am.RANDOM_POLICY_RETURNS["CartPole-v1"], abs=0.005
    )
