"""pglab training entry point: `python train.py algo=ppo env=cartpole` (see `python train.py --help`).

Exit codes: 0 done; 2 a configuration error (one `[ERROR]` line names the key and what is allowed; nothing
written); 1 any other failure (a non-finite loss, a file that could not be written, Hydra's own error for an
unknown group option), or a multirun in which at least one job failed (the sweep summary lists them; the other
jobs still run); 130 / 143 stopped by SIGINT / SIGTERM (after writing last.ckpt once training has started:
continue with `resume=<run dir>`).
"""

import os
import signal
import sys


def _exit_quietly(signum: int, frame: object) -> None:
    os._exit(128 + signum)  # nothing is written before the imports end, so there is nothing to flush or save


# Ctrl-C while the imports run: exit 130 at once. (A KeyboardInterrupt raised inside an import can leave a module
# half-initialized, e.g. numpy's lazy `numpy.dtypes`, and the next import then fails with another error.)
signal.signal(signal.SIGINT, _exit_quietly)
import logging
import math

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

import pglab.run_dir  # noqa: F401  (registers the resolvers of conf/hydra/default.yaml's run dir)
from pglab import sweep_summary
from pglab.algos import register_configs
from pglab.errors import ConfigError, DivergenceError, StorageError, find_error
from pglab.overrides import resume_group_choices, unknown_key_message

register_configs()  # the algorithms' hyperparameter defaults, which conf/algo/*.yaml inherit
signal.signal(signal.SIGINT, signal.default_int_handler)  # from here on, Ctrl-C is a KeyboardInterrupt again

log = logging.getLogger("pglab")


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float:
    """Train one run; returns the final eval return mean (the objective of Optuna sweeps; NaN if it failed)."""
    from pglab.train import run  # imported here so `--help` and config errors stay fast

    hydra_cfg = HydraConfig.get()
    try:
        summary = run(cfg, overrides=list(hydra_cfg.overrides.task))
    except Exception as error:
        config_error = find_error(error, ConfigError)
        run_error = find_error(error, DivergenceError) or find_error(
            error, StorageError
        )  # said in one line too
        if hydra_cfg.mode == RunMode.MULTIRUN:
            # A failed job is recorded in its summary.json (status: failed) and the sweep goes on.
            if config_error is not None or run_error is not None:
                log.error("Job failed: %s", config_error or run_error)
            else:
                log.exception("Job failed")
            if "optuna" in hydra_cfg.sweeper._target_.lower():
                # The Optuna sweeper marks a trial that raised as FAIL (and goes on: max_failure_rate 1.0 in
                # conf/hparams_search/); a NaN return would crash its bookkeeping with optuna 2.10.
                raise
            # Hydra's basic sweeper stops the sweep on a raised error, so report the failure as NaN.
            return math.nan
        if run_error is not None:
            log.error("%s", run_error)
            sys.exit(1)
        if config_error is None:
            raise
        log.error("%s", config_error)
        sys.exit(2)
    if summary.get("status") == "interrupted":  # SIGINT/SIGTERM: checkpoint written; stop (a sweep too)
        sys.exit(128 + signal.Signals[summary["signal"]].value)
    return summary.get("eval/episode_return_mean", math.nan)


def cli() -> None:
    sys.argv[1:1] = resume_group_choices(sys.argv[1:])  # resume=DIR composes with DIR's group choices
    # An unknown key: pglab's one line with the section's keys, instead of Hydra's message of several lines.
    if message := unknown_key_message(sys.argv[1:]):
        print(f"[pglab][ERROR] - {message}", file=sys.stderr)
        sys.exit(2)
    main()
    if sweep_summary.last_sweep_failures:
        sys.exit(1)


if __name__ == "__main__":
    try:
        cli()
    except KeyboardInterrupt:  # Ctrl-C before training started (imports, composition): nothing to save
        sys.exit(130)
