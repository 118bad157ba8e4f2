"""The torch env backend end to end: training with a video evaluation, `evaluate.py` reproducing training's final
evaluation on the batched env (videos drawn by gymnasium's renderer), a continuous-action env with normalization,
and two data-parallel processes with distinct episodes."""

import json

import imageio.v2 as imageio
import pytest
import torch

from pglab.train import run
from tests.cli import run_script, train

EPISODES = 4


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from tests.conftest import compose_config

    run_dir = tmp_path_factory.mktemp("run")
    cfg = compose_config(
        [
            "debug=smoke",
            "env.vectorization=torch",
            "env.num_envs=16",
            "total_env_steps=4096",
            "logger=none",
            f"callbacks.evaluation.episodes={EPISODES}",
            "callbacks.evaluation.video_every=2",
        ],
        run_dir,
    )
    return run_dir, run(cfg)


def test_training_on_the_torch_backend_records_videos_and_evaluate_py_reproduces_its_evaluation(trained_run):
    run_dir, summary = trained_run
    assert summary["status"] == "completed" and summary["progress/env_steps"] >= 4096
    assert list((run_dir / "videos").glob("eval-step-*-0-episode-0.mp4"))
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    assert torch.load(ckpt, weights_only=True)["collector"]["env_state"]["state"]["x"].shape == (16, 4)
    result = run_script(
        "evaluate.py", f"ckpt_path={ckpt}", f"episodes={EPISODES}", "video=true", "video_episodes=2"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (json_path,) = (run_dir / "checkpoints").glob("last-eval-*.json")
    out = json.loads(json_path.read_text())
    assert out["episode_return_mean"] == summary["eval/episode_return_mean"]
    assert out["episode_return_std"] == summary["eval/episode_return_std"]
    for i, video in enumerate(out["videos"]):
        reader = imageio.get_reader(video)
        # the reset frame and one frame per step, as gymnasium's RecordVideo (moviepy may repeat the last one)
        assert out["lengths"][i] + 1 <= reader.count_frames() <= out["lengths"][i] + 2
        assert reader.get_data(0).std() > 0


def test_a_continuous_env_with_normalization_trains_on_the_torch_backend(tmp_path):
    from tests.conftest import compose_config

    summary = run(
        compose_config(
            [
                "algo=ppo",
                "env=pendulum",
                "env.vectorization=torch",
                "env.num_envs=16",
                "env.normalize_obs=true",
                "env.normalize_reward=true",
                "algo.num_steps=32",
                "total_env_steps=2048",
                "logger=none",
                "callbacks.evaluation.episodes=2",
            ],
            tmp_path,
        )
    )
    assert summary["progress/env_steps"] == 2048
    assert (
        -2000 < summary["eval/episode_return_mean"] < 0
    )  # Pendulum's 200-step returns are in [-16.3 * 200, 0]
    normalization = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)["collector"][
        "normalization"
    ]
    assert normalization["obs_rms"]["count"] > 2048 and normalization["accumulated_return"].shape == (16,)


@pytest.mark.slow
def test_two_data_parallel_processes_step_distinct_batched_episodes(tmp_path):
    run_dir = tmp_path / "run"
    result = train(
        "trainer.strategy=ddp",
        "trainer.devices=2",
        "logger=none",
        "env.vectorization=torch",
        "env.num_envs=8",
        "total_env_steps=4096",
        "callbacks.evaluation.episodes=2",
        "callbacks.progress.refresh_every_env_steps=1000000000",
        "+callbacks.dump._target_=tests.fakes.DumpProcessState",
        f"+callbacks.dump.dirpath={tmp_path / 'dump'}",
        f"hydra.run.dir={run_dir}",
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [torch.load(tmp_path / "dump" / f"rank-{r}.pt", weights_only=True) for r in (0, 1)]
    for key, value in ranks[0]["weights"].items():
        assert torch.equal(value, ranks[1]["weights"][key]), key
    assert ranks[0]["env_steps"] == ranks[1]["env_steps"] == 4096
    assert ranks[0]["env_index"].tolist() == list(range(8)) and ranks[1]["env_index"].tolist() == list(
        range(8, 16)
    )
    assert not torch.equal(ranks[0]["obs"], ranks[1]["obs"])  # distinct episodes
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["progress/env_steps"] == 4096
