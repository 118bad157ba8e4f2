"""The one exception type pglab raises for bad input, printed without a traceback by `train.py`."""


class ConfigError(ValueError):
    """A configuration or input problem the user can fix; the message names the key and what is allowed."""
