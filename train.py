"""pglab training entry point: `python train.py algo=ppo env=cartpole` (see `python train.py --help`)."""

import logging
import sys

import hydra
from omegaconf import DictConfig

from pglab.errors import ConfigError

log = logging.getLogger("pglab")


def find_config_error(error: BaseException | None) -> ConfigError | None:
    """The ConfigError behind `error`, also when Hydra's instantiate wrapped it."""
    while error is not None:
        if isinstance(error, ConfigError):
            return error
        error = error.__cause__
    return None


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float:
    from pglab.train import run  # imported here so `--help` and config errors stay fast

    try:
        summary = run(cfg)
    except Exception as error:
        config_error = find_config_error(error)
        if config_error is None:
            raise
        log.error("%s", config_error)
        sys.exit(2)
    return summary.get("eval/episode_return_mean", float("nan"))


if __name__ == "__main__":
    main()
