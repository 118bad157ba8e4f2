"""`BatchedEnv`: a gymnasium `VectorEnv` whose sub-envs are rows of state tensors, stepped as one tensor program.

The whole vector env is pure tensor code on one device (cpu or cuda): `step` takes the actions as a tensor and
returns observations, rewards and flags as tensors on that device, with no Python loop over sub-envs and no
host synchronization. A subclass writes an env's rules as three pure functions of batched tensors:

- `initial_state(uniform)`: start states from `(N, reset_draws)` uniform numbers;
- `dynamics(state, actions)`: `(next_state, rewards, terminated)`;
- `observe(state)`: float32 observations as gymnasium returns them.

The base class adds what gymnasium's `TimeLimit`, same-step autoreset and `RecordEpisodeStatistics` add to a
gymnasium env, in the same form:

- truncation when a sub-env's episode reaches `max_episode_steps` (both flags can be set on the same step, as
  with `TimeLimit`); `terminated` and `truncated` stay separate;
- same-step autoreset (`metadata["autoreset_mode"] == SAME_STEP`): a sub-env whose episode ended returns the first
  observation of its next episode, and `infos["final_obs"]` holds the final observations (valid where
  `infos["_final_obs"]`);
- `infos["episode"] = {"r": return, "l": length}` of the episodes that ended (valid where `infos["_episode"]`),
  from the raw rewards, as `RecordEpisodeStatistics` reports them.

Randomness: sub-env i's k-th episode starts from `counter_rng.uniform(seed, i, k, ...)`, so its episodes do not
depend on `num_envs`, on the device or on the other sub-envs, and `state_dict()` (the state tensors plus the
counters) resumes a run bit for bit.

Rendering replays one sub-env's state through gymnasium's own renderer (`render_env` + `load_into`), so frames
look exactly as gymnasium draws them.
"""

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space
from torch import Tensor

from pglab.envs.batched.counter_rng import env_keys, uniform_from_keys

State = dict[str, Tensor]  # each entry `(N, ...)`


