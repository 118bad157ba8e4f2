"""pglab evaluation entry point: `python evaluate.py ckpt_path=<run>/checkpoints/last.ckpt [episodes=10 video=true]`.

Exit codes: 0 done; 2 a bad argument or checkpoint (one `[ERROR]` line says which and why).
"""

import logging
import sys

import hydra
from omegaconf import DictConfig

from pglab.errors import ConfigError

log = logging.getLogger("pglab")


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
def main(cfg: DictConfig) -> float:
    from pglab.evaluate import run  # imported here so `--help` stays fast

    try:
        result = run(cfg)
    except ConfigError as error:
        log.error("%s", error)
        sys.exit(2)
    return result["episode_return_mean"]


if __name__ == "__main__":
    main()
