"""The policy (actor) and optional value function (critic) used by every algorithm."""

import functools
from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pglab.errors import ConfigError
from pglab.networks.cnn import NatureCNN
from pglab.networks.distributions import make_action_head
from pglab.networks.mlp import (
    build_mlp,
    call_layer,
    hooked,
    orthogonal_init,
    output_size,
    run_trunk,
    trunk_forward,
)

VALUE_HEAD_GAIN = 1.0


TRUNKS = ("mlp", "cnn")


class ActorCritic(nn.Module):
    """Actor and critic over flat observations (MLP trunks) or images (Nature CNN trunks).

    By default the actor and critic are separate networks (CleanRL, SB3 for MLPs: sharing a trunk makes the
    value loss scale interfere with the policy gradient); `shared_trunk=True` puts both heads on one trunk
    (the usual choice for CNNs, as in CleanRL's Atari PPO, to halve the convolution work).

    Args:
        observation_space: a 1-D `Box` (trunk="mlp") or a channels-first 3-D `Box` of pixels (trunk="cnn").
        action_space: `Discrete` or 1-D `Box`.
        trunk: "mlp" or "cnn" (set by the network config: network=mlp | network=cnn).
        hidden_sizes: hidden layer widths of each MLP trunk, or of the fully connected layers after the CNN.
        activation: one of fast_tanh (tanh, computed fast on the CPU: `pglab.networks.activations`), tanh
            (`torch.tanh`), relu, elu, gelu.
        shared_trunk: one trunk for both heads instead of two separate networks.
        log_std_init: initial log-std of the Gaussian policy (Box actions only).
        with_critic: build the value head (REINFORCE does not need one); set by the algorithm.
    """

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        trunk: str = "mlp",
        hidden_sizes: list[int] = (64, 64),
        activation: str = "fast_tanh",
        shared_trunk: bool = False,
        log_std_init: float = 0.0,
        with_critic: bool = True,
    ):
        super().__init__()
        hidden_sizes = list(hidden_sizes)
        build_trunk = trunk_builder(trunk, observation_space, hidden_sizes, activation)
        self.shared_trunk = shared_trunk
        self.actor_trunk, features = build_trunk()
        self.action_head = make_action_head(action_space, features, log_std_init)
        self.critic_trunk: nn.Module | None = None
        self.value_head: nn.Linear | None = None
        if with_critic:
            self.critic_trunk = self.actor_trunk if shared_trunk else build_trunk()[0]
            self.value_head = orthogonal_init(nn.Linear(features, 1), VALUE_HEAD_GAIN)

    @property
    def has_critic(self) -> bool:
        return self.value_head is not None

    def distribution(self, obs: Tensor) -> torch.distributions.Distribution:
        """`obs (B, D)` -> action distribution with batch shape `(B,)`."""
        return self.action_head(run_trunk(self.actor_trunk, obs))

    def value(self, obs: Tensor) -> Tensor:
        """`obs (B, D)` -> V(s) `(B,)`; zeros when the policy has no critic."""
        if self.value_head is None:
            return torch.zeros(obs.shape[0], device=obs.device)
        return call_layer(self.value_head, run_trunk(self.critic_trunk, obs)).squeeze(-1)

    def _features_and_value(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        """The actor trunk's features `(B, F)` and V(s) `(B,)`; a shared trunk runs once for both."""
        features = run_trunk(self.actor_trunk, obs)
        if self.value_head is None:
            return features, torch.zeros(obs.shape[0], device=obs.device)
        critic_features = features if self.shared_trunk else run_trunk(self.critic_trunk, obs)
        return features, call_layer(self.value_head, critic_features).squeeze(-1)

    def act(self, obs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Sample actions for `obs (B, D)`.

        Returns:
            `(actions, log_probs, values)`: actions `(B,)` int64 or `(B, A)` float (unclipped), log_probs
            `(B,)`, values `(B,)` (zeros without a critic).
        """
        features, values = self._features_and_value(obs)
        actions, log_probs = self.action_head.sample(features)
        return actions, log_probs, values

    def for_rollout(self, obs: Tensor) -> "RolloutPolicy":
        """This policy's `act` and `value` for the many calls of one rollout, outside autograd, for observations
        like `obs` (`RolloutPolicy`)."""
        return RolloutPolicy(self, obs)

    def evaluate_actions(self, obs: Tensor, actions: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Log-probabilities `(B,)`, entropies `(B,)` and values `(B,)` of `actions` taken in `obs`."""
        features, values = self._features_and_value(obs)
        log_probs, entropy = self.action_head.log_prob_and_entropy(features, actions)
        return log_probs, entropy, values

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


class RolloutPolicy:
    """A policy's `act` and `value` for the many steps of one rollout, outside autograd: for observations like
    `obs` (same dimensions, device, autocast state) they return what the policy's own return, bit for bit, from the
    same operations on the same parameter tensors, drawing the same random numbers. What the policy's methods look
    up and check at every call (the modules, their parameters, hooks, which pass each trunk takes:
    `trunk_forward`) is settled once, here; on a 64x64 CartPole actor-critic stepping 8 envs that is about a third
    of `act`'s time.

    Valid while the modules, their parameter tensors and hooks stay as they are (an optimizer's in-place update
    shows): collectors make one per rollout, under `torch.no_grad()`.

    Args:
        policy: the policy.
        obs: observations `(B, D)` like those it will be called with.
    """

    def __init__(self, policy: ActorCritic, obs: Tensor):
        self._actor_trunk = trunk_forward(policy.actor_trunk, obs)
        self._sample = policy.action_head.sampler()
        self._shared_trunk = policy.shared_trunk
        self._value_head: Callable[[Tensor], Tensor] | None = None
        if policy.value_head is not None:
            shared = policy.shared_trunk
            self._critic_trunk = self._actor_trunk if shared else trunk_forward(policy.critic_trunk, obs)
            head = policy.value_head
            self._value_head = (
                head if hooked(head) else functools.partial(F.linear, weight=head.weight, bias=head.bias)
            )

    def act(self, obs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """`ActorCritic.act(obs)`: `(actions, log_probs, values)`."""
        features = self._actor_trunk(obs)
        if self._value_head is None:
            values = torch.zeros(obs.shape[0], device=obs.device)
        else:
            critic_features = features if self._shared_trunk else self._critic_trunk(obs)
            values = self._value_head(critic_features).squeeze(-1)
        actions, log_probs = self._sample(features)
        return actions, log_probs, values

    def value(self, obs: Tensor) -> Tensor:
        """`ActorCritic.value(obs)`: V(s) `(B,)`."""
        if self._value_head is None:
            return torch.zeros(obs.shape[0], device=obs.device)
        return self._value_head(self._critic_trunk(obs)).squeeze(-1)


def trunk_builder(
    trunk: str, observation_space: gym.Space, hidden_sizes: list[int], activation: str
) -> Callable[[], tuple[nn.Module, int]]:
    """A function building one trunk and returning it with its output width; checks the space fits."""
    if trunk not in TRUNKS:
        raise ConfigError(f"network.trunk={trunk!r} is not supported; choose one of {list(TRUNKS)}")
    shape = getattr(observation_space, "shape", None)
    is_box = isinstance(observation_space, gym.spaces.Box)
    if trunk == "mlp":
        if not is_box or len(shape) != 1:
            raise ConfigError(
                f"network=mlp needs a flat (1-D Box) observation space, got {observation_space}; "
                "use network=cnn for image observations"
            )
        obs_dim = int(np.prod(shape))
        return lambda: (build_mlp(obs_dim, hidden_sizes, activation), output_size(obs_dim, hidden_sizes))
    if not is_box or len(shape) != 3 or min(shape[1:]) < 36:
        raise ConfigError(
            f"network=cnn needs image observations (a channels-first 3-D Box of at least 36x36 pixels), "
            f"got {observation_space}; use network=mlp for flat observations"
        )

    if np.any(observation_space.low < 0) or np.any(observation_space.high > 255):
        raise ConfigError(
            f"network=cnn scales pixel values by 1/255 and needs observations within [0, 255], got "
            f"bounds [{observation_space.low.min()}, {observation_space.high.max()}]; set "
            "env.normalize_obs=false (pixels need no running normalization)"
        )

    def build_cnn() -> tuple[nn.Module, int]:
        cnn = NatureCNN(observation_space, hidden_sizes, activation)
        return cnn, cnn.out_features

    return build_cnn
