"""The members' actor-critics as one stacked network: every weight `(P, ...)`, one batched pass for all members.

Each member keeps its own ordinary `ActorCritic` (built as an ordinary run builds it, under the member's seed),
which the rollout collector, the evaluation and the checkpoints use as they use any policy. Here those modules'
parameters become views of rows of stacked tensors: `StackedActorCritic.params[i][k]` *is* member k's parameter i,
so an optimizer step on the stacked tensors is at once a step of every member's module, with no copies.

The update's forward pass runs all members at once: each linear layer is one `torch.baddbmm` over the member
axis (except the shapes whose batched products round differently from a member's own, such as the value head or a
batch of a few rows, which run per member: `batched_products_match`), the activations and the distributions' formulas run on `(P, B, ...)` tensors. On the CPU every one of
these operations gives member k's row the same bits as the member's own module on its own batch (batched matmuls
compute each member's product as the matmul of its slice; activations are elementwise, and the reductions run
along each member's row), which the tests check: a population member trains exactly as its ordinary run.

Supported: MLP trunks (separate or shared), `Discrete` and 1-D `Box` action spaces, with or without a critic.
"""

import functools

import torch
from torch import Tensor, nn
from torch.distributions import Independent, Normal

from pglab.errors import ConfigError
from pglab.networks.actor_critic import ActorCritic
from pglab.networks.distributions import CategoricalHead, DiagGaussianHead

#: the name prefixes of an `ActorCritic`'s actor parameters (the others are its critic's)
ACTOR = ("actor_trunk.", "action_head.")


