"""Action heads: map trunk features to a torch.distributions object for the env's action space.

- `Discrete(n)`: categorical over logits.
- `Box`: diagonal Gaussian with a state-independent, learned log-std (as in CleanRL and SB3's default).
  The sampled (unclipped) action is what log-probabilities are computed on; the collector clips a copy to
  the action bounds before handing it to the env.

Each head also has `sample(features) -> (actions, log_probs)`, the rollout's per-step call, and
`log_prob_and_entropy(features, actions)`, the update's. For `Discrete` the first
samples by the Gumbel-max trick on the log-softmax, without building a `Categorical`: on the small batches of a
rollout step (8 envs x 2 actions) the distribution object's `logsumexp` normalization, `torch.multinomial` (which
checks its input with a blocking `.item()`) and broadcasting `log_prob` cost about 200 us a step, as much as the
MLP itself. `torch.multinomial` draws one sample by the same trick, argmax(p / E), from the same Exponential(1)
draws, so seeded runs sample the same actions as with `Categorical.sample`. Log-probabilities and entropies are
computed with `Categorical`'s own formulas, so PPO's ratios, and a seeded run's results, are unchanged.

Policy heads are initialized with gain 0.01 so the initial policy is near uniform / near zero-mean
(Andrychowicz et al., 2021, "What Matters in On-Policy RL", decision C57).
"""

from collections.abc import Callable

import gymnasium as gym
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Categorical, Distribution, Independent, Normal

from pglab.errors import ConfigError
from pglab.networks.mlp import call_layer, hooked, orthogonal_init

POLICY_HEAD_GAIN = 0.01


class CategoricalHead(nn.Module):
    """Logits for a `Discrete(n)` space."""

    def __init__(self, in_features: int, num_actions: int):
        super().__init__()
        self.logits = orthogonal_init(nn.Linear(in_features, num_actions), POLICY_HEAD_GAIN)

    def forward(self, features: Tensor) -> Distribution:
        """`features (B, F)` -> Categorical with batch shape `(B,)`."""
        return Categorical(logits=self.logits(features), validate_args=False)

    def sample(self, features: Tensor) -> tuple[Tensor, Tensor]:
        """`features (B, F)` -> `(actions (B,) int64, log_probs (B,))`, actions ~ softmax(logits).

        Gumbel-max: argmax(log p + G) with G = -log(E), E ~ Exponential(1), is a sample of the categorical.
        """
        return _gumbel_max_sample(self.log_probs(features))

    def sampler(self) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
        """`sample`, with the logits layer's parameters looked up once (`ActorCritic.for_rollout`): the same
        operations, bit for bit; valid while the layer, its parameter tensors and hooks stay as they are."""
        if hooked(self.logits):
            return self.sample
        weight, bias = self.logits.weight, self.logits.bias

        def sample(features: Tensor) -> tuple[Tensor, Tensor]:
            return _gumbel_max_sample(_normalized(F.linear(features, weight, bias)))

        return sample

    def log_prob_and_entropy(self, features: Tensor, actions: Tensor) -> tuple[Tensor, Tensor]:
        """`features (B, F)`, `actions (B,)` -> `(log_probs (B,), entropies (B,))`, differentiable, computed
        as `Categorical` computes them (bit for bit) without building one."""
        log_p = self.log_probs(features)
        entropy = -(log_p.clamp(min=torch.finfo(log_p.dtype).min) * log_p.softmax(dim=-1)).sum(-1)
        return log_p.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1), entropy

    def log_probs(self, features: Tensor) -> Tensor:
        """`features (B, F)` -> log-probabilities of every action `(B, n)`, normalized as `Categorical` does."""
        return _normalized(call_layer(self.logits, features))

    @staticmethod
    def mode(dist: Distribution) -> Tensor:
        """Most likely action `(B,)` int64."""
        return dist.logits.argmax(dim=-1)


def _normalized(logits: Tensor) -> Tensor:
    """Log-probabilities `(B, n)` from logits `(B, n)`, normalized as `Categorical` normalizes them."""
    return logits - logits.logsumexp(dim=-1, keepdim=True)


def _gumbel_max_sample(log_p: Tensor) -> tuple[Tensor, Tensor]:
    """`(actions (B,) int64, their log-probabilities (B,))` sampled from log-probabilities `(B, n)` by Gumbel-max
    (`CategoricalHead.sample`)."""
    actions = (log_p - torch.empty_like(log_p).exponential_().log()).argmax(dim=-1)
    return actions, log_p.gather(-1, actions.unsqueeze(-1)).squeeze(-1)


class DiagGaussianHead(nn.Module):
    """Mean and state-independent log-std for an `A`-dimensional `Box` space."""

    def __init__(self, in_features: int, action_dim: int, log_std_init: float = 0.0):
        super().__init__()
        self.mean = orthogonal_init(nn.Linear(in_features, action_dim), POLICY_HEAD_GAIN)
        self.log_std = nn.Parameter(torch.full((action_dim,), float(log_std_init)))

    def forward(self, features: Tensor) -> Distribution:
        """`features (B, F)` -> Independent Normal with batch shape `(B,)`, event shape `(A,)`."""
        mean = self.mean(features)
        std = self.log_std.exp().expand_as(mean)
        return Independent(Normal(mean, std, validate_args=False), 1, validate_args=False)

    def sample(self, features: Tensor) -> tuple[Tensor, Tensor]:
        """`features (B, F)` -> `(actions (B, A), log_probs (B,))`, unclipped Gaussian samples."""
        dist = self(features)
        actions = dist.sample()
        return actions, dist.log_prob(actions)

    def sampler(self) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
        """`sample` itself (`ActorCritic.for_rollout`; a Gaussian's distribution objects dominate its cost)."""
        return self.sample

    def log_prob_and_entropy(self, features: Tensor, actions: Tensor) -> tuple[Tensor, Tensor]:
        """`features (B, F)`, `actions (B, A)` -> `(log_probs (B,), entropies (B,))`, differentiable."""
        dist = self(features)
        return dist.log_prob(actions), dist.entropy()

    @staticmethod
    def mode(dist: Distribution) -> Tensor:
        """The Gaussian mean `(B, A)`."""
        return dist.mean


def make_action_head(action_space: gym.Space, in_features: int, log_std_init: float = 0.0) -> nn.Module:
    """The head for `action_space`; raises ConfigError for spaces pglab does not support."""
    if isinstance(action_space, gym.spaces.Discrete):
        return CategoricalHead(in_features, int(action_space.n))
    if isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1:
        return DiagGaussianHead(in_features, action_space.shape[0], log_std_init)
    raise ConfigError(
        f"action space {action_space} is not supported: pglab handles Discrete and 1-D Box action spaces"
    )
