"""Each hyperparameter is declared once (`pglab.hyperparameters`): every key has a meaning and a range, the YAML
options compose to exactly the declared defaults, and the checks and their messages come from the declaration."""

import dataclasses

import pytest
from hydra.utils import get_class

from pglab.errors import ConfigError
from pglab.hyperparameters import Allowed, check_values, describe, specs
from tests.conftest import ALGOS, compose_config


def algorithm(option: str, tmp_path) -> type:
    return get_class(compose_config([f"algo={option}"], tmp_path).algo._target_)


@pytest.mark.parametrize("option", ALGOS)
def test_every_hyperparameter_has_a_meaning_a_range_and_a_default_inside_it(option, tmp_path):
    declared = specs(algorithm(option, tmp_path).Config)
    assert len(declared) >= 6
    for name, spec in declared.items():
        assert len(spec.meaning) >= 10, name
        allowed = spec.allowed
        if allowed.kind in (int, float):  # a number has at least one bound
            assert allowed.low is not None or allowed.high is not None, name
        if allowed.kind is str:
            assert allowed.choices and spec.default in allowed.choices, name
        assert allowed.check(f"algo.{name}", spec.default) == spec.default, name


@pytest.mark.parametrize("option", ALGOS)
def test_a_yaml_option_composes_to_the_declared_defaults(option, tmp_path):
    node = dict(compose_config([f"algo={option}"], tmp_path).algo)
    cls = get_class(node.pop("_target_"))
    assert node.pop("_partial_") is True
    assert node == {name: spec.default for name, spec in specs(cls.Config).items()}


def out_of_range_values(allowed: Allowed) -> list:
    values = ["abc"] if allowed.kind is not str else ["none-of-them"]
    if allowed.kind in (int, float):
        if allowed.low is not None:
            values.append(allowed.low if allowed.low_open else allowed.low - 1)
        if allowed.high is not None:
            values.append(allowed.high + 1)
        if allowed.kind is int:
            values.append(1.5)
    if allowed.kind is bool:
        values.append(1)
    if not allowed.nullable:
        values.append(None)
    return values


@pytest.mark.parametrize("option", ALGOS)
def test_every_refused_value_is_named_with_its_declared_allowed_values(option, tmp_path):
    config_class = algorithm(option, tmp_path).Config
    for name, spec in specs(config_class).items():
        for value in out_of_range_values(spec.allowed):
            with pytest.raises(ConfigError) as info:
                check_values(config_class, {name: value})
            message = str(info.value)
            assert message.startswith(f"algo.{name}=") and message.endswith(spec.allowed.describe()), message


def test_an_integral_float_becomes_an_int_and_an_unknown_key_lists_the_declared_ones(tmp_path):
    config_class = algorithm("ppo", tmp_path).Config
    config = check_values(config_class, {"num_steps": 64.0, "lr": 1})
    assert config.num_steps == 64 and isinstance(config.num_steps, int) and config.lr == 1
    with pytest.raises(
        ConfigError, match=r"^algo.lrr is not a hyperparameter of PPOConfig; its hyperparameters: "
    ):
        check_values(config_class, {"lrr": 1e-3})


def test_allowed_values_in_words():
    assert Allowed(float, 0.0, 1.0, low_open=True).describe() == "(0.0, 1.0]"
    assert Allowed(int, 1).describe() == "integers in [1, inf]"
    assert Allowed(float, 0.0, low_open=True, nullable=True).describe() == "(0.0, inf] or null"
    assert Allowed(str, choices=("gae", "reward_to_go")).describe() == "one of ['gae', 'reward_to_go']"
    assert Allowed(bool).describe() == "true or false"


def test_help_lines_show_value_meaning_and_allowed(tmp_path):
    config_class = algorithm("a2c", tmp_path).Config
    lines = describe(config_class, {"lr": 0.01}).splitlines()
    fields = [f.name for f in dataclasses.fields(config_class)]
    assert len(lines) == len(fields)
    lr = next(line for line in lines if line.strip().startswith("algo.lr="))
    assert lr.split()[0] == "algo.lr=0.01" and lr.endswith("; allowed (0.0, inf]")
    optimizer = next(line for line in lines if line.strip().startswith("algo.optimizer="))
    assert optimizer.endswith("allowed one of ['rmsprop', 'adam']")
