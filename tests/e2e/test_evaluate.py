"""`python evaluate.py ckpt_path=...`: reproduces training's final evaluation, writes JSON and playable mp4s,
and refuses bad or unsafe checkpoints with one clear line."""

import json
import pickle
import shutil

import imageio.v2 as imageio
import pytest
import torch
from omegaconf import OmegaConf

from pglab.train import run
from tests.cli import run_script
from tests.fakes import RunsCode

EPISODES = 6


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from tests.conftest import compose_config

    run_dir = tmp_path_factory.mktemp("run")
    cfg = compose_config(
        [
            "debug=smoke",
            "total_env_steps=4000",
            "logger=none",
            f"callbacks.evaluation.episodes={EPISODES}",
            "callbacks.evaluation.video_every=3",
        ],
        run_dir,
    )
    summary = run(cfg)
    return run_dir, summary


def evaluate(*args: str):
    return run_script("evaluate.py", *args)


def test_evaluate_reproduces_the_final_training_evaluation_and_writes_json_and_mp4(trained_run):
    run_dir, summary = trained_run
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    result = evaluate(
        f"ckpt_path={ckpt}", f"episodes={EPISODES}", "deterministic=true", "video=true", "video_episodes=2"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (json_path,) = (run_dir / "checkpoints").glob("last-eval-*.json")
    out = json.loads(json_path.read_text())
    assert out["episode_return_mean"] == summary["eval/episode_return_mean"]
    assert out["episode_return_std"] == summary["eval/episode_return_std"]
    assert out["score_mean_minus_std"] == pytest.approx(
        out["episode_return_mean"] - out["episode_return_std"]
    )
    assert out["env_steps"] == summary["progress/env_steps"] and out["seed"] == 1_000_000
    assert f"return {out['episode_return_mean']:.2f} ± {out['episode_return_std']:.2f}" in result.stdout
    assert len(out["videos"]) == 2
    for i, video in enumerate(out["videos"]):
        reader = imageio.get_reader(video)
        # RecordVideo renders the reset frame and one frame per step; moviepy's encoder may repeat the last
        # frame once when rounding the clip's duration to its frame rate.
        assert out["lengths"][i] + 1 <= reader.count_frames() <= out["lengths"][i] + 2
        frame = reader.get_data(0)
        assert frame.ndim == 3 and frame.shape[2] == 3 and frame.std() > 0


def test_training_records_eval_videos_every_k_evaluations_and_at_the_end(trained_run):
    run_dir, _ = trained_run
    # Evaluations at 1024, 2048, 3008 and 4032 env steps (the last rollout crosses the budget, so that periodic
    # evaluation is the final one): every 3rd records, and the final one.
    assert sorted(p.name for p in (run_dir / "videos").glob("*.mp4")) == [
        "eval-step-3008-0-episode-0.mp4",
        "eval-step-4032-0-episode-0.mp4",
    ]


def test_sampled_evaluation_repeats_with_its_seed(trained_run):
    run_dir, _ = trained_run
    outs = []
    for _ in range(2):
        result = evaluate(
            f"ckpt_path={run_dir / 'checkpoints' / 'best.ckpt'}",
            "episodes=3",
            "deterministic=false",
            "seed=7",
        )
        assert result.returncode == 0, result.stderr[-3000:]
    for json_path in sorted((run_dir / "checkpoints").glob("best-eval-*.json")):
        outs.append(json.loads(json_path.read_text()))
    assert len(outs) == 2  # two evaluations, two result files: nothing overwritten
    assert outs[0]["seed"] == 7 and outs[0]["deterministic"] is False and len(outs[0]["returns"]) == 3
    assert outs[0]["returns"] == outs[1]["returns"] and outs[0]["lengths"] == outs[1]["lengths"]


def test_bad_and_malicious_checkpoints_fail_with_one_line_and_run_no_code(trained_run, tmp_path):
    run_dir, _ = trained_run
    ckpt_dir = run_dir / "checkpoints"
    marker = tmp_path / "code-was-run"
    torch.save(
        {"state_dict": {"policy.x": torch.zeros(1)}, "payload": RunsCode(marker)}, ckpt_dir / "evil.ckpt"
    )
    (ckpt_dir / "notes.ckpt").write_text("not a checkpoint")
    with open(ckpt_dir / "other.ckpt", "wb") as f:
        pickle.dump({"weights": [1, 2, 3]}, f)
    cases = {
        ckpt_dir / "missing.ckpt": "does not exist",
        ckpt_dir / "notes.ckpt": "cannot be loaded: it is not a PyTorch checkpoint file",
        ckpt_dir
        / "evil.ckpt": "cannot be loaded: it holds Python objects (io.open) that pglab does not unpickle",
        ckpt_dir / "other.ckpt": "cannot be loaded: it is not a PyTorch checkpoint file",
    }
    cases[ckpt_dir / "last.ckpt"] = "device=cuda was requested but PyTorch sees no CUDA GPU"
    for path, message in cases.items():
        if "cuda" in message and torch.cuda.is_available():
            continue
        result = evaluate(f"ckpt_path={path}", *(["device=cuda"] if "cuda" in message else []))
        assert result.returncode == 2, (path, result.stderr[-2000:])
        errors = [
            line
            for line in (result.stdout + result.stderr).splitlines()
            if "[ERROR]" in line or "ERROR" in line
        ]
        assert len(errors) == 1 and message in errors[0], errors
        assert f"ckpt_path={path}" in errors[0] or "device=cuda" in errors[0], errors
        assert "Traceback" not in result.stderr
    assert not marker.exists()


def output_lines(result) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]


