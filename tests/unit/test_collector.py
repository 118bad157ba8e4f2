"""The collector on a fake env with known rewards: env-step counting, termination vs truncation,
bootstrap values from the final observation, episode statistics, whole-episode collection."""

import pytest
import torch

from pglab.envs.factory import make_vector_env
from pglab.rollout.collector import RolloutCollector
from tests.fakes import ValueIsTenTimesObs


def collector_for(num_envs=2, **env_kwargs):
    max_steps = env_kwargs.pop("max_episode_steps", None)
    env = make_vector_env(
        "pglab-test/Counter-v0", num_envs=num_envs, max_episode_steps=max_steps, kwargs=env_kwargs
    )
    return RolloutCollector(env, seed=0)


def test_env_steps_are_counted_exactly_across_rollouts():
    collector = collector_for(num_envs=3, terminate_after=4)
    policy = ValueIsTenTimesObs()
    for k in range(1, 4):
        rollout = collector.collect(policy, num_steps=5)
        assert rollout.rewards.shape == (5, 3)
        assert collector.env_steps == 15 * k
    # 15 steps per env, an episode every 4 steps: 3 episodes per env completed.
    assert collector.episodes == 9


def test_termination_cuts_bootstrap_and_records_raw_returns():
    collector = collector_for(num_envs=2, terminate_after=3)
    rollout = collector.collect(ValueIsTenTimesObs(), num_steps=7)
    # obs t=0..6 per env: 0,1,2 | 0,1,2 | 0 (same-step autoreset: no wasted reset step)
    assert rollout.obs[:, 0, 0].tolist() == [0, 1, 2, 0, 1, 2, 0]
    assert rollout.rewards[:, 0].tolist() == [1, 2, 3, 1, 2, 3, 1]
    assert rollout.terminated[:, 0].tolist() == [False, False, True, False, False, True, False]
    assert not rollout.truncated.any()
    # next_values: V(s_{t+1}) = 10 * next obs inside episodes, 0 at terminations, V(obs after rollout) at the end
    assert rollout.next_values[:, 0].tolist() == [10, 20, 0, 10, 20, 0, 10]
    assert rollout.values[:, 0].tolist() == [0, 10, 20, 0, 10, 20, 0]
    assert rollout.episode_returns.tolist() == [6.0, 6.0, 6.0, 6.0]
    assert rollout.episode_lengths.tolist() == [3, 3, 3, 3]
    assert rollout.mask.all()


def test_truncation_bootstraps_from_the_final_observation():
    collector = collector_for(num_envs=1, max_episode_steps=2)
    rollout = collector.collect(ValueIsTenTimesObs(), num_steps=4)
    assert rollout.truncated[:, 0].tolist() == [False, True, False, True]
    assert not rollout.terminated.any()
    # At the truncated step the next obs returned is the reset obs (0); the bootstrap must use the final
    # obs (2) instead: V = 20.
    assert rollout.obs[:, 0, 0].tolist() == [0, 1, 0, 1]
    assert rollout.next_values[:, 0].tolist() == [10, 20, 10, 20]


def test_collect_episodes_returns_exactly_the_requested_complete_episodes():
    collector = collector_for(num_envs=3, terminate_after=4)
    rollout = collector.collect_episodes(ValueIsTenTimesObs(), num_episodes=5)
    assert len(rollout.episode_returns) == 5
    assert rollout.episode_returns.tolist() == [10.0] * 5
    # envs 0 and 1 play two episodes each (8 steps); env 2 plays one (4 steps) then idles until step 8.
    assert rollout.mask.sum(0).tolist() == [8, 8, 4]
    assert rollout.num_steps == 8
    assert collector.env_steps == 8 * 3  # idle steps are real env steps
    # Every masked-in episode is complete: each env's active segment ends with a termination.
    for n, length in enumerate([8, 8, 4]):
        assert rollout.terminated[length - 1, n]


@pytest.mark.parametrize("num_envs", [1, 4])
def test_collect_episodes_with_more_envs_than_episodes(num_envs):
    collector = collector_for(num_envs=num_envs, terminate_after=3)
    rollout = collector.collect_episodes(ValueIsTenTimesObs(), num_episodes=2)
    assert len(rollout.episode_returns) == 2
    assert rollout.mask.sum().item() == 6


def test_box_actions_are_clipped_for_the_env_but_stored_raw():
    env = make_vector_env("pglab-test/RecordingBox-v0", num_envs=2)
    collector = RolloutCollector(env, seed=0)

    class Wild(ValueIsTenTimesObs):
        def act(self, obs):
            n = obs.shape[0]
            return torch.tensor([[7.0], [-0.5]])[:n], torch.zeros(n), torch.zeros(n)

    rollout = collector.collect(Wild(), num_steps=3)
    assert rollout.actions[:, :, 0].tolist() == [[7.0, -0.5]] * 3  # log-probs refer to the raw sample
    received = [float(a[0]) for sub_env in env.unwrapped.envs for a in sub_env.unwrapped.received]
    assert received == [1.0, 1.0, 1.0, -0.5, -0.5, -0.5]  # the env only ever saw in-bounds actions
    assert rollout.rewards[:, 0].tolist() == [-1.0] * 3
