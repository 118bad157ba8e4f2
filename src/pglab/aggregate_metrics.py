"""Aggregate metrics of few-seed comparisons, computed with rliable: pure functions of score matrices.

The practice of Agarwal et al., 2021, "Deep reinforcement learning at the edge of the statistical precipice"
(NeurIPS; https://github.com/google-research/rliable), which RL Zoo (`--rliable`), CleanRL's benchmark tooling
and Tianshou report. A group's scores are a matrix of shape (R, E): one score per run (seed) and env (task),
usually the final evaluation return, normalized per env when several envs are compared (`normalize`).

- `interval_estimates`: the IQM (interquartile mean: the mean of the middle 50% of all R * E scores, scipy's
  25% `trim_mean`), the median and the mean of the per-env mean scores, each with a 95% stratified-bootstrap
  confidence interval (runs resampled with replacement within each env; percentile method).
- `performance_profiles`: the fraction of all runs' scores strictly above each threshold tau, with its interval.
- `probability_of_improvement`: P(X > Y), the probability that a run of group X scores above a run of group Y
  on the same env (ties count half: the Mann-Whitney U statistic over R_x * R_y pairs), averaged over envs, with a
  stratified bootstrap interval that resamples each group's runs independently.
- `iqm_curve`: the IQM and its interval at each env step of a common grid (`align_curves`), the sample-efficiency
  curve.

Reproducibility: rliable draws its bootstrap resamples from numpy's global generator (`np.random.choice` in
`StratifiedBootstrap.update_indices`, rliable 1.2.0; the `random_state` argument reaches arch, whose sampling
that method replaces), so every estimate here runs under `seeded(seed)`, which seeds that generator and puts its
state back afterwards. The same scores and seed give the same intervals, one group's (or pair's) intervals do not
depend on the other groups, and the caller's numpy random state is left as it was.

rliable (with arch, pandas and seaborn behind it) takes about 2 s to import, so it is imported inside the
functions that need it: importing this module costs numpy and scipy only.
"""

import contextlib
import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

#: the point estimates of `interval_estimates`, in order
METRICS = ("IQM", "median", "mean")
#: bootstrap resamples per interval: rliable's default for performance profiles (its Atari figures use up to 50,000
#: for aggregate intervals, 25 times the work; `--reps` in scripts/plot.py)
DEFAULT_REPS = 2000

#: The mean return of a uniformly random policy (`env.action_space.sample()` every step) over 100 episodes, reset
#: with seeds 0-99 and the action space seeded with 0, each within the env's registered time limit: measured with
#: `random_policy_return(env_id, **kwargs)` (gymnasium 1.4.0, mujoco 4.0.0, ale-py 0.12.1) on `gymnasium.make(env_id)`
#: (PixelCopter with conf/env/pixelcopter.yaml's 48 x 48 screen; Pong with v5's own frame skip 4 and sticky actions,
#: where pglab's runs skip frames in AtariPreprocessing); `tests/unit/test_aggregate_metrics.py` repeats CartPole's.
#: Close to the values usually quoted: about 22 for CartPole (the mean episode length of random actions); -20.7 for
#: Pong in Mnih et al., 2015, Extended Data Table 2 (a protocol without sticky actions). LunarLander-v3 with
#: `continuous: true` measures -212.7; the discrete -191.96 stands for both (5% of the span to its threshold).
RANDOM_POLICY_RETURNS: dict[str, float] = {
    "CartPole-v1": 23.68,
    "Acrobot-v1": -497.08,
    "MountainCar-v0": -200.0,
    "Pendulum-v1": -1207.56,
    "LunarLander-v3": -191.96,
    "HalfCheetah-v5": -282.49,
    "Hopper-v5": 16.67,
    "pglab/PixelCopter-v0": -4.78,  # width 48, height 48 (conf/env/pixelcopter.yaml)
    "pglab/PongPLE-v0": -16.0,  # every random game lost 0-11 (-11 points, -5 for losing)
    "ALE/Pong-v5": -20.31,
}


