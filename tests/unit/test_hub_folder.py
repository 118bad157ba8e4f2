"""The Hub folder's parts without training or network: leaderboard env names, the course tag from the run's launch
record, the model card's metadata read back by huggingface_hub, repo ids, and the safetensors round trip of the
weights and observation statistics."""

import pytest
import torch
from huggingface_hub import ModelCard
from hydra.utils import instantiate
from omegaconf import OmegaConf
from safetensors.torch import load_file, save_file

from pglab import hub
from pglab.envs.factory import env_spaces
from pglab.envs.normalization import OBSERVATION_NORMALIZERS, find_wrapper, load_normalization_state
from pglab.errors import ConfigError


def evaluation(env_id: str, algo: str, mean: float, std: float, deterministic: bool = True) -> dict:
    """An `evaluate.py` result of 3 episodes."""
    return {
        "env_id": env_id,
        "algo": algo,
        "episode_return_mean": mean,
        "episode_return_std": std,
        "score_mean_minus_std": mean - std,
        "episodes": 3,
        "deterministic": deterministic,
        "seed": 1_000_000,
        "env_steps": 12_345,
        "episode_length_mean": 10.0,
        "returns": [mean - std, mean, mean + std],
        "lengths": [10, 10, 10],
        "checkpoint": "/home/someone/run/checkpoints/best.ckpt",
        "videos": [],
    }


@pytest.mark.parametrize(
    "env_id, name",
    [
        ("pglab/PixelCopter-v0", "Pixelcopter-PLE-v0"),
        ("pglab/PongPLE-v0", "Pong-PLE-v0"),
        ("CartPole-v1", "CartPole-v1"),
        ("ALE/Pong-v5", "ALE/Pong-v5"),
    ],
)
def test_the_ple_games_get_the_leaderboards_names_and_other_envs_their_gymnasium_id(env_id, name):
    assert hub.leaderboard_env_name(env_id) == name


@pytest.mark.parametrize(
    "experiment, course", [("reinforce_pixelcopter_hf", True), ("ppo_pixelcopter", False), (None, False)]
)
def test_the_card_reads_back_with_the_leaderboard_metric_and_the_course_tag_for_hf_presets(
    experiment, course, make_cfg, tmp_path
):
    run_dir = tmp_path / "run"
    (run_dir / ".hydra").mkdir(parents=True)
    overrides = [f"experiment={experiment}"] if experiment else ["algo=reinforce", "env=pixelcopter"]
    OmegaConf.save(OmegaConf.create([*overrides, "seed=3"]), run_dir / ".hydra" / "overrides.yaml")
    config = make_cfg(*overrides, "seed=3")
    found, command = hub.launch_record(run_dir)
    assert found == experiment and command == f"python train.py {' '.join(overrides)} seed=3"

    results = hub.hub_results(
        "someone/reinforce-Pixelcopter", evaluation("pglab/PixelCopter-v0", "REINFORCE", 12.5, 4.25)
    )
    assert "checkpoint" not in results and "videos" not in results  # no local paths on the Hub
    card = hub.model_card("someone/reinforce-Pixelcopter", results, config, command, found, has_curve=False)
    card.save(tmp_path / "README.md")
    loaded = ModelCard.load(tmp_path / "README.md")

    expected_tags = ["Pixelcopter-PLE-v0", "reinforce", "reinforcement-learning", "pglab"]
    assert loaded.data.tags == expected_tags + (["deep-rl-class"] if course else [])
    assert loaded.data.library_name == "pglab" and loaded.data.model_name == "reinforce-Pixelcopter"
    (result,) = loaded.data.eval_results
    assert result.dataset_name == result.dataset_type == "Pixelcopter-PLE-v0"
    assert (result.metric_type, result.metric_value) == ("mean_reward", "12.50 +/- 4.25")
    assert f"```bash\n{command}\n```" in loaded.text
    assert "`Pixelcopter-PLE-v0` (pglab's `pglab/PixelCopter-v0`)" in loaded.text
    assert "| 3 | greedy | 1000000 | 12.50 | 4.25 | 8.25 |" in loaded.text
    assert "_target_" not in loaded.text and "hidden_sizes" in loaded.text
    assert "learning_curve.png" not in loaded.text  # has_curve=False: no broken image


def test_the_card_says_when_actions_were_sampled(make_cfg):
    results = hub.hub_results("a/b", evaluation("CartPole-v1", "PPO", 500.0, 0.0, deterministic=False))
    card = hub.model_card("a/b", results, make_cfg(), None, None, has_curve=True)
    assert "actions sampled from the policy" in card.text and "| 3 | sampled |" in card.text
    assert (
        "launch command was not recorded" in card.text
        and "![learning curve](learning_curve.png)" in card.text
    )


@pytest.mark.parametrize("repo_id", ["name-only", "a/b/c", "org/-bad", "org/has space", "/abs"])
def test_a_repo_id_of_the_wrong_form_is_refused_naming_the_key(repo_id):
    with pytest.raises(
        ConfigError, match=rf"^push_to_hub='{repo_id}' is not a Hub repo id: .*; write e\.g\."
    ):
        hub.check_repo_id(repo_id, "push_to_hub")
    assert hub.check_repo_id("some-user/ppo-CartPole-v1", "push_to_hub") == "some-user/ppo-CartPole-v1"