class BatchedEnv(VectorEnv):
    """Batched env base class (see the module docstring).

    Args:
        num_envs: number of sub-envs N.
        device: where the state lives and the step runs.
        max_episode_steps: the time limit; None: the env's registered limit (`default_max_episode_steps`).
        render_mode: None or "rgb_array" (frames of sub-env `render_index`).
        render_index: the sub-env `render()` draws.
    """

    #: the gymnasium id whose dynamics the subclass reproduces
    gymnasium_id: ClassVar[str]
    #: gymnasium's registered time limit of that id
    default_max_episode_steps: ClassVar[int]
    #: uniform numbers one reset draws per sub-env
    reset_draws: ClassVar[int]

    def __init__(
        self,
        num_envs: int,
        device: str | torch.device = "cpu",
        max_episode_steps: int | None = None,
        render_mode: str | None = None,
        render_index: int = 0,
    ):
        self.num_envs = int(num_envs)
        self.device = torch.device(device)
        #: draw start states for the ended sub-envs only (reads `done` on the host: the CPU's way); else for all
        #: and keep them where an episode ended (no synchronization: an accelerator's way). Both give the same.
        self.sparse_resets = self.device.type == "cpu"
        self.max_episode_steps = int(max_episode_steps or self.default_max_episode_steps)
        self.render_mode = render_mode
        self.render_index = int(render_index)
        self.metadata = {
            "autoreset_mode": AutoresetMode.SAME_STEP,
            "render_modes": ["rgb_array"],
            "render_fps": _render_fps(self.gymnasium_id),
        }
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._discrete = isinstance(self.single_action_space, gym.spaces.Discrete)
        self._seed = 0
        self.index = torch.arange(self.num_envs, dtype=torch.int64, device=self.device)
        self.episode = torch.zeros(self.num_envs, dtype=torch.int64, device=self.device)
        self.elapsed = torch.zeros(self.num_envs, dtype=torch.int64, device=self.device)
        self.episode_return = torch.zeros(self.num_envs, dtype=torch.float64, device=self.device)
        self.state: State | None = None
        self._render_env: gym.Env | None = None

    # ---- what a subclass writes -------------------------------------------------------------------------------
    def initial_state(self, uniform: Tensor) -> State:
        """Start states `(K, ...)` from `uniform` `(K, reset_draws)` float64 numbers in [0, 1) (K sub-envs: all of
        them, or on the CPU those whose episode just ended)."""
        raise NotImplementedError

    def dynamics(self, state: State, actions: Tensor) -> tuple[State, Tensor, Tensor]:
        """One step of every sub-env: `(next_state, rewards (N,) float64, terminated (N,) bool)`."""
        raise NotImplementedError

    def observe(self, state: State) -> Tensor:
        """Observations `(N, *O)` float32 of `state`."""
        raise NotImplementedError

    def load_into(self, env: gym.Env, state: State) -> None:
        """Set gymnasium env `env` (unwrapped) to the one-sub-env `state` (each entry without the N axis)."""
        raise NotImplementedError

    def read_from(self, env: gym.Env) -> State:
        """The one-sub-env state of gymnasium env `env` (unwrapped), as tensors on this env's device."""
        raise NotImplementedError

    # ---- the vector env ---------------------------------------------------------------------------------------
    @property
    def seed(self) -> int:
        """The seed of the last `reset(seed=...)`: with the sub-env index and episode number, it keys every draw."""
        return self._seed

    @seed.setter
    def seed(self, seed: int) -> None:
        self._seed = int(seed)
        self.keys = env_keys(self._seed, self._index)

    @property
    def index(self) -> Tensor:
        """`(N,)` int64: the sub-envs' indices in the draws' keys (`arange(N)`; offset by the process rank in
        data-parallel training, so that every process has distinct episodes)."""
        return self._index

    @index.setter
    def index(self, index: Tensor) -> None:
        self._index = index
        self.keys = env_keys(self._seed, index)

    def draw(
        self, episode: Tensor, draws: int, first: int | Tensor = 0, rows: Tensor | None = None
    ) -> Tensor:
        """`counter_rng.uniform(seed, index, episode, draws, first)` of every sub-env, or of sub-envs `rows`
        (then `episode` and a tensor `first` are theirs)."""
        keys = self.keys if rows is None else self.keys[rows]
        return uniform_from_keys(keys, episode, draws, first)

    def _draw_start(self, episode: Tensor) -> State:
        return self.initial_state(self.draw(episode, self.reset_draws))

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Tensor, dict]:
        """Start a new episode in every sub-env; `seed` restarts the episode numbering of all sub-envs (sub-env
        i's first episode is then `(seed, i, 0)`), None continues it."""
        if seed is not None:
            self.seed = int(seed)
            self.episode = torch.zeros_like(self.episode)
        elif self.state is not None:
            self.episode = self.episode + 1
        self.state = self._draw_start(self.episode)
        self.elapsed = torch.zeros_like(self.elapsed)
        self.episode_return = torch.zeros_like(self.episode_return)
        return self.observe(self.state), {}

    def reset_blocks(self, seeds: list[int]) -> tuple[Tensor, dict]:
        """Start a first episode in every sub-env, the sub-envs split into `len(seeds)` equal blocks, block j's
        sub-env i keyed as sub-env i of an env reset with `seeds[j]` (so it plays that env's episodes): the
        sub-envs of several runs, e.g. a population's members, stepped as one env."""
        size, rest = divmod(self.num_envs, len(seeds))
        if rest:
            raise ValueError(f"{self.num_envs} sub-envs do not split into {len(seeds)} equal blocks")
        index = torch.arange(size, dtype=torch.int64, device=self.device)
        self._seed = int(seeds[0])
        self.keys = torch.cat([env_keys(int(seed), index) for seed in seeds])
        self.episode = torch.zeros_like(self.episode)
        self.state = self._draw_start(self.episode)
        self.elapsed = torch.zeros_like(self.elapsed)
        self.episode_return = torch.zeros_like(self.episode_return)
        return self.observe(self.state), {}

    def as_actions(self, actions: Any) -> Tensor:
        """`actions` as a tensor on the device: int64 `(N,)` for Discrete spaces, float32 `(N, A)` for Box."""
        dtype = torch.int64 if self._discrete else torch.float32
        return torch.as_tensor(actions, dtype=dtype, device=self.device)

    def step(self, actions: Any) -> tuple[Tensor, Tensor, Tensor, Tensor, dict[str, Any]]:
        """Step every sub-env. Returns `(obs, rewards, terminated, truncated, infos)` as tensors on the device:
        obs `(N, *O)` float32 (next episode's first observation where one ended), rewards `(N,)` float64,
        flags `(N,)` bool; infos hold `final_obs` / `_final_obs` and `episode` / `_episode` (module docstring)."""
        if self.state is None:
            raise RuntimeError("call reset() before step()")
        next_state, rewards, terminated = self.dynamics(self.state, self.as_actions(actions))
        self.elapsed = self.elapsed + 1
        truncated = self.elapsed >= self.max_episode_steps
        done = terminated | truncated
        final_obs = self.observe(next_state)
        self.final_state = (
            next_state  # the state each sub-env reached (its final state where an episode ended)
        )
        episode_return = self.episode_return + rewards
        next_episode = self.episode + done
        if self.sparse_resets:
            # On the CPU reading `done` costs nothing: draw start states for the sub-envs that ended only.
            ended = done.nonzero().squeeze(1)
            self.state, obs = next_state, final_obs
            if ended.numel():
                start = self.initial_state(self.draw(next_episode[ended], self.reset_draws, rows=ended))
                self.state = {key: value.index_put((ended,), start[key]) for key, value in next_state.items()}
                obs = final_obs.index_put((ended,), self.observe(start))
        else:
            # Same-step autoreset without a host synchronization: every sub-env's next start state is drawn and
            # kept where its episode ended (the draw is a few integer operations per sub-env).
            start = self._draw_start(next_episode)
            self.state = {key: _where(done, start[key], value) for key, value in next_state.items()}
            obs = torch.where(_column(done, final_obs), self.observe(self.state), final_obs)
        self.episode = next_episode
        lengths = self.elapsed
        self.elapsed = torch.where(done, 0, self.elapsed)
        self.episode_return = torch.where(done, 0.0, episode_return)
        infos = {
            "final_obs": final_obs,
            "_final_obs": done,
            "episode": {"r": episode_return, "l": lengths},
            "_episode": done,
        }
        return obs, rewards, terminated, truncated, infos

    # ---- checkpoints ------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs to continue every sub-env's episode exactly (tensors and ints only)."""
        return {
            "seed": self.seed,
            "state": None if self.state is None else {k: v.cpu().clone() for k, v in self.state.items()},
            "episode": self.episode.cpu().clone(),
            "elapsed": self.elapsed.cpu().clone(),
            "episode_return": self.episode_return.cpu().clone(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict()`'s output (from a run with the same `num_envs`)."""
        if state["episode"].shape != (self.num_envs,):
            raise ValueError(
                f"the saved env state has {state['episode'].shape[0]} sub-envs, this env {self.num_envs}"
            )
        self.seed = int(state["seed"])
        self.state = (
            None if state["state"] is None else {k: v.to(self.device) for k, v in state["state"].items()}
        )
        self.episode = state["episode"].to(self.device)
        self.elapsed = state["elapsed"].to(self.device)
        self.episode_return = state["episode_return"].to(self.device)

    def to(self, device: str | torch.device) -> "BatchedEnv":
        """Move the state and counters to `device` (in place; the trajectories do not change)."""
        device = torch.device(device)
        if device != self.device:
            self.sparse_resets = device.type == "cpu"
        self.device = device
        self.index = self.index.to(self.device)
        self.load_state_dict(self.state_dict())
        return self

    # ---- rendering --------------------------------------------------------------------------------------------
    def render_env(self) -> gym.Env:
        """The gymnasium env (unwrapped, `render_mode="rgb_array"`) that draws this env's states."""
        if self._render_env is None:
            self._render_env = gym.make(self.gymnasium_id, render_mode="rgb_array").unwrapped
            self._render_env.reset(seed=0)
        return self._render_env

    def render_state(self, state: State) -> np.ndarray:
        """The frame gymnasium draws for the one-sub-env `state`."""
        env = self.render_env()
        self.load_into(env, state)
        return env.render()

    def render(self) -> np.ndarray | None:
        """The current frame of sub-env `render_index` (`render_mode="rgb_array"`), drawn by gymnasium."""
        if self.render_mode != "rgb_array" or self.state is None:
            return None
        return self.render_state({k: v[self.render_index] for k, v in self.state.items()})

    def close_extras(self, **kwargs: Any) -> None:
        if self._render_env is not None:
            self._render_env.close()
            self._render_env = None


def _render_fps(env_id: str) -> int:
    """The frame rate of gymnasium env `env_id`'s renderer (its class's `metadata`, as `RecordVideo` reads it)."""
    entry_point = gym.spec(env_id).entry_point
    creator = (
        gym.envs.registration.load_env_creator(entry_point) if isinstance(entry_point, str) else entry_point
    )
    return int(getattr(creator, "metadata", {}).get("render_fps", 30))


def _column(mask: Tensor, like: Tensor) -> Tensor:
    """`mask` `(N,)` shaped to broadcast against `like` `(N, ...)`."""
    return mask.reshape(mask.shape + (1,) * (like.dim() - 1))


def _where(mask: Tensor, if_true: Tensor, if_false: Tensor) -> Tensor:
    return torch.where(_column(mask, if_false), if_true, if_false)
