"""Action distributions: log-probabilities and entropies against closed forms; init and shapes."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from pglab.errors import ConfigError
from pglab.networks.actor_critic import ActorCritic
from pglab.networks.mlp import build_mlp, run_trunk

BOX_OBS = gym.spaces.Box(-1.0, 1.0, shape=(4,), dtype=np.float32)


def test_categorical_log_prob_and_entropy_match_softmax_by_hand():
    torch.manual_seed(0)
    policy = ActorCritic(BOX_OBS, gym.spaces.Discrete(3), hidden_sizes=[8])
    obs = torch.randn(5, 4)
    dist = policy.distribution(obs)
    logits = policy.action_head.logits(policy.actor_trunk(obs))
    probs = torch.softmax(logits, dim=-1)
    actions = torch.tensor([0, 1, 2, 1, 0])
    torch.testing.assert_close(dist.log_prob(actions), probs[torch.arange(5), actions].log())
    torch.testing.assert_close(dist.entropy(), -(probs * probs.log()).sum(-1))
    assert policy.deterministic_action(obs).tolist() == logits.argmax(-1).tolist()


@pytest.mark.parametrize("shared_trunk", [False, True])
def test_act_samples_the_categorical_with_its_log_probs_and_values(shared_trunk):
    """`act`'s Gumbel-max sampler against the policy's own Categorical: action frequencies within 4 standard
    errors of the softmax probabilities over 200k draws, log-probs and values equal to the slow path's."""
    torch.manual_seed(0)
    policy = ActorCritic(BOX_OBS, gym.spaces.Discrete(3), hidden_sizes=[8], shared_trunk=shared_trunk)
    with torch.no_grad():
        policy.action_head.logits.weight.mul_(
            200.0
        )  # a far from uniform policy: probabilities from < 0.1 to > 0.5
        obs = torch.randn(4, 4)
        probs = policy.distribution(obs).probs
        draws = 50_000
        actions, log_probs, values = policy.act(obs.repeat(draws, 1))
    assert probs.min() < 0.1 and probs.max() > 0.5
    frequencies = torch.nn.functional.one_hot(actions.view(draws, 4), 3).double().mean(0)
    standard_error = (probs * (1 - probs) / draws).sqrt().double()
    assert ((frequencies - probs.double()).abs() < 4 * standard_error + 1e-9).all(), (frequencies, probs)
    torch.testing.assert_close(log_probs, policy.distribution(obs.repeat(draws, 1)).log_prob(actions))
    torch.testing.assert_close(values, policy.value(obs.repeat(draws, 1)))


@pytest.mark.parametrize(
    "space", [gym.spaces.Discrete(3), gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)]
)
def test_evaluate_actions_matches_the_distribution_in_values_and_gradients(space):
    torch.manual_seed(0)
    policy = ActorCritic(BOX_OBS, space, hidden_sizes=[8])
    with torch.no_grad():
        policy.action_head.requires_grad_(False)
        for parameter in policy.action_head.parameters():
            parameter.mul_(100.0)  # far from uniform: the log-softmax path must agree beyond the trivial case
        policy.action_head.requires_grad_(True)
    obs = torch.randn(6, 4)
    actions = policy.distribution(obs).sample()
    log_probs, entropy, _ = policy.evaluate_actions(obs, actions)
    dist = policy.distribution(obs)
    torch.testing.assert_close(log_probs, dist.log_prob(actions))
    torch.testing.assert_close(entropy, dist.entropy())
    grads = torch.autograd.grad((log_probs + 0.1 * entropy).sum(), policy.actor_parameters())
    expected = torch.autograd.grad(
        (dist.log_prob(actions) + 0.1 * dist.entropy()).sum(), policy.actor_parameters()
    )
    for grad, reference in zip(grads, expected, strict=True):
        torch.testing.assert_close(grad, reference)