def pendulum_folder(make_cfg, tmp_path, normalization: dict, *overrides: str, **config_changes) -> tuple:
    """A Hub folder (weights and config.yaml) of an untrained Pendulum policy composed with `overrides`;
    `config_changes` are dotted keys then set in its config.yaml. Returns (folder, policy, config)."""
    config = make_cfg("env=pendulum", *overrides)
    observation_space, action_space = env_spaces(instantiate(config.env))
    policy = instantiate(config.network)(observation_space, action_space, with_critic=True)
    config = OmegaConf.create(OmegaConf.to_container(config, resolve=True))
    for key, value in config_changes.items():
        OmegaConf.update(config, key, value, force_add=True)
    results = hub.hub_results("a/b", evaluation("Pendulum-v1", "PPO", -150.0, 20.0))
    folder = tmp_path / "folder"
    hub.write_folder(
        folder,
        {
            hub.WEIGHTS_FILE: lambda path: hub.save_weights(
                path, policy.state_dict(), normalization, results
            ),
            hub.CONFIG_FILE: lambda path: OmegaConf.save(config, path),
        },
    )
    return folder, policy, config


@pytest.mark.parametrize("shared_trunk", [False, True])
def test_a_folder_round_trips_the_weights_and_observation_statistics_exactly(
    shared_trunk, make_cfg, tmp_path
):
    normalization = {
        "obs_rms": {
            "mean": torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64),
            "var": torch.tensor([1.5, 2.5, 1e-3], dtype=torch.float64),
            "count": 6001.0,
        }
    }
    folder, policy, config = pendulum_folder(
        make_cfg, tmp_path, normalization, "env.normalize_obs=true", f"network.shared_trunk={shared_trunk}"
    )
    tensors = load_file(folder / hub.WEIGHTS_FILE)  # safetensors: tensors only, no pickle
    assert {k for k in tensors if not k.startswith("policy.")} == {
        "normalization.obs_rms.mean",
        "normalization.obs_rms.var",
        "normalization.obs_rms.count",
    }

    agent = hub.load_agent(str(folder))
    assert agent.weights.keys() == policy.state_dict().keys()
    assert all(torch.equal(agent.weights[k], v) for k, v in policy.state_dict().items())
    obs_rms = agent.normalization["obs_rms"]
    assert obs_rms["mean"].dtype == obs_rms["var"].dtype == torch.float64
    assert torch.equal(obs_rms["mean"], normalization["obs_rms"]["mean"]) and obs_rms["count"] == 6001.0
    assert torch.equal(obs_rms["var"], normalization["obs_rms"]["var"])
    assert agent.key == f"from_hub={folder}" and agent.out_dir == tmp_path and agent.name == "folder"
    env = instantiate(config.env)(num_envs=1, evaluation=True)  # as evaluate.py builds it
    load_normalization_state(env, agent.normalization)
    rms = find_wrapper(env, OBSERVATION_NORMALIZERS).obs_rms
    assert (
        rms.mean.tolist() == [0.1, -0.2, 0.3] and rms.var.tolist() == [1.5, 2.5, 1e-3] and rms.count == 6001.0
    )
    env.close()
    loaded = hub.load_policy(str(folder))
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in policy.state_dict().items())


def test_a_new_push_replaces_a_previous_folder_and_a_failed_write_keeps_it(tmp_path):
    folder = tmp_path / "folder"
    hub.write_folder(folder, {hub.RESULTS_FILE: lambda path: path.write_text("first")})
    hub.write_folder(folder, {hub.RESULTS_FILE: lambda path: path.write_text("second")})
    assert (folder / hub.RESULTS_FILE).read_text() == "second"

    def no_space(path):
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match=r"could not write .*folder/README\.md: No space left on device"):
        hub.write_folder(
            folder, {hub.RESULTS_FILE: lambda path: path.write_text("third"), hub.CARD_FILE: no_space}
        )
    assert [p.name for p in folder.iterdir()] == [hub.RESULTS_FILE]
    assert (folder / hub.RESULTS_FILE).read_text() == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"]  # no staging dir left


@pytest.mark.parametrize(
    "key, target",
    [("env._target_", "builtins.print"), ("network._target_", "os.system"), ("algo._target_", "os.getenv")],
)
def test_a_downloaded_config_may_not_make_hydra_call_anything_outside_pglab(
    key, target, make_cfg, tmp_path, capsys
):
    folder, _, _ = pendulum_folder(make_cfg, tmp_path, {}, **{key: target})
    with pytest.raises(ConfigError, match=rf"names callables outside pglab \({key}={target}\)"):
        hub.load_policy(str(folder))
    assert capsys.readouterr().out == ""  # nothing was called


def test_incomplete_observation_statistics_and_a_results_file_that_is_no_object_are_refused(
    make_cfg, tmp_path
):
    folder, _, _ = pendulum_folder(make_cfg, tmp_path, {})
    tensors = load_file(folder / hub.WEIGHTS_FILE)
    tensors["normalization.obs_rms.mean"] = torch.zeros(3, dtype=torch.float64)  # no var, no count
    save_file(tensors, str(folder / hub.WEIGHTS_FILE))
    with pytest.raises(ConfigError, match="incomplete observation statistics"):
        hub.load_agent(str(folder))
    del tensors["normalization.obs_rms.mean"]
    save_file(tensors, str(folder / hub.WEIGHTS_FILE))
    (folder / hub.RESULTS_FILE).write_text("[]")
    with pytest.raises(ConfigError, match="is not a pglab results file"):
        hub.load_agent(str(folder))


def test_a_weights_file_that_cannot_be_written_is_a_storage_error_and_leaves_no_staging_dir(tmp_path):
    def unwritable(path):
        results = {"env_id": "CartPole-v1", "algo": "PPO"}
        hub.save_weights(tmp_path / "missing" / "dir" / "x.safetensors", {"w": torch.zeros(2)}, {}, results)

    with pytest.raises(OSError, match=r"could not write .*folder/model\.safetensors"):
        hub.write_folder(tmp_path / "folder", {hub.WEIGHTS_FILE: unwritable})
    assert list(tmp_path.iterdir()) == []
