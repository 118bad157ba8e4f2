"""Return and advantage estimators against slow, per-env Python loops."""

import pytest
import torch

from pglab.rollout.advantages import (
    discounted_returns,
    episode_start_values,
    explained_variance,
    generalized_advantage_estimate,
    standardize,
)


def random_rollout(T=37, N=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    rewards = torch.randn(T, N, generator=g)
    values = torch.randn(T, N, generator=g)
    next_values = torch.randn(T, N, generator=g)
    u = torch.rand(T, N, generator=g)
    terminated = u < 0.08
    truncated = (u >= 0.08) & (u < 0.15)
    return rewards, values, next_values, terminated, truncated


def reference_returns(rewards, next_values, terminated, truncated, gamma):
    """Per env, walk backwards with plain floats."""
    T, N = rewards.shape
    out = torch.zeros(T, N)
    for n in range(N):
        g = None
        for t in reversed(range(T)):
            r = rewards[t, n].item()
            if terminated[t, n]:
                g = r
            elif truncated[t, n] or t == T - 1:
                g = r + gamma * next_values[t, n].item()
            else:
                g = r + gamma * g
            out[t, n] = g
    return out


def reference_gae(rewards, values, next_values, terminated, truncated, gamma, lam):
    T, N = rewards.shape
    out = torch.zeros(T, N)
    for n in range(N):
        a = 0.0
        for t in reversed(range(T)):
            bootstrap = 0.0 if terminated[t, n] else next_values[t, n].item()
            delta = rewards[t, n].item() + gamma * bootstrap - values[t, n].item()
            cut = terminated[t, n] or truncated[t, n] or t == T - 1
            a = delta + (0.0 if cut else gamma * lam * a)
            out[t, n] = a
    return out


@pytest.mark.parametrize("gamma", [0.9, 0.99, 1.0])
def test_discounted_returns_match_reference(gamma):
    rewards, _, next_values, terminated, truncated = random_rollout()
    expected = reference_returns(rewards, next_values, terminated, truncated, gamma)
    actual = discounted_returns(rewards, next_values, terminated, truncated, gamma)
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)


def test_discounted_returns_by_hand():
    # One env: rewards 1, 2, 3, 4; terminated after step 1; the rollout ends at step 3 with V(s_4) = 10.
    rewards = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    terminated = torch.tensor([[False], [True], [False], [False]])
    truncated = torch.zeros_like(terminated)
    next_values = torch.tensor([[99.0], [99.0], [99.0], [10.0]])
    returns = discounted_returns(rewards, next_values, terminated, truncated, 0.5)
    assert returns[:, 0].tolist() == [1 + 0.5 * 2, 2.0, 3 + 0.5 * (4 + 0.5 * 10), 4 + 0.5 * 10]


@pytest.mark.parametrize(("gamma", "lam"), [(0.99, 0.95), (0.9, 0.0), (1.0, 1.0), (0.98, 0.8)])
def test_gae_matches_reference(gamma, lam):
    rewards, values, next_values, terminated, truncated = random_rollout(seed=1)
    expected = reference_gae(rewards, values, next_values, terminated, truncated, gamma, lam)
    actual = generalized_advantage_estimate(rewards, values, next_values, terminated, truncated, gamma, lam)
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)


def test_gae_termination_does_not_bootstrap_but_truncation_does():
    # Single step episodes: reward 1, V(s)=0, V(s')=5.
    rewards = torch.ones(1, 3)
    values = torch.zeros(1, 3)
    next_values = torch.full((1, 3), 5.0)
    terminated = torch.tensor([[True, False, False]])
    truncated = torch.tensor([[False, True, False]])
    adv = generalized_advantage_estimate(rewards, values, next_values, terminated, truncated, 0.9, 0.95)
    assert adv[0].tolist() == pytest.approx([1.0, 1.0 + 0.9 * 5.0, 1.0 + 0.9 * 5.0])


