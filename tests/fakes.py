"""Tiny deterministic envs and policies with known numbers, for tests of the rollout machinery; and a
crafted pickle payload, for tests that checkpoints are loaded without running code."""

import math
import shutil
from pathlib import Path

import gymnasium as gym
import lightning as L
import numpy as np
import torch
from torch import nn


class CounterEnv(gym.Env):
    """Observation = [steps taken in this episode]; reward = that count after the step (1, 2, 3, ...).

    Terminates after `terminate_after` steps (None: never); truncation comes from gymnasium's TimeLimit
    (`max_episode_steps` at registration or make time).
    """

    metadata = {"render_modes": []}

    def __init__(self, terminate_after: int | None = None):
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(1,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.terminate_after = terminate_after
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0], dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        terminated = self.terminate_after is not None and self.t >= self.terminate_after
        return np.array([float(self.t)], dtype=np.float32), float(self.t), terminated, False, {}


gym.register(id="pglab-test/Counter-v0", entry_point=CounterEnv)


class ValueIsTenTimesObs(nn.Module):
    """A policy stub: always action 0 with log-prob log(0.5), value V(s) = 10 * s."""

    has_critic = True

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))

    def value(self, obs):
        return 10.0 * obs[:, 0]

    def act(self, obs):
        n = obs.shape[0]
        return torch.zeros(n, dtype=torch.int64), torch.full((n,), float(np.log(0.5))), self.value(obs)

    def for_rollout(self, obs):
        """The collectors' per-rollout `act` and `value` (`ActorCritic.for_rollout`): the stub's own."""
        return self


class RecordingBoxEnv(gym.Env):
    """1-D Box actions in [-1, 1]; records every action it receives; reward = -|action|; 5-step episodes."""

    metadata = {"render_modes": []}

    def __init__(self):
        self.observation_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self.received: list[np.ndarray] = []
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, dtype=np.float32), {}

    def step(self, action):
        self.received.append(np.array(action))
        self.t += 1
        return np.zeros(2, dtype=np.float32), -float(np.abs(action).sum()), self.t >= 5, False, {}


gym.register(id="pglab-test/RecordingBox-v0", entry_point=RecordingBoxEnv)


class FailingEnv(CounterEnv):
    """CounterEnv that raises after `fail_after` steps of this instance: a job that crashes mid-training."""

    def __init__(self, fail_after: int = 100):
        super().__init__(terminate_after=10)
        self.fail_after = fail_after
        self.total_steps = 0

    def step(self, action):
        self.total_steps += 1
        if self.total_steps > self.fail_after:
            raise RuntimeError(f"FailingEnv failed after {self.fail_after} steps")
        return super().step(action)


gym.register(id="pglab-test/Failing-v0", entry_point=FailingEnv)


class NaNRewardEnv(CounterEnv):
    """CounterEnv whose rewards become NaN after `nan_after` steps of this instance: a diverging update."""

    def __init__(self, nan_after: int = 100):
        super().__init__(terminate_after=10)
        self.nan_after = nan_after
        self.total_steps = 0

    def step(self, action):
        self.total_steps += 1
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, (math.nan if self.total_steps > self.nan_after else reward), terminated, truncated, info


gym.register(id="pglab-test/NaNReward-v0", entry_point=NaNRewardEnv)


class StopAt(L.Callback):
    """Acts as a SIGINT at the end of the first update at or past `env_steps`: the run stops there,
    interrupted, exactly as `pglab.callbacks.signals.StopOnSignals` makes it stop. A run resumed past `env_steps`
    (whose saved config still holds this callback) is left alone."""

    def __init__(self, env_steps: int):
        self.env_steps = env_steps
        self.started_at = 0

    def on_train_start(self, trainer, pl_module) -> None:
        self.started_at = pl_module.collector.env_steps

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if (
            self.started_at < self.env_steps <= pl_module.collector.env_steps
            and pl_module.stop_signal is None
        ):
            pl_module.stop_signal = "SIGINT"


class KeepCheckpoint(L.Callback):
    """Copies the periodic `last.ckpt` to `<env steps>.ckpt` when the next update starts (checkpoint
    callbacks run last, so the copy is made one hook later)."""

    def __init__(self, dirpath: str):
        self.dirpath = Path(dirpath)
        self.copied: set[int] = set()

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        last = self.dirpath / "last.ckpt"
        steps = pl_module.collector.env_steps
        if last.is_file() and steps not in self.copied:
            shutil.copyfile(last, self.dirpath / f"{steps}.ckpt")
            self.copied.add(steps)


class DumpProcessState(L.Callback):
    """At the end of training, each process writes its policy weights and collector facts to
    `<dirpath>/rank-<global rank>.pt` (data-parallel tests compare them)."""

    def __init__(self, dirpath: str):
        self.dirpath = Path(dirpath)

    def on_train_end(self, trainer, pl_module) -> None:
        self.dirpath.mkdir(parents=True, exist_ok=True)
        collector = pl_module.collector
        torch.save(
            {
                "weights": pl_module.policy.state_dict(),
                "env_steps": collector.env_steps,
                "episodes": collector.episodes,
                "seed_offset": collector.seed_offset,
                "world_size": trainer.world_size,
                # a batched env's sub-env indices (offset by the rank) and current observations
                "env_index": getattr(collector.env.unwrapped, "index", None),
                "obs": getattr(collector, "_obs", None)
                if torch.is_tensor(getattr(collector, "_obs", None))
                else None,
            },
            self.dirpath / f"rank-{trainer.global_rank}.pt",
        )


class RunsCode:
    """A pickle payload that runs code when unpickled: it creates the file `marker` (`open(marker, "w")`), so a
    test sees whether loading a checkpoint holding it ran anything."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


class CountsBackwards(L.Callback):
    """Counts the calls of the hooks around each backward pass, and the gradient steps taken."""

    def __init__(self):
        self.before = self.after = 0

    def on_before_backward(self, trainer, pl_module, loss) -> None:
        self.before += 1

    def on_after_backward(self, trainer, pl_module) -> None:
        assert all(p.grad is not None for p in pl_module.policy.parameters())
        self.after += 1
