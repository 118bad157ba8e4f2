"""Every algo x env x network x accelerator option composes, and the CPU ones instantiate; bad values and
checkpoints are refused with a message naming the key."""

import functools
import itertools
import json

import pytest
import torch
from hydra.utils import instantiate

from pglab.errors import ConfigError
from pglab.preflight import NO_GPU_MESSAGE, check_run_keys, preflight
from pglab.rollout.collector import RolloutCollector
from pglab.train import run
from tests.conftest import ALGOS, CONF, ROOT
from tests.fakes import RunsCode

ENVS = sorted(p.stem for p in (CONF / "env").glob("*.yaml"))
NETWORKS = sorted(p.stem for p in (CONF / "network").glob("*.yaml"))
ACCELERATORS = sorted(p.stem for p in (CONF / "accelerator").glob("*.yaml"))
LOGGERS = sorted(p.stem for p in (CONF / "logger").glob("*.yaml"))


IMAGE_ENVS = {"pong", "pixelcopter_pixels"}


def test_groups_have_the_documented_options():
    assert len(ALGOS) >= 4  # every algorithm option is tested below; none is listed by hand
    assert ENVS == [
        "acrobot",
        "cartpole",
        "gym",
        "halfcheetah",
        "hopper",
        "lunarlander",
        "lunarlander_continuous",
        "mountaincar",
        "pendulum",
        "pixelcopter",
        "pixelcopter_pixels",
        "pong",
        "pong_ple",
    ]
    assert NETWORKS == ["cnn", "mlp"]
    assert ACCELERATORS == ["cpu", "gpu"]


def test_each_env_options_default_backend_is_the_one_that_collected_faster_at_its_default_sub_envs(make_cfg):
    # docs/backends.json (`python scripts/backends.py`) is the evidence: `torch` where the batched env collected
    # faster than gymnasium's sync vector env at the option's default `num_envs`, `sync` where it did not.
    ratios = {
        (row["env_id"], row["num_envs"]): row["ratio"]
        for row in json.loads((ROOT / "docs" / "backends.json").read_text())["rows"]
    }
    # env=gym is the base of every option, most of them without a batched env: sync whatever the id
    assert make_cfg("env=gym", "env.id=CartPole-v1").env.vectorization == "sync"
    defaults = {}
    for env in set(ENVS) - {"gym"}:
        cfg = make_cfg(f"env={env}")
        ratio = ratios.get((cfg.env.id, cfg.env.num_envs))
        # (the batched envs have state observations: a pixels option stays on gymnasium's vector env)
        if ratio is not None and cfg.env.kwargs.get("obs_type") != "pixels":
            defaults[env] = cfg.env.vectorization
            assert cfg.env.vectorization == ("torch" if ratio > 1 else "sync"), (env, cfg.env.num_envs, ratio)
    assert defaults == {
        "acrobot": "sync",
        "cartpole": "sync",
        "mountaincar": "torch",
        "pendulum": "sync",
        "pixelcopter": "torch",
    }


@pytest.mark.parametrize(
    ("algo", "env", "network", "accelerator"), list(itertools.product(ALGOS, ENVS, NETWORKS, ACCELERATORS))
)
def test_every_combination_composes_and_builds_or_names_the_right_network(
    make_cfg, algo, env, network, accelerator
):
    # VPG's separate critic optimizer needs separate trunks; network=cnn shares one by default.
    extra = ["network.shared_trunk=false"] if (algo, network) == ("vpg", "cnn") else []
    extra += (
        ["env.id=MountainCarContinuous-v0"] if env == "gym" else []
    )  # env=gym: any id, given on the command line
    cfg = make_cfg(f"algo={algo}", f"env={env}", f"network={network}", f"accelerator={accelerator}", *extra)
    assert cfg.trainer.accelerator == accelerator
    if accelerator == "gpu":  # composing is all a CPU machine can check; the CPU case builds the same objects
        return
    collector = RolloutCollector(instantiate(cfg.env)(num_envs=2, vectorization="sync"), seed=0)
    try:
        if (network == "cnn") != (env in IMAGE_ENVS):
            with pytest.raises(ConfigError, match=f"use network={'mlp' if network == 'cnn' else 'cnn'}"):
                instantiate(cfg.algo)(
                    network=instantiate(cfg.network), collector=collector, total_env_steps=10**5
                )
            return
        module = instantiate(cfg.algo)(
            network=instantiate(cfg.network), collector=collector, total_env_steps=10**5
        )
        n_params = sum(p.numel() for p in module.policy.parameters())
        assert n_params > 1000
        assert module.policy.has_critic == module.needs_critic
    finally:
        collector.close()