def test_act_samples_the_gaussian_with_its_log_probs():
    torch.manual_seed(0)
    space = gym.spaces.Box(-2.0, 2.0, shape=(2,), dtype=np.float32)
    policy = ActorCritic(BOX_OBS, space, hidden_sizes=[8], log_std_init=-1.0)
    obs = torch.randn(1, 4).repeat(100_000, 1)
    with torch.no_grad():
        actions, log_probs, _ = policy.act(obs)
        dist = policy.distribution(obs)
    torch.testing.assert_close(actions.mean(0), dist.mean[0], atol=0.005, rtol=0)
    torch.testing.assert_close(actions.std(0), dist.stddev[0], atol=0.005, rtol=0)
    torch.testing.assert_close(log_probs, dist.log_prob(actions))


def test_gaussian_log_prob_and_entropy_match_closed_form():
    torch.manual_seed(0)
    space = gym.spaces.Box(-2.0, 2.0, shape=(2,), dtype=np.float32)
    policy = ActorCritic(BOX_OBS, space, hidden_sizes=[8], log_std_init=-0.5)
    obs = torch.randn(3, 4)
    dist = policy.distribution(obs)
    mean = policy.action_head.mean(policy.actor_trunk(obs))
    std = math.exp(-0.5)
    actions = torch.tensor([[0.1, -3.0], [1.0, 1.0], [5.0, 0.0]])  # outside the bounds on purpose
    expected = (-((actions - mean) ** 2) / (2 * std**2) - math.log(std) - 0.5 * math.log(2 * math.pi)).sum(-1)
    torch.testing.assert_close(dist.log_prob(actions), expected)
    expected_entropy = 2 * (0.5 + 0.5 * math.log(2 * math.pi) + math.log(std))
    torch.testing.assert_close(dist.entropy(), torch.full((3,), expected_entropy))
    torch.testing.assert_close(policy.deterministic_action(obs), mean)


def test_orthogonal_init_gains_and_near_uniform_initial_policy():
    torch.manual_seed(0)
    policy = ActorCritic(BOX_OBS, gym.spaces.Discrete(2), hidden_sizes=[64, 64])
    w = policy.actor_trunk[0].weight  # 64 x 4: orthogonal columns scaled by sqrt(2)
    torch.testing.assert_close(w.T @ w, 2.0 * torch.eye(4), rtol=1e-4, atol=1e-4)
    head = policy.action_head.logits.weight  # 2 x 64: orthogonal rows scaled by 0.01
    torch.testing.assert_close(head @ head.T, 1e-4 * torch.eye(2), rtol=1e-3, atol=1e-7)
    probs = policy.distribution(torch.randn(10, 4)).probs
    assert (probs - 0.5).abs().max().item() < 0.01


def test_separate_and_shared_trunks():
    separate = ActorCritic(BOX_OBS, gym.spaces.Discrete(2), hidden_sizes=[32])
    shared = ActorCritic(BOX_OBS, gym.spaces.Discrete(2), hidden_sizes=[32], shared_trunk=True)
    assert separate.critic_trunk is not separate.actor_trunk
    assert shared.critic_trunk is shared.actor_trunk
    n_separate = sum(p.numel() for p in separate.parameters())
    n_shared = sum(p.numel() for p in shared.parameters())
    assert n_separate - n_shared == 4 * 32 + 32  # one trunk layer fewer
    no_critic = ActorCritic(BOX_OBS, gym.spaces.Discrete(2), hidden_sizes=[32], with_critic=False)
    assert no_critic.value(torch.ones(3, 4)).tolist() == [0.0, 0.0, 0.0]


def test_unsupported_spaces_raise_config_error():
    with pytest.raises(ConfigError, match="1-D Box"):
        ActorCritic(gym.spaces.Box(0, 255, shape=(84, 84, 3), dtype=np.uint8), gym.spaces.Discrete(2))
    with pytest.raises(ConfigError, match="activation"):
        ActorCritic(BOX_OBS, gym.spaces.Discrete(2), activation="sigmoidish")
    with pytest.raises(ConfigError, match="not supported"):
        ActorCritic(BOX_OBS, gym.spaces.MultiBinary(3))


