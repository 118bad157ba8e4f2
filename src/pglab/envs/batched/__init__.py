"""Batched envs: gymnasium's classic-control envs and pglab's PixelCopter as tensor programs on one device.

`make_batched_env("CartPole-v1", num_envs=4096, device="cuda")` returns a `gymnasium.vector.VectorEnv` whose
`reset` / `step` take and return torch tensors on that device (see `pglab.envs.batched.base`). Their dynamics are
gymnasium's, checked against gymnasium by `tests/unit/test_batched_*.py`. In training, `env.vectorization=torch`
selects them.
"""

import importlib

import torch

from pglab.envs.batched.base import BatchedEnv

#: gymnasium id -> "module:class" of its batched version
BATCHED_ENVS = {
    "CartPole-v1": "pglab.envs.batched.cartpole:CartPole",
    "Acrobot-v1": "pglab.envs.batched.acrobot:Acrobot",
    "MountainCar-v0": "pglab.envs.batched.mountain_car:MountainCar",
    "MountainCarContinuous-v0": "pglab.envs.batched.mountain_car:MountainCarContinuous",
    "Pendulum-v1": "pglab.envs.batched.pendulum:Pendulum",
    "pglab/PixelCopter-v0": "pglab.envs.batched.pixelcopter:PixelCopter",
}


def batched_env_class(env_id: str) -> type[BatchedEnv]:
    """The `BatchedEnv` subclass of gymnasium id `env_id` (KeyError if there is none)."""
    module, name = BATCHED_ENVS[env_id].split(":")
    return getattr(importlib.import_module(module), name)


def make_batched_env(
    env_id: str,
    num_envs: int,
    device: str | torch.device = "cpu",
    max_episode_steps: int | None = None,
    **kwargs,
) -> BatchedEnv:
    """`num_envs` sub-envs of `env_id` on `device`; `max_episode_steps` None keeps the registered limit; `kwargs` are
    the env's options (as `gymnasium.make`'s)."""
    return batched_env_class(env_id)(num_envs, device, max_episode_steps=max_episode_steps, **kwargs)


__all__ = ["BATCHED_ENVS", "BatchedEnv", "batched_env_class", "make_batched_env"]
