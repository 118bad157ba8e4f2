"""What a run prints: pglab's own lines, the progress bar and the summary line, each once.

Lightning adds its own console handler to its loggers when it is imported before logging is set up (Hydra sets
it up first, then `train.py` imports Lightning), so its lines appeared twice, once through Hydra's handlers; and
at INFO it prints what no pglab user can act on ("GPU available: False", "TPU available", an advertisement for
its `litlogger` package). `quiet_libraries` routes Lightning's loggers through the root handlers only, at
WARNING, and drops one deprecation warning Lightning itself triggers (its `_pytree` helper tests
`isinstance(treespec, LeafSpec)` on torch 2.13) that says nothing about the user's code. A record that cannot
be written (train.log on a full disk) is dropped without Python's own traceback per record. The evaluations' lines
go to train.log only.
"""

import logging
import warnings

import lightning.pytorch  # noqa: F401  (imported first: its import sets its loggers' level, which this then lowers)

LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric")
#: one line per evaluation, written to the log files only (train.log), so the progress bar stays on one line
EVALUATIONS_LOGGER = "pglab.evaluations"


def quiet_libraries() -> None:
    # A log line that cannot be written (train.log on a full disk) is dropped instead of printing a 36-line
    # "--- Logging error ---" traceback for every record; the error that stops the run is still said on the console.
    logging.raiseExceptions = False
    for name in LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True
        logger.setLevel(logging.WARNING)
    warnings.filterwarnings(
        "ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated", module="lightning"
    )
    log_evaluations_to_files_only()


def log_evaluations_to_files_only() -> None:
    """Route `EVALUATIONS_LOGGER` to the root logger's file handlers (Hydra's train.log) and nowhere else; with a
    logging setup without files (`hydra/job_logging=stdout`) its lines are dropped."""
    logger = logging.getLogger(EVALUATIONS_LOGGER)
    logger.handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]
    logger.setLevel(logging.INFO)
    logger.propagate = False
