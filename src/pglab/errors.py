"""The exceptions pglab raises for problems a user can act on; `train.py` prints them as one paragraph,
without a traceback."""


class ConfigError(ValueError):
    """A configuration or input problem the user can fix; the message names the key and what is allowed."""


class DivergenceError(RuntimeError):
    """Training produced a non-finite loss or gradient; the message names the env step, the metric and the last
    good checkpoint."""


def find_error(error: BaseException | None, kind: type[Exception]) -> Exception | None:
    """The `kind` error behind `error` (itself or a cause), also when Hydra's instantiate wrapped it; None if none."""
    while error is not None:
        if isinstance(error, kind):
            return error
        error = error.__cause__
    return None


class StorageError(OSError):
    """A file of the run could not be written (disk full, read-only, no permission); the message names the path and
    the cause, and says what was kept."""
