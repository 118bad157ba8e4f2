"""The Nature-DQN convolutional trunk for image observations (Mnih et al., 2015), as CleanRL's and SB3's
Atari policies use it: 32 8x8/4, 64 4x4/2, 64 3x3/1 convolutions, then fully connected layers."""

import gymnasium as gym
import torch
from torch import Tensor, nn

from pglab.networks.mlp import ACTIVATIONS, HIDDEN_GAIN, build_mlp


class NatureCNN(nn.Module):
    """`obs (B, C, H, W)` in [0, 255] (uint8 pixel values, here as floats) -> features `(B, hidden_sizes[-1])`.

    Inputs are scaled by 1/255 inside the network, so stored observations stay compact pixel values.

    Args:
        observation_space: a 3-D `Box`, channels first (e.g. 4 stacked 84x84 grayscale frames).
        hidden_sizes: widths of the fully connected layers after the convolutions (Nature: [512]).
        activation: activation after every layer (Nature: relu).
    """

    def __init__(self, observation_space: gym.spaces.Box, hidden_sizes: list[int], activation: str = "relu"):
        super().__init__()
        channels = observation_space.shape[0]
        act = ACTIVATIONS[activation]
        self.convs = nn.Sequential(
            self._init(nn.Conv2d(channels, 32, 8, stride=4)),
            act(),
            self._init(nn.Conv2d(32, 64, 4, stride=2)),
            act(),
            self._init(nn.Conv2d(64, 64, 3, stride=1)),
            act(),
            nn.Flatten(),
        )
        with torch.no_grad():
            flat = self.convs(torch.zeros(1, *observation_space.shape)).shape[1]
        self.fc = build_mlp(flat, list(hidden_sizes), activation)
        self.out_features = int(hidden_sizes[-1]) if hidden_sizes else flat

    @staticmethod
    def _init(conv: nn.Conv2d) -> nn.Conv2d:
        nn.init.orthogonal_(conv.weight, HIDDEN_GAIN)
        nn.init.zeros_(conv.bias)
        return conv

    def forward(self, obs: Tensor) -> Tensor:
        return self.fc(self.convs(obs / 255.0))
