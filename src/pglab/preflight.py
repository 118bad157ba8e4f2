"""Check a run's whole config before anything is written and before any env process starts.

`preflight(cfg)` is called twice: by `pglab.run_dir.RunDirGuard` before Hydra writes its `.hydra/` record and
`train.log` into the run dir (so a rejected command leaves no run dir behind), and by `pglab.train.run` for
every run and sweep job (a sweep records a rejected job as failed and goes on). It writes nothing and starts
no process: the env's spaces come from one sub-env made in this process (`env_spaces`), and the network, the
algorithm, the callbacks and the loggers are constructed once, by their own constructors and so with their
own checks, over a stand-in for the rollout collector, then dropped. It sets torch's thread count to
`torch_threads` (when set), as the run does.
"""

import copy
import dataclasses
import inspect
import types
import typing
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import torch
from hydra.errors import InstantiationException
from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from pglab import allocator
from pglab.checks import check_choice, check_range, is_whole_number
from pglab.console import quiet_libraries
from pglab.errors import ConfigError, find_error
from pglab.hyperparameters import unknown_hyperparameter
from pglab.resume import check_compatible, load_checkpoint, resume_config

#: seeds go to numpy's legacy generator and Lightning's `seed_everything`, which take [0, 2**32 - 1]
MAX_SEED = 2**32 - 1
#: what `on_nonfinite` may be (see conf/train.yaml)
ON_NONFINITE = ("stop", "skip")
#: run-level keys that are whole numbers (the config sections' integer keys come from their targets' signatures)
RUN_INTEGER_KEYS = ("seed", "total_env_steps", "torch_threads")

NO_GPU_MESSAGE = (
    "accelerator=gpu was requested but PyTorch sees no CUDA GPU on this machine "
    "(torch.cuda.is_available() is False). Run with accelerator=cpu, or install a CUDA build of torch on a "
    "machine with an NVIDIA GPU and its driver."
)


@dataclass
class SpacesOnly:
    """What an algorithm's constructor reads from its `RolloutCollector`: the spaces and the number of envs."""

    observation_space: gym.Space
    action_space: gym.Space
    num_envs: int


def preflight(cfg: DictConfig, overrides: list[str] = ()) -> tuple[DictConfig, dict[str, Any] | None]:
    """The run's config, checked: with `resume=<run dir>` that run's config plus `overrides`, whole-number floats
    (`total_env_steps=1e6`) as ints, every value in range; and the checkpoint it starts from (None if none).

    Raises ConfigError naming the key and what is allowed, before anything is written.
    """
    quiet_libraries()
    if cfg.get("resume"):
        cfg = resume_config(cfg, list(overrides))
    missing = sorted(key for key in OmegaConf.missing_keys(cfg) if not key.startswith("hydra."))
    if missing:  # `???` in a config: a value with no default, e.g. env.id of env=gym
        raise ConfigError(
            f"{missing[0]} must be set: it has no default (e.g. env=gym env.id=CartPole-v1)"
            if missing[0] == "env.id"
            else f"{', '.join(missing)} must be set: no default"
        )
    cfg = with_whole_numbers(cfg)
    check_run_keys(cfg)
    if cfg.torch_threads:
        # The checks below build the network at the run's thread count, as the run does: two processes at two
        # threads each on a 2-core machine made a 64x64 orthogonal init 25 ms instead of 0.15 ms (OpenMP's
        # oversubscribed threads), a second or more of a sweep process's start.
        torch.set_num_threads(cfg.torch_threads)
    checkpoint = None
    if cfg.ckpt_path:
        key = "resume" if cfg.get("resume") else "ckpt_path"
        checkpoint = load_checkpoint(cfg.ckpt_path, key)
        check_compatible(checkpoint, cfg, key)
    try:
        check_components(cfg)
    except Exception as error:
        found = find_error(error, ConfigError)  # Hydra's instantiate wraps the constructors' errors
        if found is None or found is error:
            raise
        raise found from None
    return cfg, checkpoint


def check_run_keys(cfg: DictConfig) -> None:
    check_range("seed", cfg.seed, 0, MAX_SEED, integer=True)
    check_range("total_env_steps", cfg.total_env_steps, 1, integer=True)
    # 0 would mean "all cores" to torch: on a loaded 2-core machine that ran 30x slower; null says it openly.
    check_range("torch_threads", cfg.torch_threads, 1, integer=True, allow_none=True)
    check_choice("on_nonfinite", cfg.on_nonfinite, ON_NONFINITE)
    keep = allocator.configured(cfg)
    if not isinstance(keep, bool):
        raise ConfigError(f"keep_freed_memory={keep!r} is not a boolean: allowed true or false")
    if cfg.trainer.get("accelerator") in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(NO_GPU_MESSAGE)


