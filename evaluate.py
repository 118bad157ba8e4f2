"""pglab evaluation entry point: `python evaluate.py ckpt_path=<run>/checkpoints/last.ckpt [episodes=10 video=true]`.

Also `push_to_hub=ORG/NAME` (share the checkpoint's agent on the Hugging Face Hub) and `from_hub=ORG/NAME|DIR`
(evaluate a shared agent); see conf/evaluate.yaml.

Exit codes: 0 done; 2 a bad argument, checkpoint or Hub folder (one `[ERROR]` line on stderr says which and why); 1
a file could not be written, or the Hub could not be reached or refused the upload or download (one `[ERROR]` line
names it and the cause), or Hydra refused the command line.
"""

import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from pglab.errors import ConfigError, HubError, StorageError
from pglab.overrides import unknown_key_message

log = logging.getLogger("pglab")


def fail(error: Exception, code: int) -> None:
    """One `[ERROR]` line on stderr (the format of the log's lines, which go to stdout), and exit with `code`."""
    print(f"[ERROR] {error}", file=sys.stderr, flush=True)
    sys.exit(code)


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
def main(cfg: DictConfig) -> float:
    from pglab.evaluate import run  # imported here so `--help` stays fast

    try:
        result = run(cfg)
    except ConfigError as error:
        fail(error, 2)
    except (StorageError, HubError) as error:
        fail(error, 1)
    return result["episode_return_mean"]


if __name__ == "__main__":
    # An unknown key, before Hydra reports it in several lines: one line listing the keys there are.
    if message := unknown_key_message(sys.argv[1:], Path(__file__).resolve().parent / "conf", "evaluate"):
        print(f"[pglab][ERROR] - {message}", file=sys.stderr)
        sys.exit(2)
    main()
