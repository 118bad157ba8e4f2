"""Range checks of config values, raising a `ConfigError` that names the key and what is allowed."""

import math

from pglab.errors import ConfigError


def is_whole_number(value: object) -> bool:
    """An int, or a float with an integral value (`1e6`, which Hydra parses as the float 1000000.0); not a bool."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def check_range(
    name: str,
    value: float | None,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    allow_none: bool = False,
    integer: bool = False,
) -> None:
    """Raise ConfigError naming `name` unless `value` is a number (a whole number if `integer`: an int or an
    integral float such as 1e6) in the interval (low, high] or [low, high]."""
    if value is None and allow_none:
        return
    left = "(" if low_open else "["
    interval = f"{left}{'-inf' if low is None else low}, {'inf' if high is None else high}]"
    if low is None and high is None:
        allowed = f"{'integers' if integer else 'numbers'}{' or null' if allow_none else ''}"
    else:
        allowed = f"{'integers in ' if integer else ''}{interval}{' or null' if allow_none else ''}"
    if not isinstance(value, int | float) or isinstance(value, bool):
        shown = "null" if value is None else repr(value)
        raise ConfigError(f"{name}={shown} is not a number: allowed {allowed}")
    if integer and not is_whole_number(value):
        raise ConfigError(f"{name}={value} is not a whole number: allowed {allowed}")
    ok = not (isinstance(value, float) and math.isnan(value))
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        raise ConfigError(f"{name}={value} is out of range: allowed {allowed}")


def check_choice(name: str, value: object, choices: tuple | list) -> None:
    """Raise ConfigError naming `name` unless `value` is one of `choices`."""
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is not supported; choose one of {list(choices)}")