@pytest.mark.parametrize("num_actions", [2, 3, 6])
def test_the_categorical_head_draws_exactly_the_actions_of_categorical_sample(num_actions):
    # Same seed, same draws: the head's Gumbel-max sample is torch.multinomial's one-sample path (argmax p / E,
    # E ~ Exponential(1)), so a seeded run acts as with Categorical(logits=...).sample().
    from torch.distributions import Categorical

    from pglab.networks.distributions import CategoricalHead

    head = CategoricalHead(8, num_actions)
    with torch.no_grad():
        head.logits.weight.normal_(0.0, 2.0)  # far from uniform, as a trained policy is
        for seed in range(20):
            features = torch.randn(512, 8, generator=torch.Generator().manual_seed(1000 + seed))
            torch.manual_seed(seed)
            actions, log_probs = head.sample(features)
            after_head = torch.get_rng_state()
            torch.manual_seed(seed)
            reference = Categorical(logits=head.logits(features)).sample()
            assert torch.equal(actions, reference)
            assert torch.equal(torch.get_rng_state(), after_head)  # the same number of draws
            assert torch.equal(log_probs, Categorical(logits=head.logits(features)).log_prob(actions))


@pytest.mark.parametrize("activation", ["fast_tanh", "tanh", "relu", "elu", "gelu"])
@pytest.mark.parametrize("shared_trunk", [False, True])
@pytest.mark.parametrize(
    "space", [gym.spaces.Discrete(3), gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)]
)
def test_the_direct_layer_path_equals_calling_the_modules_bit_for_bit(activation, shared_trunk, space):
    """`act`, `value` and `evaluate_actions` run an MLP trunk's layers' `forward` directly (`run_trunk`); their
    outputs and gradients equal those of calling the trunk and head modules, bit for bit."""
    torch.manual_seed(0)
    policy = ActorCritic(BOX_OBS, space, activation=activation, shared_trunk=shared_trunk)
    obs = torch.randn(256, 4)
    actions = policy.distribution(obs).sample()

    def by_modules():
        features = policy.actor_trunk(obs)
        if isinstance(space, gym.spaces.Discrete):
            logits = policy.action_head.logits(features)
            log_p = logits - logits.logsumexp(dim=-1, keepdim=True)
            log_probs = log_p.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        else:
            log_probs = policy.action_head(features).log_prob(actions)
        values = policy.value_head(features if shared_trunk else policy.critic_trunk(obs)).squeeze(-1)
        return log_probs, values

    log_probs, _, values = policy.evaluate_actions(obs, actions)
    expected_log_probs, expected_values = by_modules()
    assert torch.equal(log_probs, expected_log_probs) and torch.equal(values, expected_values)
    assert torch.equal(policy.value(obs), expected_values)
    grads = torch.autograd.grad((log_probs + values).sum(), list(policy.parameters()))
    expected = torch.autograd.grad((expected_log_probs + expected_values).sum(), list(policy.parameters()))
    assert all(torch.equal(g, e) for g, e in zip(grads, expected, strict=True))
    with torch.no_grad():
        torch.manual_seed(1)
        sampled, sampled_log_probs, sampled_values = policy.act(obs)
    assert torch.equal(sampled_values, expected_values)
    assert torch.equal(sampled_log_probs, policy.evaluate_actions(obs, sampled)[0])


def test_hooks_on_a_trunks_layers_or_global_ones_still_run():
    """Where a hook is registered (a profiler's, a user's), the layers are called as modules and the hook runs."""
    torch.manual_seed(0)
    policy = ActorCritic(BOX_OBS, gym.spaces.Discrete(2))
    obs = torch.randn(8, 4)
    expected = policy.evaluate_actions(obs, torch.zeros(8, dtype=torch.long))
    seen = []
    handles = [
        policy.actor_trunk[2].register_forward_hook(lambda module, args, output: seen.append("actor layer")),
        policy.value_head.register_forward_pre_hook(lambda module, args: seen.append("value head")),
        torch.nn.modules.module.register_module_forward_hook(
            lambda module, args, output: seen.append(type(module).__name__)
        ),
    ]
    try:
        outputs = policy.evaluate_actions(obs, torch.zeros(8, dtype=torch.long))
    finally:
        for handle in handles:
            handle.remove()
    assert all(torch.equal(a, b) for a, b in zip(outputs, expected, strict=True))
    assert seen.count("actor layer") == 1 and seen.count("value head") == 1
    assert seen.count("Linear") == 6  # the global hook saw every linear layer: 2 + 2 in the trunks, 2 heads
    seen.clear()
    policy.evaluate_actions(obs, torch.zeros(8, dtype=torch.long))
    assert seen == []


