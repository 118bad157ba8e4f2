"""Shared fixtures: compose the real Hydra config (as lightning-hydra-template's tests do) and shrink it."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

import pglab.run_dir  # noqa: F401  (registers the run-dir resolvers of conf/hydra/default.yaml)
import tests.fakes  # noqa: F401  (registers the fake envs)
from pglab.algos import register_configs

register_configs()  # the algorithms' defaults, which conf/algo/*.yaml inherit

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
#: the algorithm options, as a user finds them (a new algorithm is a new YAML option; no list to extend)
ALGOS = sorted(p.stem for p in (CONF / "algo").glob("*.yaml"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The `slow` tests (the learning runs, up to a minute each) first: with `pytest -n 2` they start while the
    short ones fill the other worker, instead of one of them running alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def compose_config(overrides: list[str], output_dir: Path) -> DictConfig:
    """The composed training config, with its run dir set to `output_dir`."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        cfg.callbacks.progress.refresh_every_env_steps = 10**9
        del cfg.hydra  # as in a real run: the task function gets the config without the hydra node
    return cfg


@pytest.fixture
def make_cfg(tmp_path):
    def _make(*overrides: str, output_dir: Path | None = None) -> DictConfig:
        return compose_config(list(overrides), output_dir or tmp_path)

    yield _make
    GlobalHydra.instance().clear()
