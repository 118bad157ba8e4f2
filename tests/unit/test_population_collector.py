"""The population's batched whole-episode collection (REINFORCE on the torch backend): each member's block of one
batched env plays exactly the episodes of the member's own collector, a member that is not collecting keeps its
rows, and a block that has not played since its seeded first reset has no env state to checkpoint."""

import torch

from pglab.envs.batched.cartpole import CartPole
from pglab.networks.actor_critic import ActorCritic
from pglab.population.collector import PopulationCollector
from pglab.population.network import StackedActorCritic
from pglab.rollout.batched_collector import BatchedRolloutCollector

N = 8  # sub-envs per member (the shapes of the CartPole presets: 8 envs, a 64x64 MLP)
EPISODES = 12  # per rollout: more than N, so sub-envs start second episodes and some go idle


def policies() -> list[ActorCritic]:
    space = CartPole(1)
    members = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        members.append(
            ActorCritic(
                space.single_observation_space,
                space.single_action_space,
                hidden_sizes=[64, 64],
                with_critic=False,
            )
        )
    return members


def assert_same_rollout(ours, theirs):
    for name in ("obs", "actions", "log_probs", "rewards", "terminated", "truncated", "mask", "next_values"):
        assert torch.equal(getattr(ours, name), getattr(theirs, name)), name
    assert torch.equal(ours.episode_returns, theirs.episode_returns)
    assert torch.equal(ours.episode_lengths, theirs.episode_lengths)


def test_each_block_plays_its_members_own_episodes_and_a_waiting_block_keeps_its_rows():
    # Member 0 has played a rollout; member 1 resumes from a checkpoint without env state (new episodes keyed by
    # `seed + env_steps`, as its own collector starts them).
    members = [BatchedRolloutCollector(CartPole(N), seed=3), BatchedRolloutCollector(CartPole(N), seed=5)]
    own = [BatchedRolloutCollector(CartPole(N), seed=3), BatchedRolloutCollector(CartPole(N), seed=5)]
    nets = policies()
    generator = torch.Generator().manual_seed(11)
    torch.set_rng_state(generator.get_state())
    own[0].collect_episodes(nets[0], EPISODES)
    for collector in (members[0], own[0]):
        collector.load_state_dict(own[0].state_dict())
    for collector in (members[1], own[1]):
        collector.load_state_dict({"env_steps": 100, "episodes": 0, "env_state": None})
    population = PopulationCollector(CartPole(2 * N), members)
    population.continue_members()
    stacked = StackedActorCritic(nets)
    generators = [torch.Generator().manual_seed(21), torch.Generator().manual_seed(22)]

    assert population.member_state(1) == (None, None)  # its own run's checkpoint holds none either
    state, obs = population.member_state(0)
    assert torch.equal(obs, own[0]._obs) and torch.equal(state["episode"], own[0].base.episode)

    # Member 0 collects alone: member 1's rows stay as they were, and it draws nothing.
    before = population.env.state_dict()
    draws = generators[1].get_state()
    torch.set_rng_state(generators[0].get_state())
    theirs = own[0].collect_episodes(nets[0], EPISODES)
    ours = population.collect_episodes(stacked, generators, EPISODES, training=[0])
    assert_same_rollout(ours[0], theirs)
    assert torch.equal(generators[1].get_state(), draws)
    after = population.env.state_dict()
    for name in ("episode", "elapsed", "episode_return"):
        assert torch.equal(after[name][N:], before[name][N:]), name
    for name, value in after["state"].items():
        assert torch.equal(value[N:], before["state"][name][N:]), name
    assert population.member_state(1) == (None, None)

    # Both collect, then both again: each block's episodes are its own collector's, step for step.
    for _ in range(2):
        expected = {}
        for k in (0, 1):
            torch.set_rng_state(generators[k].get_state())
            expected[k] = own[k].collect_episodes(nets[k], EPISODES)
        ours = population.collect_episodes(stacked, generators, EPISODES, training=[0, 1])
        for k in (0, 1):
            assert_same_rollout(ours[k], expected[k])
            assert members[k].env_steps == own[k].env_steps and members[k].episodes == own[k].episodes
            state, obs = population.member_state(k)
            assert torch.equal(obs, own[k]._obs)
            for name, value in own[k].base.state_dict()["state"].items():
                assert torch.equal(state["state"][name], value), name
