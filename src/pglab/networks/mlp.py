"""MLP trunks with orthogonal initialization (the "37 implementation details of PPO", detail 2)."""

import math

from torch import nn

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
