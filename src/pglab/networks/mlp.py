"""MLP trunks with orthogonal initialization (the "37 implementation details of PPO", detail 2)."""

import math

from torch import Tensor, nn
from torch.nn.modules import module as _module

from pglab.errors import ConfigError
from pglab.networks.activations import FastTanh

#: `fast_tanh` is tanh computed fast on the CPU (`pglab.networks.activations`); `tanh` is `torch.tanh`
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "fast_tanh": FastTanh,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
}

HIDDEN_GAIN = math.sqrt(2)


def orthogonal_init(layer: nn.Linear, gain: float) -> nn.Linear:
    """Orthogonal weights scaled by `gain`, zero bias."""
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


def build_mlp(in_features: int, hidden_sizes: list[int], activation: str) -> nn.Sequential:
    """Linear + activation layers, orthogonally initialized with gain sqrt(2).

    Returns an empty `nn.Sequential` (identity) when `hidden_sizes` is empty.
    """
    if activation not in ACTIVATIONS:
        raise ConfigError(
            f"network.activation={activation!r} is not supported; choose one of {sorted(ACTIVATIONS)}"
        )
    if any(int(h) < 1 for h in hidden_sizes):
        raise ConfigError(f"network.hidden_sizes={list(hidden_sizes)} must be positive integers")
    layers: list[nn.Module] = []
    size = in_features
    for hidden in hidden_sizes:
        layers += [orthogonal_init(nn.Linear(size, int(hidden)), HIDDEN_GAIN), ACTIVATIONS[activation]()]
        size = int(hidden)
    return nn.Sequential(*layers)


def output_size(in_features: int, hidden_sizes: list[int]) -> int:
    """Feature size at the end of an MLP built by `build_mlp`."""
    return int(hidden_sizes[-1]) if hidden_sizes else in_features


def _hooked(module: nn.Module) -> bool:
    """Whether calling `module` would run a hook (its own or a global one), as `nn.Module.__call__` checks."""
    return bool(
        module._forward_hooks
        or module._forward_pre_hooks
        or module._backward_hooks
        or module._backward_pre_hooks
        or _module._global_forward_hooks
        or _module._global_forward_pre_hooks
        or _module._global_backward_hooks
        or _module._global_backward_pre_hooks
    )


def call_layer(layer: nn.Module, x: Tensor) -> Tensor:
    """`layer(x)`, without the module-call machinery where no hook would run: the same operations, minus two
    Python calls a layer, which on a 64x64 actor-critic over a CartPole rollout step of 8 envs cost about as
    much as the layers themselves. With a hook registered (a profiler's, a user's), the module is called."""
    return layer(x) if _hooked(layer) else layer.forward(x)


def run_trunk(trunk: nn.Module, x: Tensor) -> Tensor:
    """`trunk(x)`; an MLP trunk (a plain `nn.Sequential`) runs its layers in turn through `call_layer`."""
    if type(trunk) is not nn.Sequential or _hooked(trunk):
        return trunk(x)
    for layer in trunk:
        x = call_layer(layer, x)
    return x
