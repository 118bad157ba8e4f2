"""pglab evaluation entry point: `python evaluate.py ckpt_path=<run>/checkpoints/last.ckpt [episodes=10 video=true]`.

Exit codes: 0 done; 2 a bad argument or checkpoint (one `[ERROR]` line says which and why); 1 the results file
could not be written (one `[ERROR]` line names it and the cause), or Hydra refused the command line.
"""

import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from pglab.errors import ConfigError, StorageError
from pglab.overrides import unknown_key_message

log = logging.getLogger("pglab")


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
def main(cfg: DictConfig) -> float:
    from pglab.evaluate import run  # imported here so `--help` stays fast

    try:
        result = run(cfg)
    except ConfigError as error:
        log.error("%s", error)
        sys.exit(2)
    except StorageError as error:
        log.error("%s", error)
        sys.exit(1)
    return result["episode_return_mean"]


if __name__ == "__main__":
    # An unknown key, before Hydra reports it in several lines: one line listing the keys there are. ckpt_path
    # is left out of the check: unknown_key_message's `key in section` is False for a mandatory (???) value.
    args = [arg for arg in sys.argv[1:] if not arg.startswith("ckpt_path=")]
    if message := unknown_key_message(args, Path(__file__).resolve().parent / "conf", "evaluate"):
        print(f"[pglab][ERROR] - {message}", file=sys.stderr)
        sys.exit(2)
    main()
