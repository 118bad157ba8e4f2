"""The policy (actor) and optional value function (critic) used by every algorithm."""

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn

from pglab.errors import ConfigError
from pglab.networks.distributions import make_action_head
from pglab.networks.mlp import build_mlp, orthogonal_init, output_size

VALUE_HEAD_GAIN = 1.0


class ActorCritic(nn.Module):
    """MLP actor and critic over flat observations.

    By default the actor and critic are separate networks (CleanRL, SB3 for MLPs: sharing a trunk makes the
    value loss scale interfere with the policy gradient); `shared_trunk=True` puts both heads on one trunk.

    Args:
        observation_space: a 1-D `Box` space (flattened features).
        action_space: `Discrete` or 1-D `Box`.
        hidden_sizes: hidden layer widths of each trunk.
        activation: one of tanh, relu, elu, gelu.
        shared_trunk: one trunk for both heads instead of two separate networks.
        log_std_init: initial log-std of the Gaussian policy (Box actions only).
        with_critic: build the value head (REINFORCE does not need one); set by the algorithm.
    """

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        hidden_sizes: list[int] = (64, 64),
        activation: str = "tanh",
        shared_trunk: bool = False,
        log_std_init: float = 0.0,
        with_critic: bool = True,
    ):
        super().__init__()
        if not isinstance(observation_space, gym.spaces.Box) or len(observation_space.shape) != 1:
            raise ConfigError(
                f"network=mlp needs a flat (1-D Box) observation space, got {observation_space}; "
                "image observations need a convolutional network"
            )
        hidden_sizes = list(hidden_sizes)
        obs_dim = int(np.prod(observation_space.shape))
        features = output_size(obs_dim, hidden_sizes)
        self.shared_trunk = shared_trunk
        self.actor_trunk = build_mlp(obs_dim, hidden_sizes, activation)
        self.action_head = make_action_head(action_space, features, log_std_init)
        self.critic_trunk: nn.Module | None = None
        self.value_head: nn.Linear | None = None
        if with_critic:
            self.critic_trunk = self.actor_trunk if shared_trunk else build_mlp(obs_dim, hidden_sizes, activation)
            self.value_head = orthogonal_init(nn.Linear(features, 1), VALUE_HEAD_GAIN)

    @property
    def has_critic(self) -> bool:
        return self.value_head is not None

    def distribution(self, obs: Tensor) -> torch.distributions.Distribution:
        """`obs (B, D)` -> action distribution with batch shape `(B,)`."""
        return self.action_head(self.actor_trunk(obs))

    def value(self, obs: Tensor) -> Tensor:
        """`obs (B, D)` -> V(s) `(B,)`; zeros when the policy has no critic."""
        if self.value_head is None:
            return torch.zeros(obs.shape[0], device=obs.device)
        return self.value_head(self.critic_trunk(obs)).squeeze(-1)

    def _distribution_and_value(self, obs: Tensor) -> tuple[torch.distributions.Distribution, Tensor]:
        if self.shared_trunk and self.value_head is not None:  # one trunk pass feeds both heads
            features = self.actor_trunk(obs)
            return self.action_head(features), self.value_head(features).squeeze(-1)
        return self.distribution(obs), self.value(obs)

    def act(self, obs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Sample actions for `obs (B, D)`.

        Returns:
            `(actions, log_probs, values)`: actions `(B,)` int64 or `(B, A)` float (unclipped), log_probs
            `(B,)`, values `(B,)` (zeros without a critic).
        """
        dist, values = self._distribution_and_value(obs)
        actions = dist.sample()
        return actions, dist.log_prob(actions), values

    def evaluate_actions(self, obs: Tensor, actions: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Log-probabilities `(B,)`, entropies `(B,)` and values `(B,)` of `actions` taken in `obs`."""
        dist, values = self._distribution_and_value(obs)
        return dist.log_prob(actions), dist.entropy(), values

    def deterministic_action(self, obs: Tensor) -> Tensor:
        """The greedy action: argmax for Discrete, the Gaussian mean for Box."""
        return self.action_head.mode(self.distribution(obs))

    def actor_parameters(self) -> list[nn.Parameter]:
        return list(self.actor_trunk.parameters()) + list(self.action_head.parameters())

    def critic_parameters(self) -> list[nn.Parameter]:
        if self.value_head is None:
            return []
        trunk = [] if self.shared_trunk else list(self.critic_trunk.parameters())
        return trunk + list(self.value_head.parameters())
