"""`scripts/plot.py` on a 2-algorithm x 2-seed sweep."""

import matplotlib.image as mpimg

from tests.cli import run_script, train


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
    result = run_script("scripts/plot.py", str(sweep_dir), "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "PPO: " in result.stdout and "A2C: " in result.stdout and result.stdout.count("(n=2)") == 2
    image = mpimg.imread(out)
    assert image.shape[0] > 300 and image.shape[1] > 500 and image.std() > 0

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