def test_a_checkpoint_copied_alone_evaluates_with_its_own_config(trained_run, tmp_path):
    run_dir, _ = trained_run
    alone = tmp_path / "shared" / "best.ckpt"  # no config.yaml anywhere near it
    alone.parent.mkdir()
    shutil.copy(run_dir / "checkpoints" / "best.ckpt", alone)
    outs = []
    for ckpt in (run_dir / "checkpoints" / "best.ckpt", alone):
        before = set(ckpt.parent.glob("best-eval-*.json"))
        result = evaluate(f"ckpt_path={ckpt}", "episodes=4", "deterministic=false", "seed=3")
        assert result.returncode == 0, result.stderr[-3000:]
        (json_path,) = set(ckpt.parent.glob("best-eval-*.json")) - before
        outs.append(json.loads(json_path.read_text()))
        json_path.unlink()  # other tests count the run dir's result files
    assert outs[0]["env_id"] == outs[1]["env_id"] == "CartPole-v1"
    assert outs[0]["returns"] == outs[1]["returns"] and outs[0]["lengths"] == outs[1]["lengths"]


def test_a_checkpoint_in_another_runs_dir_names_the_differing_keys_in_one_line(trained_run, tmp_path):
    run_dir, _ = trained_run
    other = OmegaConf.load(run_dir / "config.yaml")  # the config.yaml of an Acrobot run with wider layers
    other.env.id, other.network.hidden_sizes = "Acrobot-v1", [32]
    (tmp_path / "checkpoints").mkdir()
    OmegaConf.save(other, tmp_path / "config.yaml")
    ckpt = tmp_path / "checkpoints" / "cartpole.ckpt"
    shutil.copy(run_dir / "checkpoints" / "best.ckpt", ckpt)
    result = evaluate(f"ckpt_path={ckpt}")
    assert result.returncode == 2
    assert output_lines(result) == [
        f"[ERROR] ckpt_path={ckpt} was written by another run than {tmp_path / 'config.yaml'}: env.id: checkpoint "
        "'CartPole-v1', config.yaml 'Acrobot-v1'; network.hidden_sizes: checkpoint [16], config.yaml [32]. Move the "
        "checkpoint out of that run dir (it carries its own config)"
    ]


def test_weights_that_do_not_fit_are_named_with_their_shapes_in_one_line(trained_run, tmp_path):
    run_dir, _ = trained_run
    # A checkpoint from before checkpoints carried their config, beside a config.yaml of wider layers.
    checkpoint = torch.load(run_dir / "checkpoints" / "best.ckpt", weights_only=True)
    del checkpoint["pglab_config"]
    (tmp_path / "checkpoints").mkdir()
    torch.save(checkpoint, tmp_path / "checkpoints" / "old.ckpt")
    other = OmegaConf.load(run_dir / "config.yaml")
    other.network.hidden_sizes = [32]
    OmegaConf.save(other, tmp_path / "config.yaml")
    result = evaluate(f"ckpt_path={tmp_path / 'checkpoints' / 'old.ckpt'}")
    assert result.returncode == 2
    (line,) = output_lines(result)
    assert line.startswith(
        f"[ERROR] ckpt_path={tmp_path / 'checkpoints' / 'old.ckpt'}: its weights do not fit the "
        f"network of {tmp_path / 'config.yaml'}: actor_trunk.0.weight: checkpoint 16x4, network 32x4; "
        "actor_trunk.0.bias: checkpoint 16, network 32;"
    )
    assert line.endswith("; and 2 more") and len(line) < 500


def test_a_checkpoint_without_config_and_without_run_dir_is_refused_in_one_line(trained_run, tmp_path):
    run_dir, _ = trained_run
    checkpoint = torch.load(run_dir / "checkpoints" / "best.ckpt", weights_only=True)
    del checkpoint["pglab_config"]
    torch.save(checkpoint, tmp_path / "old.ckpt")
    result = evaluate(f"ckpt_path={tmp_path / 'old.ckpt'}")
    assert result.returncode == 2
    (line,) = output_lines(result)
    assert f"ckpt_path={tmp_path / 'old.ckpt'}: the checkpoint carries no config" in line


@pytest.mark.parametrize("args", [["episodez=3"], ["ckpt_path=x.ckpt", "episodez=3"]])
def test_an_unknown_key_gets_one_line_with_the_keys(args):
    result = evaluate(*args)
    assert result.returncode == 2
    assert output_lines(result) == [
        "[pglab][ERROR] - episodez is not a key of the top level; its keys: ckpt_path, deterministic, device, episodes, "
        "from_hub, hub, push_to_hub, seed, video, video_episodes. (To add a new key on purpose, write +episodez=...)"
    ]


def test_a_missing_ckpt_path_is_one_line():
    result = evaluate("episodes=3")
    assert result.returncode == 2
    assert output_lines(result) == [
        "[ERROR] ckpt_path is required: python evaluate.py ckpt_path=<run dir>/checkpoints/last.ckpt (or "
        "from_hub=ORG/NAME for an agent shared on the Hugging Face Hub)"
    ]
