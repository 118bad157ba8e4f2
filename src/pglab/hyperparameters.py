"""One declaration per hyperparameter: its default, its one-line meaning and its allowed values.

An algorithm declares its hyperparameters as a dataclass (CleanRL's `Args`, one field per key), each field made by
`hyperparameter(default, meaning, ...)`:

    @dataclass
    class PPOConfig(PolicyGradientConfig):
        clip_coef: float = hyperparameter(0.2, "surrogate clipping epsilon", low=0.0, low_open=True)

Everything else reads that declaration: the Hydra config (`register_algorithm` stores the defaults in Hydra's
ConfigStore; a YAML option under `conf/algo/` inherits them and only overrides values), the range checks and their
error messages (`check_values`), the unknown-key message, and `python train.py --help` (`describe`). The allowed
values come from the field's type (`int`, `float`, `bool`, `str`, or `X | None` for "or null") and its range or
choices.

This module imports neither torch nor Lightning.
"""

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any

from pglab.checks import check_choice, check_range, is_whole_number
from pglab.errors import ConfigError


@dataclass(frozen=True)
class Allowed:
    """What a hyperparameter may be: a number in (low, high] or [low, high], one of `choices`, a boolean; or null."""

    kind: type  # int, float, bool or str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple[str, ...] | None = None
    nullable: bool = False

    def check(self, name: str, value: Any) -> Any:
        """`value` as the hyperparameter takes it (an integral float becomes an int where an int is expected);
        ConfigError naming `name` and what is allowed if it is not allowed."""
        if value is None and self.nullable:
            return None
        if self.kind is bool:
            if not isinstance(value, bool):
                raise ConfigError(f"{name}={value!r} is not a boolean: allowed {self.describe()}")
            return value
        if self.kind is str:
            check_choice(name, value, self.choices)
            return value
        check_range(name, value, self.low, self.high, self.low_open, self.nullable, integer=self.kind is int)
        return int(value) if self.kind is int and is_whole_number(value) else value

    def describe(self) -> str:
        """The allowed values in words, e.g. `integers in [1, inf]`, `(0.0, 1.0]`, `one of ['gae', ...]`."""
        null = " or null" if self.nullable else ""
        if self.kind is bool:
            return f"true or false{null}"
        if self.kind is str:
            return f"one of {list(self.choices)}{null}"
        left = "(" if self.low_open else "["
        low = "-inf" if self.low is None else float(self.low) if self.kind is float else self.low
        high = "inf" if self.high is None else float(self.high) if self.kind is float else self.high
        return f"{'integers in ' if self.kind is int else ''}{left}{low}, {high}]{null}"


def hyperparameter(
    default: Any,
    meaning: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    choices: tuple[str, ...] | None = None,
) -> Any:
    """A dataclass field: `default`, its one-line `meaning`, and its range (`low`, `high`, `low_open`: numbers) or
    `choices` (strings). The kind of value and whether null is allowed come from the field's type annotation."""
    return dataclasses.field(
        default=default,
        metadata={"meaning": meaning, "low": low, "high": high, "low_open": low_open, "choices": choices},
    )


@dataclass
class HyperparameterSpec:
    name: str
    default: Any
    meaning: str
    allowed: Allowed


def specs(config_class: type) -> dict[str, HyperparameterSpec]:
    """Every hyperparameter of a config dataclass, in declaration order."""
    hints = typing.get_type_hints(config_class)
    found = {}
    for field in dataclasses.fields(config_class):
        annotation = hints[field.name]
        args = set(typing.get_args(annotation))
        union = isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union
        nullable = union and type(None) in args
        kind = next(iter(args - {type(None)})) if union else annotation
        if kind not in (int, float, bool, str) or (union and len(args - {type(None)}) != 1):
            raise TypeError(
                f"{config_class.__name__}.{field.name}: type {annotation} is not int, float, bool or str"
            )
        meta = field.metadata
        if "meaning" not in meta:
            raise TypeError(f"{config_class.__name__}.{field.name} is not declared with hyperparameter(...)")
        if kind is str and not meta["choices"]:
            raise TypeError(f"{config_class.__name__}.{field.name}: a str hyperparameter needs its choices")
        allowed = Allowed(kind, meta["low"], meta["high"], meta["low_open"], meta["choices"], nullable)
        found[field.name] = HyperparameterSpec(field.name, field.default, meta["meaning"], allowed)
    return found


