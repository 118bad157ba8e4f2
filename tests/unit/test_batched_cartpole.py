"""Batched CartPole-v1 against gymnasium's (tests/batched_checks.py), plus what every batched env shares: the
counter-based resets and the checkpoint round trip, checked here on CartPole."""

import numpy as np
import pytest
import torch

from pglab.envs.batched import make_batched_env
from pglab.envs.batched.cartpole import CartPole
from pglab.envs.batched.counter_rng import (
    _uniform_torch,
    env_keys,
    uniform,
    uniform_from_keys,
    uniform_reference,
)
from tests.batched_checks import check_episode_statistics, check_one_step, check_trajectories


def random_state(rng: np.random.Generator, env) -> None:
    # beyond the termination bounds (|x| 2.4, |theta| 0.21) on both sides, and fast
    env.state = rng.uniform([-2.6, -4.0, -0.25, -4.0], [2.6, 4.0, 0.25, 4.0])
    env.steps_beyond_terminated = None


def test_one_step_from_random_states_matches_gymnasium():
    check_one_step(CartPole, random_state, count=10_000)


def test_trajectories_match_gymnasium_through_terminations_truncations_and_resets():
    # random actions; a 60-step limit truncates some episodes, a 12-step one most
    counts = check_trajectories(lambda n: CartPole(n, max_episode_steps=60), steps=5_000, num_envs=16)
    assert counts["terminated"] > 500 and counts["steps"] == 80_000
    counts = check_trajectories(lambda n: CartPole(n, max_episode_steps=12), steps=300, num_envs=16)
    assert counts["truncated"] > 50


def test_random_policy_episode_statistics_match_gymnasium():
    result = check_episode_statistics(CartPole, episodes=2_000)
    assert 18 < result["length"][0] < 26  # a random policy keeps the pole up about 22 steps


def test_the_counter_generator_equals_its_plain_python_reference():
    index, episode = torch.tensor([0, 1, 7, 4095, 123_456]), torch.tensor([0, 3, 2**33, 1, 99])
    values = uniform(2**63 + 5, index, episode, 3)
    reference = [
        [uniform_reference(2**63 + 5, i, e, j) for j in range(3)]
        for i, e in zip(index.tolist(), episode.tolist(), strict=True)
    ]
    assert values.tolist() == reference
    later = uniform(9, index, episode, 2, first=torch.tensor([0, 1, 2, 3, 4]))
    assert later.tolist() == [
        [uniform_reference(9, i, e, f + j) for j in range(2)]
        for i, e, f in zip(index.tolist(), episode.tolist(), range(5), strict=True)
    ]
    many = uniform(0, torch.arange(200_000), torch.zeros(200_000, dtype=torch.int64), 1)
    assert abs(many.mean().item() - 0.5) < 0.003 and abs(many.var().item() - 1 / 12) < 0.001
    assert many.unique().numel() == 200_000


def test_the_torch_counter_arithmetic_an_accelerator_runs_gives_the_cpus_numpy_bits():
    # The CPU draws through numpy's uint64; other devices through torch's int64 with masked shifts.
    generator = torch.Generator().manual_seed(0)
    index = torch.randint(0, 2**40, (5_000,), generator=generator)
    episode = torch.randint(0, 2**62, (5_000,), generator=generator)
    keys = env_keys(2**64 - 1, index)
    first = torch.randint(0, 2**40, (5_000,), generator=generator)
    for draws, start in ((1, 0), (4, 0), (3, 17), (2, first)):
        numpy_bits = uniform_from_keys(keys, episode, draws, start)
        torch_bits = _uniform_torch(keys, episode, draws, start)
        assert numpy_bits.dtype == torch_bits.dtype == torch.float64
        assert numpy_bits.shape == (5_000, draws)
        assert torch.equal(numpy_bits, torch_bits)
    # a strided selection of sub-envs (as a sparse reset's rows) and a single one
    assert torch.equal(
        uniform_from_keys(keys[::7], episode[::7], 2), _uniform_torch(keys[::7], episode[::7], 2)
    )
    assert (
        uniform_from_keys(keys[:1], episode[:1], 1).tolist()
        == _uniform_torch(keys[:1], episode[:1], 1).tolist()
    )


def test_a_sub_envs_episodes_do_not_depend_on_the_number_of_envs():
    def starts(num_envs: int, steps: int) -> list[list[float]]:
        env = CartPole(num_envs)
        obs, _ = env.reset(seed=3)
        firsts = [obs[2].tolist()]
        for _ in range(steps):
            obs, _, terminated, truncated, _ = env.step(torch.zeros(num_envs, dtype=torch.int64))
            if bool(terminated[2] | truncated[2]):
                firsts.append(obs[2].tolist())
        return firsts

    few, many = starts(4, 200), starts(64, 200)
    assert len(few) > 10 and few == many


def test_a_checkpoint_resumes_every_episode_bit_for_bit():
    generator = torch.Generator().manual_seed(0)
    actions = torch.randint(2, (300, 32), generator=generator)
    env = CartPole(32)
    env.reset(seed=11)
    for t in range(100):
        env.step(actions[t])
    saved = {k: v for k, v in env.state_dict().items()}
    expected = [env.step(actions[t])[0] for t in range(100, 300)]
    resumed = make_batched_env("CartPole-v1", 32)
    resumed.load_state_dict(saved)
    assert all(torch.equal(resumed.step(actions[t])[0], expected[t - 100]) for t in range(100, 300))


def test_infos_report_final_observations_and_episode_statistics_as_gymnasium_does():
    env = CartPole(8, max_episode_steps=5)
    env.reset(seed=0)
    for _ in range(4):
        _, _, _, truncated, infos = env.step(torch.ones(8, dtype=torch.int64))
        assert not truncated.any() and not infos["_episode"].any()
    obs, rewards, terminated, truncated, infos = env.step(torch.ones(8, dtype=torch.int64))
    assert truncated.all() and not terminated.any()
    assert infos["episode"]["r"].tolist() == [5.0] * 8 and infos["episode"]["l"].tolist() == [5] * 8
    assert not torch.equal(infos["final_obs"], obs) and (obs.abs() <= 0.05).all()  # the next episodes' starts


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_the_same_episodes_on_every_device(device):
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU: torch.cuda.is_available() is False")
    cpu, other = CartPole(64), CartPole(64, device=device)
    cpu_obs, _ = cpu.reset(seed=5)
    other_obs, _ = other.reset(seed=5)
    assert torch.equal(cpu_obs, other_obs.cpu())
    assert other_obs.device.type == device


def test_the_cpu_s_sparse_resets_and_the_accelerator_s_dense_resets_give_the_same_episodes():
    actions = torch.randint(2, (400, 64), generator=torch.Generator().manual_seed(4))
    sparse, dense = CartPole(64), CartPole(64)
    dense.sparse_resets = False
    sparse.reset(seed=8)
    dense.reset(seed=8)
    for t in range(400):
        a, b = sparse.step(actions[t]), dense.step(actions[t])
        assert all(torch.equal(x, y) for x, y in zip(a[:4], b[:4], strict=True))
        assert torch.equal(a[4]["final_obs"], b[4]["final_obs"])
    assert int(sparse.episode.sum()) > 500
