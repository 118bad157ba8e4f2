"""The exceptions pglab raises for problems a user can act on; `train.py` prints them as one paragraph,
without a traceback."""


class ConfigError(ValueError):
    """A configuration or input problem the user can fix; the message names the key and what is allowed."""


class DivergenceError(RuntimeError):
    """Training produced a non-finite loss, gradient or weight; the message names the env step, the metric and the
    last good checkpoint (`kept`: its path and env step, set by the checkpoint callback that wrote it)."""

    def __init__(self, metric: str, value: float, env_steps: int):
        super().__init__(metric, value, env_steps)
        self.metric, self.value, self.env_steps = metric, value, env_steps
        self.kept: tuple[object, int] | None = None

    def __str__(self) -> str:
        kept = (
            f"the last good checkpoint, {self.kept[0]} at {self.kept[1]:,} env steps, is kept"
            if self.kept
            else "no checkpoint was written before it"
        )
        return (
            f"non-finite {self.metric} ({self.value}) in the update after {self.env_steps:,} env steps; training "
            f"stopped and {kept}. Lower algo.lr, check the env's rewards and observations, or set "
            "on_nonfinite=skip to skip such updates"
        )


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


class HubError(RuntimeError):
    """The Hugging Face Hub could not be reached or refused a request (`evaluate.py push_to_hub=` / `from_hub=`);
    the message names the repo, the endpoint and the cause, and says what was kept locally."""