@dataclass(frozen=True)
class Estimate:
    """A point estimate and the ends of its confidence interval."""

    point: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        return {"point": self.point, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class Profile:
    """A performance profile: at each threshold `taus[i]`, the fraction of scores above it and its interval."""

    taus: np.ndarray  # (T,)
    fraction: np.ndarray  # (T,)
    low: np.ndarray  # (T,)
    high: np.ndarray  # (T,)


@dataclass(frozen=True)
class CurveEstimate:
    """An aggregate metric at each env step of a grid, with its pointwise interval."""

    env_steps: np.ndarray  # (G,)
    point: np.ndarray  # (G,)
    low: np.ndarray  # (G,)
    high: np.ndarray  # (G,)


# ---------------------------------------------------------------------------------------------- normalization
def normalization(env_id: str) -> tuple[float, float, str]:
    """(random-policy return, reference return, where the reference comes from) of `env_id`.

    The reference is the return at which pglab counts the env solved (`pglab.results.record.threshold_for`:
    gymnasium's `reward_threshold`, or pglab's stated one), so a normalized score of 0 is a random policy and 1
    the threshold (CartPole: 475); a run can score above 1 (CartPole's 500 is 1.06).

    Raises:
        ValueError: naming `env_id`, when `RANDOM_POLICY_RETURNS` has no entry for it.
    """
    if env_id not in RANDOM_POLICY_RETURNS:
        raise ValueError(
            f"no random-policy return for {env_id}, so its scores cannot be normalized: measure it with "
            f"pglab.aggregate_metrics.random_policy_return({env_id!r}) and add it to "
            f"pglab.aggregate_metrics.RANDOM_POLICY_RETURNS, or compare one env at a time"
        )
    from pglab.results.record import threshold_for

    reference, source = threshold_for(env_id)
    return RANDOM_POLICY_RETURNS[env_id], reference, source


def normalize(returns: np.ndarray, env_id: str) -> np.ndarray:
    """(returns - random) / (reference - random) with `normalization(env_id)`'s returns; any shape."""
    random, reference, _ = normalization(env_id)
    return (np.asarray(returns, dtype=float) - random) / (reference - random)


def random_policy_return(env_id: str, episodes: int = 100, seed: int = 0, **kwargs) -> float:
    """The mean return of uniformly random actions over `episodes` episodes of `gymnasium.make(env_id, **kwargs)`
    (reset seeds `seed`, `seed + 1`, ...; the action space seeded with `seed`): how `RANDOM_POLICY_RETURNS` was
    measured."""
    import gymnasium as gym

    import pglab.envs  # noqa: F401  (registers pglab's envs)

    if env_id.startswith("ALE/"):
        import ale_py

        gym.register_envs(ale_py)
    env = gym.make(env_id, **kwargs)
    env.action_space.seed(seed)
    returns = []
    try:
        for episode in range(episodes):
            env.reset(seed=seed + episode)
            total, done = 0.0, False
            while not done:
                _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
                total += float(reward)
                done = terminated or truncated
            returns.append(total)
    finally:
        env.close()
    return float(np.mean(returns))


# ---------------------------------------------------------------------------------------------- estimates
@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed numpy's global generator (rliable's bootstrap draws from it) for the block; restore it after."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def check_matrix(name: str, scores: np.ndarray) -> np.ndarray:
    scores = np.asarray(scores, dtype=float)
    if scores.ndim < 2 or scores.shape[0] == 0 or scores.shape[1] == 0:
        raise ValueError(
            f"scores of {name!r} must be a (runs, envs, ...) array with a run and an env at least"
        )
    if not np.isfinite(scores).all():
        raise ValueError(f"scores of {name!r} hold NaN or infinite values")
    return scores


def aggregates(scores: np.ndarray) -> np.ndarray:
    """(IQM, median, mean) of a (R, E) score matrix, as rliable's `aggregate_iqm`, `aggregate_median` and
    `aggregate_mean` compute them (the median and mean are over the E per-env mean scores)."""
    from rliable import metrics

    return np.array(
        [metrics.aggregate_iqm(scores), metrics.aggregate_median(scores), metrics.aggregate_mean(scores)]
    )


def interval_estimates(
    scores: Mapping[str, np.ndarray], reps: int = DEFAULT_REPS, seed: int = 0, confidence: float = 0.95
) -> dict[str, dict[str, Estimate]]:
    """IQM, median and mean of each group's (R, E) scores, each with its stratified-bootstrap interval:
    `{group: {"IQM": Estimate, "median": ..., "mean": ...}}`."""
    from rliable import library

    result = {}
    for name, matrix in scores.items():
        matrix = check_matrix(name, matrix)
        with seeded(seed):
            points, intervals = library.get_interval_estimates(
                {name: matrix}, aggregates, reps=reps, confidence_interval_size=confidence
            )
        result[name] = {
            metric: Estimate(
                float(points[name][i]), float(intervals[name][0, i]), float(intervals[name][1, i])
            )
            for i, metric in enumerate(METRICS)
        }
    return result