def check_values(config_class: type, values: dict[str, Any], prefix: str = "algo") -> Any:
    """An instance of `config_class` from `values` (missing keys take their defaults), every value checked against
    its declaration. ConfigError naming the key (`<prefix>.<key>`) and what is allowed, for an unknown key too."""
    declared = specs(config_class)
    for name in values:
        if name not in declared:
            raise unknown_hyperparameter(config_class, name, prefix)
    checked = {
        name: spec.allowed.check(f"{prefix}.{name}", values[name])
        for name, spec in declared.items()
        if name in values
    }
    return config_class(**checked)


def unknown_hyperparameter(
    config_class: type, name: str, prefix: str = "algo", owner: str | None = None
) -> ConfigError:
    """The error for `<prefix>.<name>`, a key `config_class` does not declare: it lists the declared keys. `owner`
    names whose hyperparameters they are (default: the config class)."""
    keys = ", ".join(sorted(field.name for field in dataclasses.fields(config_class)))
    return ConfigError(
        f"{prefix}.{name} is not a hyperparameter of {owner or config_class.__name__}; its hyperparameters: {keys}"
    )


def describe(config_class: type, values: dict[str, Any] | None = None, prefix: str = "algo") -> str:
    """One line per hyperparameter: `<prefix>.<key>=<value>  <meaning>; allowed <values>` (the current value from
    `values`, else the default)."""
    values = values or {}
    rows = []
    for name, spec in specs(config_class).items():
        value = values.get(name, spec.default)
        shown = "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        rows.append((f"{prefix}.{name}={shown}", f"{spec.meaning}; allowed {spec.allowed.describe()}"))
    width = max(len(key) for key, _ in rows)
    return "\n".join(f"  {key:<{width}}  {text}" for key, text in rows)


def defaults_name(option: str) -> str:
    """The ConfigStore name of an algorithm option's defaults, which `conf/algo/<option>.yaml` inherits."""
    return f"{option}_defaults"


def register_algorithm(algorithm: type, option: str) -> None:
    """Store the defaults of `algorithm.Config` in Hydra's ConfigStore as `<option>_defaults`, with the `_target_`
    naming `algorithm` and `_partial_: true` (train.py passes the network, the collector and the budget). A YAML
    option inherits them with `defaults: [/<option>_defaults@_here_, _self_]` and overrides only values."""
    from hydra.core.config_store import ConfigStore

    node = {"_target_": f"{algorithm.__module__}.{algorithm.__qualname__}", "_partial_": True}
    node |= {name: spec.default for name, spec in specs(algorithm.Config).items()}
    ConfigStore.instance().store(name=defaults_name(option), node=node)


def redefault(config_class: type, name: str, default: Any) -> Any:
    """The field `name` of `config_class` (its meaning and range) with another default, for a subclass:
    `gamma: float = redefault(PolicyGradientConfig, "gamma", 0.98)`."""
    field = next(f for f in dataclasses.fields(config_class) if f.name == name)
    return dataclasses.field(default=default, metadata=field.metadata)


def help_text(algo: Any) -> str:
    """`python train.py --help`'s section on the chosen algorithm (the composed `algo` node): each hyperparameter's
    value, meaning and allowed values, from its declaration."""
    from hydra.utils import get_class
    from omegaconf import OmegaConf

    values = OmegaConf.to_container(algo, resolve=True)
    target = values.pop("_target_")
    algorithm = get_class(target)
    title = f"{algorithm.__name__} ({target}; declared in {algorithm.Config.__module__}.{algorithm.Config.__name__})"
    return f"{title}\n{describe(algorithm.Config, values)}"


def register_help_resolver() -> None:
    """`${pglab_hyperparameters:${algo}}` in conf/hydra/default.yaml's help template."""
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("pglab_hyperparameters"):
        OmegaConf.register_new_resolver("pglab_hyperparameters", help_text)
