"""Snapshots of a vector env's exact mid-episode state, so a resumed run continues the same episodes.

Gymnasium has no API to save and restore an env's state, so pglab snapshots the envs whose state it can
reach and rebuild exactly, as numbers and tensors only (checkpoints load with `torch.load(weights_only=True)`):

- the vector env must be a `SyncVectorEnv` (an `AsyncVectorEnv` keeps its sub-envs in other processes);
- every sub-env's core must be a gymnasium classic-control env (CartPole, Acrobot, MountainCar, Pendulum:
  their whole state is plain numeric attributes), a MuJoCo env (MuJoCo's full integration state, through
  `mj_getState` / `mj_setState`, so the simulation continues bit for bit), or an env with `snapshot()` /
  `restore(state)` methods (pglab's PixelCopter);
- with each core go its random generator and the plain numeric attributes of every wrapper (time-limit
  counters, episode-statistics accumulators, the reward scaler's running discounted return, the vector
  env's step buffers). Attributes that are settings rather than state (`CONFIG_ATTRIBUTES`: the time limit,
  the reward scaler's discount, ...) are not restored: they come from this run's config.

Other envs (Box2D's LunarLander, whose physics world cannot be rebuilt; Atari, whose emulator lives behind
ale-py; async vector envs) get `None`: a resumed run then starts new episodes, reset with seeds derived from
the run seed and the env-step count (see `RolloutCollector.load_state_dict`). That is the only difference
from an uninterrupted run.
"""

from typing import Any

import numpy as np
import torch
from gymnasium import Env, Wrapper
from gymnasium.vector import SyncVectorEnv, VectorEnv, VectorWrapper

from pglab.errors import ConfigError

#: attributes never captured: clocks (wall time is not part of the env's state) and object references
SKIPPED = ("episode_start_times",)
CLASSIC_CONTROL = "gymnasium.envs.classic_control."
#: wrapper and vector-env attributes set from the config, not changed by stepping: a resume keeps its own
CONFIG_ATTRIBUTES = frozenset(
    {
        "_max_episode_steps",
        "gamma",
        "epsilon",
        "min_reward",
        "max_reward",
        "num_envs",
        "buffer_length",
        "stats_key",
        "render_fps",
        "noop_max",
        "frame_skip",
        "screen_size",
        "stack_size",
        "clip",
        "copy",
    }
)


def _plain(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | float | np.number | np.bool_):
        return True
    return isinstance(value, np.ndarray) and (value.dtype.kind in "biuf")


def _numeric_attributes(obj: Any) -> dict[str, Any]:
    """`obj`'s attributes that are numbers, numeric arrays (as tensors) or None."""
    state = {}
    for name, value in vars(obj).items():
        if name.startswith("__") or name in SKIPPED or not _plain(value):
            continue
        if isinstance(value, np.ndarray):
            state[name] = torch.from_numpy(value.copy())
        elif isinstance(value, np.number | np.bool_):
            state[name] = value.item()
        else:
            state[name] = value
    return state


def _set_numeric_attributes(obj: Any, state: dict[str, Any], skip: frozenset[str] = frozenset()) -> None:
    for name, value in state.items():
        if name not in skip:
            setattr(obj, name, value.numpy().copy() if isinstance(value, torch.Tensor) else value)


def _core_kind(core: Env) -> str | None:
    """How pglab captures an unwrapped env's state ("snapshot", "attributes", "mujoco"), or None: it cannot."""
    if hasattr(core, "snapshot") and hasattr(core, "restore"):
        return "snapshot"
    if type(core).__module__.startswith(CLASSIC_CONTROL):
        return "attributes"
    if hasattr(core, "model") and hasattr(core, "data") and hasattr(core.data, "qpos"):  # MuJoCo
        return "mujoco"
    return None


def _core_state(core: Env) -> dict[str, Any] | None:
    """The exact state of an unwrapped env, or None when pglab cannot rebuild it."""
    kind = _core_kind(core)
    if kind == "snapshot":
        state = {"kind": "snapshot", "state": core.snapshot()}
    elif kind == "attributes":
        state = {"kind": "attributes", "state": _numeric_attributes(core)}
    elif kind == "mujoco":
        state = {"kind": "mujoco", "state": _numeric_attributes(core), "physics": _mujoco_state(core)}
    else:
        return None
    generator = core.np_random.bit_generator
    state["rng"] = {"kind": type(generator).__name__, "state": generator.state}
    return state