def _trunk_nodes(output: torch.Tensor) -> int:
    """How many autograd nodes of the one-node trunk pass the graph of `output` holds."""
    seen, stack, count = set(), [output.grad_fn], 0
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        count += type(node).__name__ == "_TrunkFunctionBackward"
        stack.extend(next_node for next_node, _ in node.next_functions)
    return count


@pytest.mark.parametrize("activation", ["fast_tanh", "tanh", "relu"])
@pytest.mark.parametrize(
    ("hidden_sizes", "rows"), [((64, 64), 256), ((64, 64), 2), ((16,), 7), ((32, 16, 8), 1000), ((5, 3), 33)]
)
@pytest.mark.parametrize("input_grad", [False, True])
def test_a_trunk_recorded_as_one_node_gives_the_modules_values_and_gradients_bit_for_bit(
    activation, hidden_sizes, rows, input_grad
):
    """Under autograd an MLP trunk runs as one node (`_TrunkFunction`), whose values and gradients (of the
    weights, the biases and, where it needs one, the input) are those of calling its modules, bit for bit."""
    torch.manual_seed(0)
    trunk = build_mlp(4, list(hidden_sizes), activation)
    obs = (torch.randn(rows, 4) * 3).requires_grad_(input_grad)
    upstream = torch.randn(rows, hidden_sizes[-1])
    features = run_trunk(trunk, obs)
    expected = trunk(obs)
    assert _trunk_nodes(features) == 1 and _trunk_nodes(expected) == 0
    assert torch.equal(features, expected)
    with torch.no_grad():  # the direct pass without autograd
        assert torch.equal(run_trunk(trunk, obs), expected)
        assert torch.equal(run_trunk(trunk, obs[:1]), trunk(obs[:1]))
    inputs = [*trunk.parameters(), *([obs] if input_grad else [])]
    grads = torch.autograd.grad(features, inputs, upstream)
    expected_grads = torch.autograd.grad(expected, inputs, upstream)
    assert all(torch.equal(g, e) for g, e in zip(grads, expected_grads, strict=True))


def test_a_trunk_runs_layer_by_layer_where_one_node_could_round_differently_or_nothing_is_recorded():
    torch.manual_seed(0)
    obs = torch.randn(8, 4)
    assert _trunk_nodes(run_trunk(build_mlp(4, [64, 64], "fast_tanh"), obs)) == 1
    cases = {
        "one row": (build_mlp(4, [64, 64], "fast_tanh"), obs[:1]),
        "a layer one wide": (build_mlp(4, [64, 1], "fast_tanh"), obs),
        "an activation it does not know": (build_mlp(4, [64, 64], "elu"), obs),
        "a non-contiguous input that needs a gradient": (
            build_mlp(4, [64], "tanh"),
            torch.randn(4, 8).t().requires_grad_(),
        ),
    }
    for name, (trunk, x) in cases.items():
        out = run_trunk(trunk, x)
        assert _trunk_nodes(out) == 0, name
        assert torch.equal(out, trunk(x)), name
        with torch.no_grad():
            assert torch.equal(run_trunk(trunk, x), trunk(x)), name
    frozen = build_mlp(4, [64, 64], "tanh").requires_grad_(False)
    assert run_trunk(frozen, obs).grad_fn is None
    trunk = build_mlp(4, [64, 64], "fast_tanh")
    with torch.no_grad():
        assert run_trunk(trunk, obs).grad_fn is None


def test_a_double_backward_through_a_trunk_node_raises_and_torch_func_gets_the_modules():
    torch.manual_seed(0)
    trunk = build_mlp(4, [16, 16], "tanh")
    obs = torch.randn(8, 4)
    (grad,) = torch.autograd.grad(run_trunk(trunk, obs).sum(), [trunk[0].weight], create_graph=True)
    with pytest.raises(RuntimeError):  # once_differentiable: no silent wrong second derivative
        grad.sum().backward()
    params = dict(trunk.named_parameters())

    def loss(p):
        return torch.func.functional_call(trunk, p, (obs,)).square().sum()

    grads = torch.func.grad(loss)(params)
    expected = torch.autograd.grad(trunk(obs).square().sum(), list(params.values()))
    assert all(torch.equal(grads[k], e) for k, e in zip(params, expected, strict=True))