def test_gae_trace_is_cut_at_episode_boundaries():
    # Step 0 truncates; step 1 starts a new episode with a large reward that must not leak into step 0.
    rewards = torch.tensor([[0.0], [100.0]])
    values = torch.zeros(2, 1)
    next_values = torch.tensor([[2.0], [0.0]])
    terminated = torch.tensor([[False], [True]])
    truncated = torch.tensor([[True], [False]])
    adv = generalized_advantage_estimate(rewards, values, next_values, terminated, truncated, 1.0, 1.0)
    assert adv[:, 0].tolist() == [2.0, 100.0]


def test_gae_with_lambda_one_is_reward_to_go_minus_values():
    # Holds when next_values is V(s_{t+1}) inside episodes, as the collector builds it.
    rewards, values, next_values, terminated, truncated = random_rollout(seed=2)
    inside = ~(terminated | truncated)[:-1]
    next_values[:-1] = torch.where(inside, values[1:], next_values[:-1])
    gae = generalized_advantage_estimate(rewards, values, next_values, terminated, truncated, 0.97, 1.0)
    rtg = discounted_returns(rewards, next_values, terminated, truncated, 0.97)
    torch.testing.assert_close(gae, rtg - values, rtol=1e-4, atol=1e-4)


def test_episode_start_values_broadcasts_whole_episode_return():
    x = torch.tensor([[5.0, 1.0], [4.0, 2.0], [3.0, 3.0], [2.0, 4.0], [1.0, 5.0]])
    terminated = torch.tensor([[False, False], [True, False], [False, True], [False, False], [False, False]])
    truncated = torch.tensor([[False, False], [False, False], [False, False], [True, False], [False, False]])
    out = episode_start_values(x, terminated, truncated)
    # env 0: episodes [0,1], [2,3], [4]; env 1: [0,1,2], [3,4]
    assert out[:, 0].tolist() == [5.0, 5.0, 3.0, 3.0, 1.0]
    assert out[:, 1].tolist() == [1.0, 1.0, 1.0, 4.0, 4.0]


def test_standardize_and_explained_variance():
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    s = standardize(x)
    assert s.mean().item() == pytest.approx(0.0, abs=1e-6)
    assert s.std().item() == pytest.approx(1.0, abs=1e-5)
    assert explained_variance(x, x) == pytest.approx(1.0)
    assert explained_variance(torch.full((4,), x.mean().item()), x) == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("T", "N", "gamma", "lam"), [(1, 3, 0.99, 1.0), (5, 8, 0.99, 1.0), (300, 4, 0.97, 0.9)]
)
def test_the_estimators_give_the_bits_of_the_recursion_written_step_by_step(T, N, gamma, lam):
    """The estimators compute each step's factors for all steps at once; every element goes through the same float32
    operations as in the recursion written step by step (the seeded results recorded with it stay the same)."""
    rewards, values, next_values, terminated, truncated = random_rollout(T, N, seed=T)
    not_terminated = (~terminated).float()
    continues = (~(terminated | truncated)).float()
    deltas = rewards + gamma * next_values * not_terminated - values
    expected_gae, running = torch.empty_like(rewards), torch.zeros_like(rewards[0])
    expected_returns, next_return = torch.empty_like(rewards), next_values[-1]
    for t in range(T - 1, -1, -1):
        running = deltas[t] + gamma * lam * continues[t] * running
        expected_gae[t] = running
        successor = continues[t] * next_return + (1.0 - continues[t]) * next_values[t]
        next_return = rewards[t] + gamma * not_terminated[t] * successor
        expected_returns[t] = next_return
    gae = generalized_advantage_estimate(rewards, values, next_values, terminated, truncated, gamma, lam)
    assert torch.equal(gae, expected_gae)
    assert torch.equal(
        discounted_returns(rewards, next_values, terminated, truncated, gamma), expected_returns
    )
