"""The batched collector against the gymnasium one: with gymnasium CartPole sub-envs that start each episode where
the batched CartPole's counter-based resets start it, the same policy (same torch seed) gives identical rollouts,
field by field, through terminations, time-limit truncations (bootstrapped from V(final obs)) and resets, for
fixed-length rollouts and for REINFORCE's whole-episode collection."""

import functools

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.wrappers.vector import RecordEpisodeStatistics

from pglab.envs.batched.cartpole import CartPole
from pglab.envs.batched.counter_rng import uniform
from pglab.envs.factory import make_vector_env
from pglab.networks.actor_critic import ActorCritic
from pglab.rollout.batched_collector import BatchedRolloutCollector, make_collector
from pglab.rollout.collector import RolloutCollector

LIMIT = 40  # a short time limit, so that rollouts hold truncations as well as terminations


class CounterStartedCartPole(gym.Wrapper):
    """Gymnasium's CartPole whose k-th episode after `reset(seed=s)` starts at the batched CartPole's start state of
    sub-env `index`, episode k (the vector env seeds sub-env i with s + i: `index` recovers s)."""

    def __init__(self, index: int):
        super().__init__(gym.make("CartPole-v1", max_episode_steps=LIMIT))
        self.index, self.base_seed, self.episode = index, 0, -1

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if seed is not None:
            self.base_seed, self.episode = seed - self.index, -1
        self.episode += 1
        start = uniform(self.base_seed, torch.tensor([self.index]), torch.tensor([self.episode]), 4)
        self.env.unwrapped.state = (-0.05 + 0.1 * start[0]).numpy()
        return self.env.unwrapped.state.astype(np.float32), {}


def policy(seed: int = 0) -> ActorCritic:
    torch.manual_seed(seed)
    space_obs, space_act = CartPole(1).single_observation_space, CartPole(1).single_action_space
    return ActorCritic(space_obs, space_act, hidden_sizes=[16])


def both(num_envs: int):
    gym_env = RecordEpisodeStatistics(
        SyncVectorEnv(
            [functools.partial(CounterStartedCartPole, i) for i in range(num_envs)],
            autoreset_mode=AutoresetMode.SAME_STEP,
        )
    )
    return RolloutCollector(gym_env, seed=7), BatchedRolloutCollector(
        CartPole(num_envs, max_episode_steps=LIMIT), seed=7
    )


def assert_same_rollouts(a, b):
    for name in (
        "obs",
        "actions",
        "log_probs",
        "values",
        "next_values",
        "rewards",
        "terminated",
        "truncated",
        "mask",
    ):
        x, y = getattr(a, name), getattr(b, name)
        assert x.shape == y.shape and x.dtype == y.dtype, name
        assert torch.equal(x, y), name
    assert torch.equal(a.episode_returns, b.episode_returns)
    assert torch.equal(a.episode_lengths, b.episode_lengths)


def test_fixed_length_rollouts_equal_the_gymnasium_collectors():
    reference, batched = both(num_envs=6)
    net = policy()
    truncations = terminations = 0
    for _ in range(8):
        torch.manual_seed(1)
        a = reference.collect(net, num_steps=32)
        torch.manual_seed(1)
        b = batched.collect(net, num_steps=32)
        assert_same_rollouts(a, b)
        truncations += int(b.truncated.sum())
        terminations += int(b.terminated.sum())
    assert truncations > 5 and terminations > 5
    assert (reference.env_steps, reference.episodes) == (batched.env_steps, batched.episodes)
    assert list(reference.recent_returns) == list(batched.recent_returns)


@pytest.mark.parametrize("num_envs, episodes", [(4, 9), (8, 3)])
def test_whole_episode_rollouts_equal_the_gymnasium_collectors(num_envs, episodes):
    reference, batched = both(num_envs)
    net = policy(1)
    for _ in range(3):
        torch.manual_seed(2)
        a = reference.collect_episodes(net, num_episodes=episodes)
        torch.manual_seed(2)
        b = batched.collect_episodes(net, num_episodes=episodes)
        assert_same_rollouts(a, b)
        assert len(b.episode_returns) == episodes
        assert b.mask.sum() == b.episode_lengths.sum()
    assert (reference.env_steps, reference.episodes) == (batched.env_steps, batched.episodes)


def test_the_factory_gives_batched_envs_and_their_collector_for_vectorization_torch():
    env = make_vector_env("CartPole-v1", num_envs=3, vectorization="torch", normalize_obs=True)
    collector = make_collector(env, seed=0)
    assert isinstance(collector, BatchedRolloutCollector)
    rollout = collector.collect(policy(), num_steps=5)
    assert rollout.obs.shape == (5, 3, 4) and rollout.obs.abs().max() <= 10.0
    assert collector.env_steps == 15
    assert isinstance(make_collector(make_vector_env("CartPole-v1", num_envs=2), seed=0), RolloutCollector)


def test_options_the_batched_envs_lack_are_refused_in_one_line_naming_the_keys():
    from pglab.errors import ConfigError

    with pytest.raises(ConfigError, match=r"env.frame_stack cannot be used with env.vectorization=torch"):
        make_vector_env("CartPole-v1", num_envs=2, vectorization="torch", frame_stack=4)
    with pytest.raises(ConfigError, match=r"has no batched version of env.id='LunarLander-v3'"):
        make_vector_env("LunarLander-v3", num_envs=2, vectorization="torch")


def test_a_checkpoint_of_one_backend_continues_on_the_other_with_new_episodes():
    batched = BatchedRolloutCollector(CartPole(4), seed=1)
    batched.collect(policy(), num_steps=8)
    gymnasium_side = make_collector(make_vector_env("CartPole-v1", num_envs=4), seed=1)
    gymnasium_side.load_state_dict(batched.state_dict())
    assert gymnasium_side.env_steps == 32 and gymnasium_side.collect(policy(), num_steps=4).obs.shape == (
        4,
        4,
        4,
    )
    gymnasium_side.collect(policy(), num_steps=8)
    back = BatchedRolloutCollector(CartPole(4), seed=1)
    back.load_state_dict(gymnasium_side.state_dict())
    assert back.env_steps == 80 and back.collect(policy(), num_steps=2).obs.shape == (2, 4, 4)
