"""Every algorithm trains every env option end to end at a smoke budget (`python train.py algo=X env=Y`)."""

import itertools
import os
import signal

import numpy as np
import pytest

from pglab.envs.factory import kill_leftover_workers, make_vector_env
from pglab.train import run
from tests.integration.test_configs import ALGOS, ENVS, IMAGE_ENVS


@pytest.mark.parametrize(("algo", "env"), list(itertools.product(ALGOS, ENVS)))
def test_algo_trains_env_at_a_smoke_budget(make_cfg, algo, env):
    extra = []
    if env in IMAGE_ENVS:  # CNN updates are the slow part on a CPU: one or two rollouts are enough here
        extra = ["network=cnn", "total_env_steps=600"]
        extra += {
            "vpg": ["network.shared_trunk=false", "algo.value_updates=5"],
            "reinforce": ["algo.episodes_per_rollout=1"],
        }.get(algo, [])
    if env == "gym":  # any registered id, given on the command line
        extra = ["env.id=MountainCarContinuous-v0"]
    cfg = make_cfg(
        f"algo={algo}", f"env={env}", "debug=smoke", "logger=none", "callbacks.evaluation.episodes=1", *extra
    )
    summary = run(cfg)
    assert summary["status"] == "completed"
    assert summary["progress/env_steps"] >= cfg.total_env_steps
    assert summary["eval/episode_length_mean"] >= 1


def test_atari_observations_are_preprocessed_stacked_and_time_limited_in_agent_steps():
    from pglab.envs.factory import make_vector_env

    env = make_vector_env(
        "ALE/Pong-v5",
        num_envs=1,
        max_episode_steps=5,
        kwargs={"frameskip": 1},
        atari_preprocessing=True,
        frame_stack=4,
        clip_reward=True,
    )
    try:
        obs, _ = env.reset(seed=0)
        assert obs.shape == (1, 4, 84, 84) and obs.dtype == np.uint8
        ale = env.unwrapped.envs[0].unwrapped.ale
        frames_before = ale.getEpisodeFrameNumber()  # noop-reset frames
        for step in range(1, 6):
            obs, _, terminated, truncated, infos = env.step(np.zeros(1, dtype=np.int64))
            assert truncated[0] == (step == 5) and not terminated[0]
            if step == 4:  # four agent steps of four emulator frames each
                assert ale.getEpisodeFrameNumber() - frames_before == 16
        assert infos["final_obs"][0].shape == (4, 84, 84)
    finally:
        env.close()


def interrupting_fork() -> None:
    """An at-fork hook that, when armed, sends SIGINT to this process as it forks (a Ctrl-C landing there)."""
    if ARMED:
        ARMED.clear()
        os.kill(os.getpid(), signal.SIGINT)


ARMED: list[bool] = []
os.register_at_fork(before=interrupting_fork)


def test_a_ctrl_c_while_async_workers_fork_is_delivered_once_they_exist_not_lost():
    # Python drops a KeyboardInterrupt raised in an at-fork handler ("Exception ignored"): a Ctrl-C at that moment
    # used to be lost and the run trained on. The factory holds the signal back while it forks the workers.
    previous = signal.signal(
        signal.SIGINT, signal.default_int_handler
    )  # Python's own, whatever the runner set
    ARMED.append(True)
    try:
        with pytest.raises(KeyboardInterrupt):
            env = make_vector_env("CartPole-v1", num_envs=2, vectorization="async")
            env.close()  # not reached: the held SIGINT is raised as the vector env is returned
        assert not ARMED, "the hook fired during the build"
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler, (
            "the handler before the build is back"
        )
    finally:
        ARMED.clear()
        kill_leftover_workers()
        signal.signal(signal.SIGINT, previous)