def _restore_core(core: Env, state: dict[str, Any]) -> None:
    if state["kind"] == "snapshot":
        core.restore(state["state"])
    else:
        _set_numeric_attributes(core, state["state"])
        if state["kind"] == "mujoco":
            _set_mujoco_state(core, state["physics"])
    generator = getattr(np.random, state["rng"]["kind"])()
    generator.state = state["rng"]["state"]
    seed = getattr(core, "_np_random_seed", None)
    core.np_random = np.random.Generator(generator)
    if seed is not None:  # gymnasium's setter marks the seed unknown (-1); it is the one restored
        core._np_random_seed = seed


def _mujoco_state(core: Env) -> torch.Tensor:
    """MuJoCo's integration state (time, positions, velocities, actuator activations, warm start, controls...)."""
    import mujoco

    spec = mujoco.mjtState.mjSTATE_INTEGRATION
    state = np.empty(mujoco.mj_stateSize(core.model, spec))
    mujoco.mj_getState(core.model, core.data, state, spec)
    return torch.from_numpy(state)


def _set_mujoco_state(core: Env, state: torch.Tensor) -> None:
    import mujoco

    mujoco.mj_setState(core.model, core.data, state.numpy().copy(), mujoco.mjtState.mjSTATE_INTEGRATION)
    mujoco.mj_forward(
        core.model, core.data
    )  # derived quantities (positions of bodies, sensors) from the state


def _wrapper_chain(env: Any, wrapper_type: type) -> tuple[list[Any], Any]:
    """The wrappers of `env`, outermost first, and what they wrap."""
    chain = []
    while isinstance(env, wrapper_type):
        chain.append(env)
        env = env.env
    return chain, env


def can_snapshot(env: VectorEnv) -> bool:
    """Whether `vector_env_state(env)` captures `env`, asked without capturing it (a native env's `snapshot()`
    needs a reset game, and a checkpoint is loaded before the first reset)."""
    vector_wrappers, base = _wrapper_chain(env, VectorWrapper)
    return isinstance(base, SyncVectorEnv) and all(
        _core_kind(_wrapper_chain(sub_env, Wrapper)[1]) is not None for sub_env in base.envs
    )


def vector_env_state(env: VectorEnv) -> dict[str, Any] | None:
    """The exact state of `env` (see the module docstring), or None when it cannot be captured."""
    vector_wrappers, base = _wrapper_chain(env, VectorWrapper)
    if not isinstance(base, SyncVectorEnv):
        return None
    sub_envs = []
    for sub_env in base.envs:
        wrappers, core = _wrapper_chain(sub_env, Wrapper)
        core_state = _core_state(core)
        if core_state is None:
            return None
        sub_envs.append({"wrappers": [_numeric_attributes(w) for w in wrappers], "core": core_state})
    return {
        "vector_wrappers": [_numeric_attributes(w) for w in vector_wrappers],
        "vector_env": _numeric_attributes(base),
        "sub_envs": sub_envs,
    }


def load_vector_env_state(env: VectorEnv, state: dict[str, Any]) -> None:
    """Put `env` (built from the same config) into the state `vector_env_state` captured."""
    vector_wrappers, base = _wrapper_chain(env, VectorWrapper)
    shape = (len(vector_wrappers), len(getattr(base, "envs", ())))
    if shape != (len(state["vector_wrappers"]), len(state["sub_envs"])):
        raise ConfigError(
            f"the checkpoint's env ({len(state['vector_wrappers'])} vector wrappers, "
            f"{len(state['sub_envs'])} sub-envs) is not this run's ({shape[0]} vector wrappers, "
            f"{shape[1]} sub-envs): env.* settings that add wrappers must match the checkpoint's"
        )
    for wrapper, attributes in zip(vector_wrappers, state["vector_wrappers"], strict=True):
        _set_numeric_attributes(wrapper, attributes, CONFIG_ATTRIBUTES)
    _set_numeric_attributes(base, state["vector_env"], CONFIG_ATTRIBUTES)
    for sub_env, sub_state in zip(base.envs, state["sub_envs"], strict=True):
        wrappers, core = _wrapper_chain(sub_env, Wrapper)
        if len(wrappers) != len(sub_state["wrappers"]):
            raise ConfigError(
                "the checkpoint's sub-envs have other wrappers than this run's: env.* settings that "
                "add wrappers must match the checkpoint's"
            )
        for wrapper, attributes in zip(wrappers, sub_state["wrappers"], strict=True):
            _set_numeric_attributes(wrapper, attributes, CONFIG_ATTRIBUTES)
        _restore_core(core, sub_state["core"])