def _policies():
    """Policies of every kind `RolloutPolicy` handles: MLP trunks of each activation, shared or not, categorical or
    Gaussian, with or without a critic, a CNN trunk."""
    box = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
    pixels = gym.spaces.Box(0, 255, shape=(1, 36, 36), dtype=np.uint8)
    for activation in ("fast_tanh", "tanh", "relu", "elu"):
        for shared_trunk in (False, True):
            yield (
                f"{activation}-shared{shared_trunk}",
                ActorCritic(
                    BOX_OBS, gym.spaces.Discrete(3), activation=activation, shared_trunk=shared_trunk
                ),
                (8, 4),
            )
    yield "gaussian", ActorCritic(BOX_OBS, box), (8, 4)
    yield "no-critic", ActorCritic(BOX_OBS, gym.spaces.Discrete(2), with_critic=False), (8, 4)
    yield "deep", ActorCritic(BOX_OBS, gym.spaces.Discrete(2), hidden_sizes=[32, 16, 8]), (1, 4)
    yield (
        "cnn",
        ActorCritic(pixels, gym.spaces.Discrete(3), trunk="cnn", hidden_sizes=[16], shared_trunk=True),
        (
            3,
            1,
            36,
            36,
        ),
    )


@pytest.mark.parametrize("name", [name for name, _, _ in _policies()])
def test_a_rollout_policy_acts_and_values_as_the_policy_bit_for_bit(name):
    """`for_rollout` settles once what `act` and `value` look up at every call: over steps with new observations and an
    in-place update of the weights between them, the actions, log-probs and values equal the policy's own, bit for
    bit, from the same random draws."""
    torch.manual_seed(0)
    _, policy, shape = next(p for p in _policies() if p[0] == name)
    observations = [torch.rand(shape) * (255 if len(shape) == 4 else 2) for _ in range(4)]
    with torch.no_grad():
        rollout_policy = policy.for_rollout(observations[0])
        for step, obs in enumerate(observations):
            if step == 2:  # an optimizer's step between rollout steps shows in both
                for parameter in policy.parameters():
                    parameter.add_(0.01)
            torch.manual_seed(step)
            expected = policy.act(obs)
            stream_after = torch.get_rng_state()
            torch.manual_seed(step)
            outputs = rollout_policy.act(obs)
            assert all(torch.equal(a, b) for a, b in zip(outputs, expected, strict=True)), step
            assert torch.equal(torch.get_rng_state(), stream_after)  # the same draws, no more
            assert torch.equal(rollout_policy.value(obs), policy.value(obs))


def test_a_rollout_policy_calls_hooked_layers_and_refuses_autograd():
    """A hook registered before `for_rollout` runs at each of its calls; under autograd it is refused (its passes
    record nothing)."""
    torch.manual_seed(0)
    policy = ActorCritic(BOX_OBS, gym.spaces.Discrete(2))
    seen = []
    handles = [
        policy.actor_trunk[0].register_forward_hook(lambda module, args, output: seen.append("actor")),
        policy.action_head.logits.register_forward_hook(lambda module, args, output: seen.append("logits")),
        policy.value_head.register_forward_hook(lambda module, args, output: seen.append("value")),
    ]
    obs = torch.randn(8, 4)
    try:
        with torch.no_grad():
            torch.manual_seed(1)
            expected = policy.act(obs)
            seen.clear()
            rollout_policy = policy.for_rollout(obs)
            torch.manual_seed(1)
            outputs = rollout_policy.act(obs)
    finally:
        for handle in handles:
            handle.remove()
    assert seen == ["actor", "value", "logits"]
    assert all(torch.equal(a, b) for a, b in zip(outputs, expected, strict=True))
    with pytest.raises(RuntimeError, match="no_grad"):
        policy.for_rollout(obs)