def test_gpu_without_cuda_is_a_short_config_error(make_cfg, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with pytest.raises(ConfigError) as info:
        check_run_keys(make_cfg("accelerator=gpu"))
    assert str(info.value) == NO_GPU_MESSAGE
    check_run_keys(make_cfg("accelerator=cpu"))


@pytest.mark.parametrize("logger", LOGGERS)
def test_every_logger_instantiates(make_cfg, logger):
    cfg = make_cfg(f"logger={logger}")
    loggers = [instantiate(c) for c in cfg.logger.values()]
    assert len(loggers) == {"none": 0, "many": 2}.get(logger, 1)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("algo.gamma=1.5", "algo.gamma=1.5 is out of range: allowed (0.0, 1.0]"),
        ("algo.lr=0", "algo.lr=0 is out of range"),
        ("algo.gae_lambda=-0.1", "algo.gae_lambda=-0.1 is out of range: allowed [0.0, 1.0]"),
        (
            "algo.num_minibatches=3",
            "set algo.num_minibatches so that env.num_envs * algo.num_steps is divisible",
        ),
        (
            "total_env_steps=100",
            "total_env_steps=100 is smaller than one rollout (env.num_envs * algo.num_steps = 256 env steps)",
        ),
        ("env.id=CartPol-v1", "did you mean CartPole-v1"),
        ("algo.lr=-1", "algo.lr=-1 is out of range: allowed (0.0, inf]"),
        ("algo.gamma=0", "algo.gamma=0 is out of range: allowed (0.0, 1.0]"),
        ("algo.gae_lambda=1.1", "algo.gae_lambda=1.1 is out of range: allowed [0.0, 1.0]"),
        ("algo.clip_coef=0", "algo.clip_coef=0 is out of range: allowed (0.0, inf]"),
        ("algo.clip_coef=-0.2", "algo.clip_coef=-0.2 is out of range: allowed (0.0, inf]"),
        ("env.num_envs=0", "env.num_envs=0 is out of range: allowed integers in [1, inf]"),
        ("algo.update_epochs=0", "algo.update_epochs=0 is out of range: allowed integers in [1, inf]"),
        ("algo.num_steps=2.5", "algo.num_steps=2.5 is not a whole number"),
        ("seed=1.5", "seed=1.5 is not a whole number: allowed integers in [0, 4294967295]"),
        ("seed=-1", "seed=-1 is out of range: allowed integers in [0, 4294967295]"),
        ("torch_threads=0", "torch_threads=0 is out of range: allowed integers in [1, inf] or null"),
        (
            "keep_freed_memory=sometimes",
            "keep_freed_memory='sometimes' is not a boolean: allowed true or false",
        ),
        ("total_env_steps=1.5", "total_env_steps=1.5 is not a whole number: allowed integers in [1, inf]"),
        (
            "env.max_episode_steps=0",
            "env.max_episode_steps=0 is out of range: allowed integers in [1, inf] or null",
        ),
        ("+env.kwargs.foo=1", "env.id='CartPole-v1' with env.kwargs={'foo': 1} cannot be made: TypeError"),
        ("trainer.strategy=bogus", "trainer: ValueError: You selected an invalid strategy name"),
    ],
)
def test_bad_hyperparameters_name_the_key(make_cfg, override, message):
    with pytest.raises(ConfigError) as info:
        preflight(make_cfg(override))
    assert message in str(info.value)


def test_whole_number_floats_are_integers_and_other_floats_stay(make_cfg):
    cfg, _ = preflight(
        make_cfg(
            "total_env_steps=1e6",
            "algo.num_steps=1.28e2",
            "env.num_envs=8.0",
            "seed=3.0",
            "callbacks.evaluation.every_env_steps=5e4",
            "algo.lr=1e-3",
        )
    )
    values = (
        cfg.total_env_steps,
        cfg.algo.num_steps,
        cfg.env.num_envs,
        cfg.seed,
        cfg.callbacks.evaluation.every_env_steps,
    )
    assert values == (1_000_000, 128, 8, 3, 50_000)
    assert all(type(value) is int for value in values)
    assert cfg.algo.lr == 1e-3 and type(cfg.algo.lr) is float


def test_cnn_refuses_normalized_pixels_and_accepts_raw_ones(make_cfg):
    # The Nature CNN divides by 255 itself; running-normalized pixels would be scaled twice.
    for normalize, error in ((True, "set env.normalize_obs=false"), (False, None)):
        cfg = make_cfg("env=pixelcopter_pixels", f"env.normalize_obs={normalize}")
        collector = RolloutCollector(instantiate(cfg.env)(num_envs=2, vectorization="sync"), seed=0)
        try:
            build = functools.partial(
                instantiate(cfg.algo),
                network=instantiate(cfg.network),
                collector=collector,
                total_env_steps=10**5,
            )
            if error:
                with pytest.raises(ConfigError, match=error):
                    build()
            else:
                assert sum(p.numel() for p in build().policy.parameters()) > 10**5  # conv layers included
        finally:
            collector.close()


def test_a_checkpoint_from_another_env_or_network_names_what_differs(make_cfg, tmp_path):
    run(make_cfg("debug=smoke", "logger=none", output_dir=tmp_path / "cartpole"))
    ckpt = tmp_path / "cartpole" / "checkpoints" / "last.ckpt"
    with pytest.raises(ConfigError) as info:
        run(
            make_cfg(
                "debug=smoke",
                "env=acrobot",
                "network.hidden_sizes=[32]",
                f"ckpt_path={ckpt}",
                output_dir=tmp_path / "acrobot",
            )
        )
    assert str(info.value) == (
        f"ckpt_path={ckpt} comes from an incompatible config: env.id: checkpoint 'CartPole-v1', "
        "this run 'Acrobot-v1'; network.hidden_sizes: checkpoint [16], this run [32]"
    )


def test_a_crafted_checkpoint_is_refused_without_running_its_code(make_cfg, tmp_path):
    marker = tmp_path / "code-ran"
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "collector": RunsCode(marker)}, evil)
    with pytest.raises(ConfigError) as info:
        run(make_cfg("debug=smoke", f"ckpt_path={evil}", output_dir=tmp_path / "run"))
    assert str(info.value).startswith(
        f"ckpt_path={evil} cannot be loaded: it holds Python objects (io.open) that pglab does not unpickle"
    )
    assert not marker.exists()