def performance_profiles(
    scores: Mapping[str, np.ndarray],
    taus: Sequence[float] | np.ndarray,
    reps: int = DEFAULT_REPS,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, Profile]:
    """Each group's score distribution: the fraction of its R * E scores above each tau (rliable's
    `create_performance_profile`), with stratified-bootstrap intervals."""
    from rliable import library

    taus = np.asarray(taus, dtype=float)
    result = {}
    for name, matrix in scores.items():
        matrix = check_matrix(name, matrix)
        with seeded(seed):
            profiles, intervals = library.create_performance_profile(
                {name: matrix}, taus, reps=reps, confidence_interval_size=confidence
            )
        result[name] = Profile(
            taus,
            np.asarray(profiles[name], float),
            intervals[name][0].astype(float),
            intervals[name][1].astype(float),
        )
    return result


def probability_of_improvement(
    scores: Mapping[str, np.ndarray], reps: int = DEFAULT_REPS, seed: int = 0, confidence: float = 0.95
) -> dict[tuple[str, str], Estimate]:
    """P(X > Y) for every pair of groups (X before Y in `scores`' order; P(Y > X) = 1 - P(X > Y)), with the
    interval of rliable's independent stratified bootstrap. Both groups of a pair must have scores on the same
    envs, in the same column order.

    Raises:
        ValueError: naming the pair, when two groups have a different number of env columns.
    """
    from rliable import library, metrics

    result = {}
    for x, y in itertools.combinations(scores, 2):
        scores_x, scores_y = check_matrix(x, scores[x]), check_matrix(y, scores[y])
        if scores_x.shape[1:] != scores_y.shape[1:]:
            raise ValueError(
                f"{x!r} has scores on {scores_x.shape[1]} envs and {y!r} on {scores_y.shape[1]}: the probability "
                "of improvement compares runs env by env"
            )
        with seeded(seed):
            points, intervals = library.get_interval_estimates(
                {"pair": [scores_x, scores_y]},
                metrics.probability_of_improvement,
                reps=reps,
                confidence_interval_size=confidence,
            )
        low, high = np.ravel(intervals["pair"])
        result[(x, y)] = Estimate(float(points["pair"]), float(low), float(high))
    return result


def align_curves(
    curves: Sequence[tuple[np.ndarray, np.ndarray]], points: int | None = None, grid: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Put evaluation curves `[(env_steps (K_i,), values (K_i,)), ...]` on one grid of env steps, each curve
    linearly interpolated there: `grid` where given, else `points` evenly spaced steps (default: as many as the
    curve with the most evaluations has inside the range, at most 50) from the latest first evaluation to the
    earliest last one.

    Returns:
        grid (G,) and values (len(curves), G).

    Raises:
        ValueError: when the curves cover no common range of env steps, or `grid` leaves it (no extrapolation).
    """
    start = max(float(steps[0]) for steps, _ in curves)
    stop = min(float(steps[-1]) for steps, _ in curves)
    if start > stop:
        raise ValueError(
            f"the curves cover no common range of env steps (latest start {start:.0f}, earliest end {stop:.0f})"
        )
    if grid is not None:
        grid = np.asarray(grid, dtype=float)
        if grid.min() < start or grid.max() > stop:
            raise ValueError(
                f"the grid {grid.min():.0f}-{grid.max():.0f} leaves the curves' range {start:.0f}-{stop:.0f}"
            )
    else:
        if points is None:
            inside = max(int(((steps >= start) & (steps <= stop)).sum()) for steps, _ in curves)
            points = min(max(inside, 2), 50)
        grid = np.linspace(start, stop, points) if stop > start else np.array([start])
    return grid, np.stack([np.interp(grid, steps, values) for steps, values in curves])


def iqm_curve(
    env_steps: np.ndarray,
    scores: np.ndarray,
    reps: int = DEFAULT_REPS,
    seed: int = 0,
    confidence: float = 0.95,
    name: str = "scores",
) -> CurveEstimate:
    """The IQM of a group's scores at each env step, `scores` of shape (R, E, G) on the grid `env_steps` (G,),
    with pointwise stratified-bootstrap intervals (one bootstrap resamples the runs of each env once for every
    grid point, as rliable's sample-efficiency curves do)."""
    from rliable import library

    scores = check_matrix(name, scores)
    if scores.ndim != 3 or scores.shape[2] != len(env_steps):
        raise ValueError(f"scores of {name!r} must be (runs, envs, {len(env_steps)} grid points)")

    def iqm_per_step(x: np.ndarray) -> np.ndarray:
        # rliable's aggregate_iqm (trim_mean over all runs and envs) at every grid point at once
        return stats.trim_mean(x.reshape(-1, x.shape[-1]), proportiontocut=0.25, axis=0)

    with seeded(seed):
        points, intervals = library.get_interval_estimates(
            {name: scores}, iqm_per_step, reps=reps, confidence_interval_size=confidence
        )
    return CurveEstimate(
        np.asarray(env_steps, float),
        points[name].astype(float),
        intervals[name][0].astype(float),
        intervals[name][1].astype(float),
    )