class BatchedLinear(torch.autograd.Function):
    """`x (P, B, I)`, `weight (P, O, I)`, `bias (P, O)` -> `(P, B, O)`: each member's `F.linear`, whose backward
    computes each member's gradients with the same matrix products (and operand layouts) as autograd's backward of
    `F.linear` on 2-D inputs (`addmm`), so that they come out bit for bit: the weight gradient as `grad^T @ x`,
    not `(x^T @ grad)^T` as the backward of `baddbmm(bias, x, weight^T)` would compute it (which differs in the
    last bits for some shapes, e.g. CartPole's 4 inputs)."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        # (the form without `setup_context`: its argument binding costs about 0.1 ms a call)
        ctx.save_for_backward(x, weight)
        return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, weight = ctx.saved_tensors
        grad_x = grad.bmm(weight) if ctx.needs_input_grad[0] else None
        grad_weight = grad.transpose(1, 2).bmm(x) if ctx.needs_input_grad[1] else None
        grad_bias = grad.sum(1) if ctx.needs_input_grad[2] else None
        return grad_x, grad_weight, grad_bias


class MemberwiseLinear(torch.autograd.Function):
    """`BatchedLinear` computed member by member (one `addmm` each, forward and backward, with the operands of
    autograd's `addmm` backward), for the shapes whose batched product differs from the member's own. (Indexing
    `x[k]` under autograd instead would make every member's backward fill a zero tensor of all members' size.)"""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        ctx.save_for_backward(x, weight)
        return torch.stack([torch.addmm(bias[k], x[k], weight[k].t()) for k in range(x.shape[0])])

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, weight = ctx.saved_tensors
        members = range(x.shape[0])
        grad_x = torch.stack([grad[k].mm(weight[k]) for k in members]) if ctx.needs_input_grad[0] else None
        grad_weight = (
            torch.stack([grad[k].t().mm(x[k]) for k in members]) if ctx.needs_input_grad[1] else None
        )
        grad_bias = grad.sum(1) if ctx.needs_input_grad[2] else None
        return grad_x, grad_weight, grad_bias


@functools.cache
def batched_products_match(
    rows: int, inputs: int, outputs: int, dtype: torch.dtype, device: torch.device
) -> bool:
    """Whether `BatchedLinear` gives every member the bits of its own `F.linear` (`MemberwiseLinear`) for a layer of
    `inputs -> outputs` on `rows` rows: forward, input and weight gradients, compared once per shape on random
    numbers (a kernel that sums in another order differs from the member's own on nearly every input). Which shapes
    match depends on the BLAS and the CPU: on the AVX2 machines of this project a value head, batches of one or
    two rows, and layers of few inputs and outputs on a few rows (e.g. 4 rows of 4 inputs to 16 units) do not."""
    if rows <= 2 or outputs == 1:
        return False
    generator = torch.Generator().manual_seed(0)
    members = 2
    x, weight, grad = (
        torch.randn(shape, generator=generator, dtype=dtype).to(device)
        for shape in ((members, rows, inputs), (members, outputs, inputs), (members, rows, outputs))
    )
    bias = torch.randn((members, outputs), generator=generator, dtype=dtype).to(device)
    results = []
    for layer in (BatchedLinear, MemberwiseLinear):
        leaves = [t.clone().requires_grad_(True) for t in (x, weight, bias)]
        with torch.enable_grad():
            out = layer.apply(*leaves)
            out.backward(grad)
        results.append([out.detach()] + [t.grad for t in leaves])
    return all(torch.equal(a, b) for a, b in zip(*results, strict=True))


def _linear_layers(trunk: nn.Module) -> list[tuple[nn.Linear, nn.Module | None]]:
    """An MLP trunk (`build_mlp`'s Sequential) as `(linear, activation)` pairs."""
    modules = list(trunk.children())
    if not all(isinstance(m, nn.Linear) for m in modules[0::2]):
        raise ConfigError("population training supports network=mlp only (network.trunk=mlp)")
    return [(modules[i], modules[i + 1] if i + 1 < len(modules) else None) for i in range(0, len(modules), 2)]


class StackedActorCritic:
    """Args:
    members: the members' policies, all of the same architecture (their parameters are re-pointed here).
    """

    def __init__(self, members: list[ActorCritic]):
        self.members = list(members)
        self.size = len(self.members)
        first = self.members[0]
        for policy in self.members:
            if not isinstance(policy.actor_trunk, nn.Sequential):
                raise ConfigError("population training supports network=mlp only (network.trunk=mlp)")
        shapes = [[tuple(p.shape) for p in policy.parameters()] for policy in self.members]
        if any(s != shapes[0] for s in shapes):
            raise ValueError("the members' policies differ in architecture")
        self.shared_trunk = first.shared_trunk
        self.has_critic = first.has_critic
        self.activations = [act for _, act in _linear_layers(first.actor_trunk)]
        self.gaussian = isinstance(first.action_head, DiagGaussianHead)
        if not self.gaussian and not isinstance(first.action_head, CategoricalHead):
            raise ConfigError("population training supports Discrete and 1-D Box action spaces")
        # Stack every parameter; then make each member's parameter a view of its row.
        names = [name for name, _ in first.named_parameters()]
        self.names = names
        self.params: list[Tensor] = []
        for name in names:
            stacked = torch.stack([dict(m.named_parameters())[name].detach() for m in self.members])
            self.params.append(stacked.contiguous().requires_grad_(True))
        for k, policy in enumerate(self.members):
            for name, stacked in zip(names, self.params, strict=True):
                module_name, _, attribute = name.rpartition(".")
                module = policy.get_submodule(module_name)
                setattr(module, attribute, nn.Parameter(stacked.detach()[k], requires_grad=False))

    def actor_params(self) -> list[Tensor]:
        """The actor's stacked parameters, in the order of each member's `actor_parameters()`."""
        return [p for name, p in zip(self.names, self.params, strict=True) if name.startswith(ACTOR)]

    def critic_params(self) -> list[Tensor]:
        """The critic's stacked parameters, in the order of each member's `critic_parameters()`."""
        return [p for name, p in zip(self.names, self.params, strict=True) if not name.startswith(ACTOR)]

    def _trunk(self, params: dict[str, Tensor], prefix: str, x: Tensor) -> Tensor:
        """`x (P, B, I)` through the members' trunk `prefix` (e.g. "actor_trunk")."""
        for i, activation in enumerate(self.activations):
            x = self._linear(params, f"{prefix}.{2 * i}", x)
            if activation is not None:
                x = activation.forward(x)  # the member's activation (its hooks-free call)
        return x

    @staticmethod
    def _linear(params: dict[str, Tensor], name: str, x: Tensor) -> Tensor:
        weight, bias = params[f"{name}.weight"], params[f"{name}.bias"]
        if not batched_products_match(x.shape[1], weight.shape[2], weight.shape[1], x.dtype, x.device):
            # BLAS computes the batched products of some shapes (a value head, a batch of a few rows, narrow
            # layers) in another order than the member's own: each member's layer runs on its own there.
            return MemberwiseLinear.apply(x, weight, bias)
        return BatchedLinear.apply(x, weight, bias)

    def evaluate_actions(
        self, obs: Tensor, actions: Tensor, params: list[Tensor] | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """`obs (P, B, D)`, `actions (P, B, *Act)` -> log-probabilities, entropies and values, each `(P, B)`, as
        each member's `ActorCritic.evaluate_actions` computes them. `params`: the stacked parameters to use (by
        default `self.params`; e.g. some members' rows of them, in `self.params`' order)."""
        params = self._named(params)
        features = self._trunk(params, "actor_trunk", obs)
        values = self._values(params, obs, features)
        return *self._log_prob_and_entropy(params, features, actions), values

    def log_prob_and_entropy(
        self, obs: Tensor, actions: Tensor, params: list[Tensor] | None = None
    ) -> tuple[Tensor, Tensor]:
        """The actor alone: log-probabilities and entropies `(P, B)` of `actions` in `obs`, as each member's
        `dist = policy.distribution(obs)` gives them by `dist.log_prob(actions)`, then `dist.entropy()` (VPG's
        update), in that order: the order in which the gradients of the two terms meet in the backward pass.
        `params` as in `evaluate_actions`."""
        params = self._named(params)
        features = self._trunk(params, "actor_trunk", obs)
        return self._log_prob_and_entropy(params, features, actions, log_prob_first=True)

    def critic_values(self, obs: Tensor, params: list[Tensor] | None = None) -> Tensor:
        """The critic alone: V(s) `(P, B)` of `obs (P, B, D)`, as each member's `policy.value(obs)`, with gradients.
        `params` as in `evaluate_actions`."""
        params = self._named(params)
        features = self._trunk(params, "actor_trunk", obs) if self.shared_trunk else None
        return self._values(params, obs, features)

    def _named(self, params: list[Tensor] | None) -> dict[str, Tensor]:
        return dict(zip(self.names, self.params if params is None else params, strict=True))

    def _log_prob_and_entropy(
        self, params: dict[str, Tensor], features: Tensor, actions: Tensor, log_prob_first: bool = False
    ) -> tuple[Tensor, Tensor]:
        """As the member's action head's `log_prob_and_entropy` (the entropy's terms first) or, with
        `log_prob_first`, as `Categorical.log_prob` then `Categorical.entropy` (the same values; autograd sums the
        gradients of `log_p`'s three uses in the order they were made, so the order changes the last bits)."""
        if self.gaussian:
            mean = self._linear(params, "action_head.mean", features)
            std = params["action_head.log_std"].unsqueeze(1).exp().expand_as(mean)
            dist = Independent(Normal(mean, std, validate_args=False), 1, validate_args=False)
            return dist.log_prob(actions), dist.entropy()
        logits = self._linear(params, "action_head.logits", features)
        log_p = logits - logits.logsumexp(dim=-1, keepdim=True)
        if log_prob_first:
            log_probs = log_p.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)
        entropy = -(log_p.clamp(min=torch.finfo(log_p.dtype).min) * log_p.softmax(dim=-1)).sum(-1)
        if not log_prob_first:
            log_probs = log_p.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)
        return log_probs, entropy

    # ----------------------------------------------------------------- acting (no gradients)
    @torch.no_grad()
    def act(
        self, obs: Tensor, generators: list[torch.Generator], drawing: list[int] | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """`obs (P, N, D)` -> `(actions (P, N, *Act), log_probs (P, N), values (P, N))`, member k sampling from
        `generators[k]` exactly the draws its own `ActorCritic.act` takes from the global generator.

        `drawing`: the members that act (default all); the others draw nothing from their generators, and their
        rows of the outputs are meaningless (the greedy action in place of a sample)."""
        params = dict(zip(self.names, self.params, strict=True))
        features = self._trunk(params, "actor_trunk", obs)
        values = self._values(params, obs, features)
        drawing = set(range(obs.shape[0]) if drawing is None else drawing)
        if self.gaussian:
            mean = self._linear(params, "action_head.mean", features)
            std = params["action_head.log_std"].unsqueeze(1).exp().expand_as(mean)
            actions = torch.stack(
                [
                    torch.normal(mean[k], std[k], generator=generators[k]) if k in drawing else mean[k]
                    for k in range(obs.shape[0])
                ]
            )
            dist = Independent(Normal(mean, std, validate_args=False), 1, validate_args=False)
            return actions, dist.log_prob(actions), values
        logits = self._linear(params, "action_head.logits", features)
        log_p = logits - logits.logsumexp(dim=-1, keepdim=True)
        noise = torch.stack(
            [
                torch.empty_like(log_p[k]).exponential_(generator=generators[k])
                if k in drawing
                else torch.ones_like(log_p[k])
                for k in range(obs.shape[0])
            ]
        )
        actions = (log_p - noise.log()).argmax(dim=-1)
        return actions, log_p.gather(-1, actions.unsqueeze(-1)).squeeze(-1), values

    @torch.no_grad()
    def value(self, obs: Tensor) -> Tensor:
        """`obs (P, N, D)` -> V(s) `(P, N)`."""
        return self.critic_values(obs)

    @torch.no_grad()
    def deterministic_action(self, obs: Tensor) -> Tensor:
        """The members' greedy actions `(P, N, *Act)`: argmax for Discrete, the Gaussian mean for Box."""
        params = dict(zip(self.names, self.params, strict=True))
        features = self._trunk(params, "actor_trunk", obs)
        if self.gaussian:
            return self._linear(params, "action_head.mean", features)
        logits = self._linear(params, "action_head.logits", features)
        # the argmax of the normalized logits, as the member's `Categorical(logits=...).logits.argmax`
        return (logits - logits.logsumexp(dim=-1, keepdim=True)).argmax(dim=-1)

    def _values(self, params: dict[str, Tensor], obs: Tensor, features: Tensor | None) -> Tensor:
        if not self.has_critic:
            return torch.zeros(obs.shape[:2], device=obs.device)
        critic_features = features if self.shared_trunk else self._trunk(params, "critic_trunk", obs)
        return self._linear(params, "value_head", critic_features).squeeze(-1)