def check_components(cfg: DictConfig) -> None:
    """Construct the network, the algorithm, the callbacks and the loggers as `pglab.train` does, over the env's
    spaces (one sub-env in this process), and drop them."""
    from pglab.envs.factory import check_env_args, env_spaces

    env = cfg.env
    check_env_args(
        env.id,
        env.get("num_envs", 1),
        env.get("vectorization", "sync"),
        env.get("max_episode_steps"),
        env.get("frame_stack", 1),
        atari_preprocessing=env.get("atari_preprocessing", False),
        clip_reward=env.get("clip_reward", False),
    )
    try:
        observation_space, action_space = env_spaces(instantiate(env))
    except ConfigError:
        raise
    except Exception as error:  # noqa: BLE001  (gymnasium.make's own error, e.g. an unknown env.kwargs key)
        kwargs = OmegaConf.to_container(env.kwargs) if env.get("kwargs") else {}
        raise ConfigError(
            f"env.id={env.id!r} with env.kwargs={kwargs} cannot be made: {type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}"
        ) from error
    stand_in = SpacesOnly(observation_space, action_space, int(cfg.env.num_envs))
    instantiate(cfg.algo)(
        network=instantiate(cfg.network), collector=stand_in, total_env_steps=cfg.total_env_steps
    )
    for section in ("callbacks", "logger"):
        for name, node in (cfg.get(section) or {}).items():
            try:
                instantiate(node)
            except InstantiationException as error:
                cause = find_error(error, ConfigError) or error.__cause__ or error
                if isinstance(cause, ConfigError):
                    raise cause from None
                raise ConfigError(
                    f"{section}.{name}: {type(cause).__name__}: {str(cause).splitlines()[0]}"
                ) from error
    try:
        instantiate(cfg.trainer, logger=False, callbacks=[], enable_progress_bar=False)
    except InstantiationException as error:  # Lightning's own message, e.g. for trainer.strategy=...
        cause = error.__cause__ or error
        raise ConfigError(f"trainer: {type(cause).__name__}: {str(cause).splitlines()[0]}") from error


def with_whole_numbers(cfg: DictConfig) -> DictConfig:
    """`cfg` with each integral float (Hydra reads `1e6` as 1000000.0) turned into an int where an int is
    expected: the run-level `RUN_INTEGER_KEYS` and, in every section with a `_target_`, the arguments its
    target's signature annotates as `int`. Raises ConfigError for a key its target does not take, and for a value
    that is no whole number where only an int will do (`trainer.max_epochs=1.5`)."""
    cfg = copy.deepcopy(cfg)
    with open_dict(cfg):
        for key in RUN_INTEGER_KEYS:
            if isinstance(cfg.get(key), float) and is_whole_number(cfg[key]):
                cfg[key] = int(cfg[key])
        for path, node in _target_nodes(cfg, ""):
            try:
                parameters, open_ended = _arguments(get_object(node._target_))
            except (ImportError, AttributeError, ValueError, TypeError):
                continue  # an unknown target: instantiate names it
            for name in node:
                if str(name).startswith("_") and str(name).endswith("_"):
                    continue  # Hydra's own keys (_target_, _partial_, ...)
                if name not in parameters:
                    if not open_ended:
                        config = getattr(get_object(node._target_), "Config", None)
                        if dataclasses.is_dataclass(config):  # an algorithm: the keys a user can set
                            raise unknown_hyperparameter(config, name, path, owner=node._target_)
                        raise ConfigError(
                            f"{path}.{name} is not an argument of {node._target_}; its arguments: "
                            f"{', '.join(sorted(p for p in parameters if p != 'self'))}"
                        )
                    continue
                annotation = parameters[name].annotation
                if not _expects_int(annotation) or OmegaConf.is_interpolation(node, name):
                    continue
                value = node[name]
                if isinstance(value, float) and is_whole_number(value):
                    node[name] = int(value)
                elif not node._target_.startswith("pglab.") and (
                    isinstance(value, float) or (isinstance(value, str | bool) and _int_only(annotation))
                ):  # pglab's constructors check their values with their ranges; Lightning's Trainer does not
                    check_range(
                        f"{path}.{name}", value, integer=True, allow_none=_int_only(annotation) == "optional"
                    )
    return cfg


def _target_nodes(node: Any, path: str) -> list[tuple[str, DictConfig]]:
    """Every config section with a `_target_` under `node` (at dotted `path`), Hydra's own node left out."""
    if not isinstance(node, DictConfig):
        return []
    found = [(path, node)] if "_target_" in node and isinstance(node._target_, str) else []
    for key in node:
        if key != "hydra" and OmegaConf.is_dict(node._get_node(key)):
            found += _target_nodes(node[key], f"{path}.{key}" if path else str(key))
    return found


def _arguments(target: Any) -> tuple[dict[str, inspect.Parameter], bool]:
    """The named arguments `target` takes (for a class, its `__init__`'s and, where that passes `**kwargs` on,
    its bases'), and whether it also takes any other keyword."""
    if not isinstance(target, type):
        signature = inspect.signature(target)
        named = {
            n: p for n, p in signature.parameters.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        }
        return named, any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values())
    named: dict[str, inspect.Parameter] = {}
    if dataclasses.is_dataclass(
        getattr(target, "Config", None)
    ):  # an algorithm: its hyperparameter declarations
        for name, parameter in inspect.signature(target.__init__).parameters.items():
            if name != "self" and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                named[name] = parameter
        hints = typing.get_type_hints(target.Config)
        for field in dataclasses.fields(target.Config):
            named[field.name] = inspect.Parameter(
                field.name, inspect.Parameter.KEYWORD_ONLY, annotation=hints[field.name]
            )
        return named, False
    for cls in target.__mro__:
        if "__init__" not in vars(cls) or cls is object:
            continue
        parameters = inspect.signature(vars(cls)["__init__"]).parameters
        for name, parameter in parameters.items():
            if name != "self" and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                named.setdefault(name, parameter)
        if not any(p.kind == p.VAR_KEYWORD for p in parameters.values()):
            return named, False
    return named, True


def _int_only(annotation: Any) -> str | None:
    """ "int" or "optional" where `annotation` is `int` or `int | None`; None otherwise."""
    if annotation is int:
        return "int"
    args = set(typing.get_args(annotation))
    if args == {int, type(None)}:
        return "optional"
    return None


def _expects_int(annotation: Any) -> bool:
    if annotation is int:
        return True
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return int in typing.get_args(annotation) and float not in typing.get_args(annotation)
    return False
