"""`scripts/plot.py` on a 2-algorithm x 2-seed sweep, and its rliable report on fake runs with known scores."""

import json

import matplotlib.image as mpimg
import numpy as np
import pytest
import yaml

from pglab.aggregate_metrics import RANDOM_POLICY_RETURNS
from tests.cli import run_script, train

REPS = "200"  # bootstrap resamples: the intervals asserted here hold with any number


def test_plot_of_a_two_algorithm_two_seed_sweep(tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = train(
        "-m",
        "algo=ppo,a2c",
        "seed=0,1",
        "debug=smoke",
        "callbacks.progress.refresh_every_env_steps=1000000000",
        f"hydra.sweep.dir={sweep_dir}",
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]

    out = tmp_path / "cmp.png"
    result = run_script("scripts/plot.py", str(sweep_dir), "--out", str(out), "--rliable", "--reps", REPS)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "PPO: " in result.stdout and "A2C: " in result.stdout and result.stdout.count("(n=2)") == 2
    image = mpimg.imread(out)
    assert image.shape[0] > 300 and image.shape[1] > 500 and image.std() > 0
    # the sweep's rliable report: per algorithm, the final evaluations of its two jobs (the IQM of 2 is their mean)
    report = json.loads((tmp_path / "rliable_eval_episode_return_mean.json").read_text())
    finals = {"PPO": [], "A2C": []}
    for job in sorted(p for p in sweep_dir.iterdir() if p.is_dir()):
        algo = yaml.safe_load((job / "config.yaml").read_text())["algo"]["_target_"].rsplit(".", 1)[-1]
        finals[algo].append(json.loads((job / "summary.json").read_text())["eval/episode_return_mean"])
    assert [g["label"] for g in report["groups"]] == ["PPO", "A2C"] and not report["normalized"]
    for group in report["groups"]:
        assert sorted(np.ravel(group["final_scores"])) == pytest.approx(sorted(finals[group["label"]]))
        assert group["IQM"]["point"] == pytest.approx(np.mean(finals[group["label"]]))
        assert group["IQM"]["low"] <= group["IQM"]["point"] <= group["IQM"]["high"]
    assert [(p["x"], p["y"]) for p in report["probability_of_improvement"]] == [("PPO", "A2C")]
    assert "| PPO | 2 × 1 |" in result.stdout and "| A2C | 2 × 1 |" in result.stdout
    assert mpimg.imread(tmp_path / "rliable_eval_episode_return_mean.png").std() > 0

    result = run_script(
        "scripts/plot.py",
        str(sweep_dir),
        "--group-by",
        "algo",
        "seed",
        "--metric",
        "rollout/episode_return_mean",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("(n=1)") == 4
    assert (sweep_dir / "curves_rollout_episode_return_mean.png").exists()

    result = run_script("scripts/plot.py", str(sweep_dir), "--group-by", "algo.lrr")
    assert result.returncode == 2 and "--group-by algo.lrr: no such config key" in result.stderr


# Normalized final scores (0 = random policy, 1 = the threshold) of fake runs: PPO beats every A2C run on both envs.
# PPO's 6 scores sorted: 0.3 0.5 0.7 0.8 0.9 1.05; the IQM drops one at each end (25% of 6): (0.5 + 0.7 + 0.8 + 0.9) / 4
# = 0.725; per-env means 2.15 / 3 and 0.7, so median = mean = (2.15 / 3 + 0.7) / 2. A2C: 0 0 0.1 0.1 0.2 0.2, IQM
# (0 + 0.1 + 0.1 + 0.2) / 4. Only PPO's 1.05 is above the threshold (1).
FINALS = {
    ("PPO", "CartPole-v1"): [1.05, 0.8, 0.3, 0.9],  # seed 3 has no Acrobot run: left out of the 2-env matrix
    ("PPO", "Acrobot-v1"): [0.9, 0.7, 0.5],
    ("A2C", "CartPole-v1"): [0.2, 0.1, 0.0],
    ("A2C", "Acrobot-v1"): [0.2, 0.1, 0.0],
}
THRESHOLDS = {"CartPole-v1": 475.0, "Acrobot-v1": -100.0}


def raw_return(env, score):
    random = RANDOM_POLICY_RETURNS[env]
    return random + score * (THRESHOLDS[env] - random)


def write_run(run_dir, algo, env, seed, score):
    """A completed run dir: config.yaml and evaluations at 1,000, 2,000 and 3,000 env steps that climb linearly
    from the random policy's return to `score`'s (evaluations at the same steps, so the IQM curve is exact)."""
    returns = [raw_return(env, score * fraction) for fraction in (0, 0.5, 1)]
    write_returns(run_dir, algo, env, seed, returns)


def write_returns(run_dir, algo, env, seed, returns):
    (run_dir / "csv").mkdir(parents=True)
    config = {"algo": {"_target_": f"pglab.algos.{algo.lower()}.{algo}"}, "env": {"id": env}, "seed": seed}
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    rows = [f"{step},{value!r}" for step, value in zip((1000, 2000, 3000), returns, strict=True)]
    (run_dir / "csv" / "metrics.csv").write_text("step,eval/episode_return_mean\n" + "\n".join(rows) + "\n")
    (run_dir / "summary.json").write_text(json.dumps({"status": "completed"}))


def test_rliable_report_of_fake_runs_with_known_scores(tmp_path):
    runs = tmp_path / "runs"
    for i, ((algo, env), scores) in enumerate(FINALS.items()):  # run dirs in FINALS' order
        for seed, score in enumerate(scores):
            write_run(runs / f"{i}_{algo}_{env}_{seed}", algo, env, seed, score)
    out = tmp_path / "report" / "cmp.png"
    args = ("scripts/plot.py", str(runs), "--out", str(tmp_path / "curves.png"), "--reps", REPS)
    result = run_script(*args, "--rliable-out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["normalized"] and report["threshold"] == 1.0
    assert report["normalization"]["CartPole-v1"]["reference"] == 475.0
    ppo, a2c = report["groups"]
    assert (ppo["label"], a2c["label"]) == ("PPO", "A2C") and ppo["envs"] == ["CartPole-v1", "Acrobot-v1"]
    np.testing.assert_allclose(ppo["final_scores"], [[1.05, 0.9], [0.8, 0.7], [0.3, 0.5]], atol=1e-9)
    assert [p.endswith("PPO_CartPole-v1_3") for p in ppo["left_out"]] == [True]
    assert ppo["IQM"]["point"] == pytest.approx(0.725)
    assert ppo["median"]["point"] == pytest.approx((2.15 / 3 + 0.7) / 2) == ppo["mean"]["point"]
    assert a2c["IQM"]["point"] == pytest.approx(0.1)
    for group in (ppo, a2c):
        for metric in ("IQM", "median", "mean"):
            assert group[metric]["low"] <= group[metric]["point"] <= group[metric]["high"]
    assert ppo["above_threshold"]["point"] == pytest.approx(1 / 6) and a2c["above_threshold"]["high"] == 0.0
    (improvement,) = report["probability_of_improvement"]
    assert improvement == {"x": "PPO", "y": "A2C", "point": 1.0, "low": 1.0, "high": 1.0}
    # the IQM curve: scores climb linearly from 0, so the IQM at 2,000 env steps is half the final one
    table = ppo["iqm_table"]
    assert table["env_steps"] == [1000, 1500, 2000, 2500, 3000]
    np.testing.assert_allclose(table["iqm"], [0.0, 0.725 / 4, 0.725 / 2, 0.725 * 3 / 4, 0.725], atol=1e-9)
    markdown = out.with_suffix(".md").read_text()
    assert "| PPO | 3 × 2 | 0.725 [" in markdown and "| PPO | A2C | 1.00 [1.00, 1.00] |" in markdown
    assert "PPO: 1 run(s) of CartPole-v1 left out (seed 3)" in markdown and markdown in result.stdout
    assert mpimg.imread(out).shape[1] >= 1500

    # curves per algorithm and env; the report's groups stay the algorithms (the envs are its tasks)
    result = run_script(*args, "--rliable-out", str(tmp_path / "by_env.png"), "--group-by", "algo", "env")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("(n=3)") == 3 and "PPO, CartPole-v1: " in result.stdout
    report = json.loads((tmp_path / "by_env.json").read_text())
    assert [g["label"] for g in report["groups"]] == ["PPO", "A2C"] and report["normalized"]

    # one env: raw returns; PPO's 4 CartPole runs (0.3 0.8 0.9 1.05: IQM (0.8 + 0.9) / 2) and the threshold 475
    cartpole_only = tmp_path / "cartpole"
    for seed, score in enumerate(FINALS[("PPO", "CartPole-v1")]):
        write_run(cartpole_only / f"PPO_{seed}", "PPO", "CartPole-v1", seed, score)
    result = run_script(
        "scripts/plot.py", str(cartpole_only), "--out", str(tmp_path / "c.png"), "--rliable", "--reps", REPS
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "rliable_eval_episode_return_mean.json").read_text())
    (group,) = report["groups"]
    assert not report["normalized"] and report["threshold"] == 475.0
    assert group["IQM"]["point"] == pytest.approx(raw_return("CartPole-v1", 0.85))
    assert group["above_threshold"]["point"] == pytest.approx(0.25)  # 1.05 (497.6) of the 4 is above 475

    # several envs and one without a random-policy return: an error naming it
    write_returns(
        runs / "PPO_MountainCarContinuous_0", "PPO", "MountainCarContinuous-v0", 0, [-1.0, 50.0, 90.0]
    )
    result = run_script(*args, "--rliable")
    assert result.returncode == 2
    assert "no random-policy return for MountainCarContinuous-v0" in result.stderr
