"""Runs and checkpoints saved before a rename keep working: a resumed config gets the current key and value names,
and a checkpoint's whole metric history becomes the bounded `Metrics` state."""

from omegaconf import OmegaConf

from pglab.metrics import Metrics
from pglab.resume import with_current_names


def test_a_saved_config_resumes_under_the_current_names():
    saved = OmegaConf.create({"algo": {"standardize_returns": False, "advantage": "rtg", "lr": 0.01}})
    assert OmegaConf.to_container(with_current_names(saved)) == {
        "algo": {"normalize_advantage": False, "advantage": "reward_to_go", "lr": 0.01}
    }
    current = OmegaConf.create({"algo": {"advantage": "gae"}})
    assert OmegaConf.to_container(with_current_names(current)) == {"algo": {"advantage": "gae"}}


def test_an_old_checkpoint_history_becomes_latest_values_evaluations_and_the_training_curve():
    history = [
        {"rollout/episode_return_mean": 20.0, "time/env_steps": 256.0, "time/episodes": 10.0},
        {"eval/episode_return_mean": 30.0, "eval/episode_return_std": 1.0, "time/env_steps": 256.0},
        {"rollout/episode_return_mean": 40.0, "time/env_steps": 512.0, "time/episodes": 15.0},
    ]
    metrics = Metrics()
    metrics.load_history(history)
    assert metrics.training_curve == [(256.0, 20.0), (512.0, 40.0)]
    assert [row["progress/env_steps"] for row in metrics.evaluations] == [256.0]
    assert metrics.latest["progress/env_steps"] == 512.0 and metrics.latest["progress/episodes"] == 15.0


def test_the_training_curve_is_thinned_to_a_bounded_size():
    metrics = Metrics(curve_points=4)
    for step in range(1, 101):
        metrics.log({"rollout/episode_return_mean": float(step)}, env_steps=step)
    assert 4 <= len(metrics.training_curve) < 8
    steps = [s for s, _ in metrics.training_curve]
    assert steps == sorted(steps) and steps[-1] >= 100 - 16
    restored = Metrics(curve_points=4)
    restored.load_state_dict(metrics.state_dict())
    for step in range(101, 121):
        metrics.log({"rollout/episode_return_mean": float(step)}, env_steps=step)
        restored.log({"rollout/episode_return_mean": float(step)}, env_steps=step)
    assert restored.training_curve == metrics.training_curve  # a resumed run thins as the straight one does
