"""Build gymnasium vector envs the way the collector relies on them.

The autoreset mode is pinned to `SAME_STEP`: when a sub-env ends an episode, `step` returns the first
observation of the next episode and puts the final observation in `infos["final_obs"]` (mask
`infos["_final_obs"]`). Every step is then a real transition, and the final observation is at hand to
bootstrap a truncated episode. (Gymnasium's default, `NEXT_STEP`, would spend one extra step per episode on
a reset whose action is ignored.)

Episode statistics come from gymnasium's `RecordEpisodeStatistics`, applied directly on the raw vector env
so they are computed from raw rewards whatever wrappers are added later.
"""

import atexit
import contextlib
import difflib
import functools
import multiprocessing
import os
import signal
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv, VectorEnv
from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation, RecordVideo, TimeLimit
from gymnasium.wrappers import vector as vector_wrappers
from gymnasium.wrappers.vector import RecordEpisodeStatistics

from pglab.checks import check_range
from pglab.envs.normalization import NORMALIZED_CLIP, NormalizeObservation, freeze_normalization
from pglab.errors import ConfigError

VECTORIZATION = {"sync": SyncVectorEnv, "async": AsyncVectorEnv}
#: all values of `env.vectorization`: gymnasium's two vector envs, and pglab's batched tensor envs
VECTORIZATIONS = (*VECTORIZATION, "torch")


def check_env_id(env_id: str) -> None:
    """Raise ConfigError naming close matches when `env_id` is not a registered gymnasium id."""
    import pglab.envs  # noqa: F401  (registers pglab's native envs, e.g. pglab/PixelCopter-v0)

    if env_id.startswith("ALE/"):
        import ale_py  # registers the Atari envs; its ROMs ship inside the wheel

        gym.register_envs(ale_py)
        # ALE prints its banner at every env creation (each async worker too); errors are still shown.
        ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)
    if env_id in gym.registry:
        return
    close = difflib.get_close_matches(env_id, list(gym.registry), n=5, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else "; see gymnasium.pprint_registry() for ids"
    raise ConfigError(f"env.id={env_id!r} is not a registered gymnasium environment{hint}")


def check_env_args(
    id: str,
    num_envs: int,
    vectorization: str,
    max_episode_steps: int | None,
    frame_stack: int,
    **options: Any,
) -> None:
    """ConfigError naming the `env.` key of the first argument of `make_vector_env` that is not allowed."""
    check_env_id(id)
    if vectorization not in VECTORIZATIONS:
        raise ConfigError(
            f"env.vectorization={vectorization!r} is not supported; choose one of {sorted(VECTORIZATIONS)}"
        )
    if vectorization == "torch":
        from pglab.envs.batched import BATCHED_ENVS

        if id not in BATCHED_ENVS:
            raise ConfigError(
                f"env.vectorization=torch has no batched version of env.id={id!r}; it has {', '.join(BATCHED_ENVS)} "
                "(use env.vectorization=sync or async for other envs)"
            )
    check_range("env.num_envs", num_envs, 1, integer=True)
    check_range("env.max_episode_steps", max_episode_steps, 1, integer=True, allow_none=True)
    check_range("env.frame_stack", frame_stack, 1, integer=True)
    if vectorization == "torch":
        unsupported = [f"env.{key}" for key, value in options.items() if value]
        if frame_stack > 1:
            unsupported.append("env.frame_stack")
        if unsupported:
            raise ConfigError(
                f"{', '.join(unsupported)} cannot be used with env.vectorization=torch (its envs have state "
                "observations and no Atari wrappers); use env.vectorization=sync"
            )


def env_spaces(make_env: Callable[..., VectorEnv]) -> tuple[gym.Space, gym.Space]:
    """The single observation and action spaces of the vector envs `make_env` (the `env` config group's partial
    `make_vector_env`) builds, read from one sub-env made in this process: the same wrappers, no worker
    processes, closed before returning. Lets a run check that its network fits before any env process starts."""
    batched = (
        getattr(make_env, "keywords", {}).get("vectorization") == "torch"
    )  # cheap to build, checks kwargs
    env = make_env(num_envs=1) if batched else make_env(num_envs=1, vectorization="sync")
    try:
        return env.single_observation_space, env.single_action_space
    finally:
        env.close()


def make_vector_env(
    id: str,
    num_envs: int = 1,
    vectorization: str = "sync",
    max_episode_steps: int | None = None,
    kwargs: dict[str, Any] | None = None,
    atari_preprocessing: bool = False,
    frame_stack: int = 1,
    clip_reward: bool = False,
    normalize_obs: bool = False,
    normalize_reward: bool = False,
    gamma: float = 0.99,
    evaluation: bool = False,
    video_dir: str | Path | None = None,
    video_episodes: int = 0,
    video_prefix: str = "episode",
) -> VectorEnv:
    """A vector env of `num_envs` copies of gymnasium env `id`, same-step autoreset, episode statistics.

    Wrappers, innermost first: per sub-env `AtariPreprocessing` and `FrameStackObservation`; on the vector env
    `RecordEpisodeStatistics` (raw rewards), reward clipping, `NormalizeObservation`, `NormalizeReward`.

    Args:
        id: registered gymnasium id, e.g. "CartPole-v1".
        num_envs: number of sub-envs stepped together.
        vectorization: "sync" (one process, lowest overhead for cheap envs), "async" (one subprocess per
            sub-env, for expensive envs), or "torch" (pglab's batched tensor envs, `pglab.envs.batched`: every
            sub-env in one tensor program on the policy's device; classic control and PixelCopter).
        max_episode_steps: time limit override; None keeps the registered limit. With `atari_preprocessing` it
            counts agent steps (4 frames each); the registered ALE limit counts frames (108,000 in v5).
        kwargs: extra keyword arguments for `gymnasium.make`.
        atari_preprocessing: gymnasium's `AtariPreprocessing` (noop reset, frame skip 4 with max-pooling,
            84x84 grayscale; the env itself must be made with `frameskip=1`).
        frame_stack: stack this many last observations (`FrameStackObservation`); 1: none.
        clip_reward: train on sign(reward) (Atari); not applied to evaluation envs.
        normalize_obs: normalize observations by running mean and std, clipped to [-10, 10] (statistics saved
            in checkpoints).
        normalize_reward: divide rewards by the running std of the discounted return with discount `gamma`,
            clipped to [-10, 10] (as SB3's `VecNormalize`); not applied to evaluation envs.
        evaluation: an evaluation env: raw rewards, frozen observation statistics (set from training's).
        video_dir: with `video_episodes > 0`, sub-envs `0 .. video_episodes - 1` render their first episode
            to `<video_dir>/<video_prefix>-<i>-episode-0.mp4` (gymnasium's `RecordVideo`; the other
            sub-envs do not render). Set by evaluation, not by the env config.
    """
    check_env_args(
        id,
        num_envs,
        vectorization,
        max_episode_steps,
        frame_stack,
        atari_preprocessing=atari_preprocessing,
        clip_reward=clip_reward,
    )
    if vectorization == "torch":
        return make_batched_vector_env(
            id,
            num_envs,
            max_episode_steps,
            dict(kwargs or {}),
            normalize_obs,
            normalize_reward,
            gamma,
            evaluation,
            video_dir,
            video_episodes,
            video_prefix,
        )
    make_one = functools.partial(
        make_env, id, max_episode_steps, dict(kwargs or {}), atari_preprocessing, int(frame_stack)
    )
    if vectorization == "async":
        make_one = functools.partial(in_worker, make_one, os.getpid())
    env_fns = [make_one] * int(num_envs)
    if video_dir is not None:
        for i in range(min(int(video_episodes), int(num_envs))):
            env_fns[i] = functools.partial(make_recorded, make_one, str(video_dir), f"{video_prefix}-{i}")
    with signals_held() if vectorization == "async" else contextlib.nullcontext():
        env: VectorEnv = VECTORIZATION[vectorization](env_fns, autoreset_mode=AutoresetMode.SAME_STEP)
    env = RecordEpisodeStatistics(env)
    if clip_reward and not evaluation:
        env = vector_wrappers.TransformReward(env, np.sign)
    if normalize_obs:
        env = NormalizeObservation(env)
    if normalize_reward and not evaluation:
        env = vector_wrappers.NormalizeReward(env, gamma=gamma)
        env = vector_wrappers.ClipReward(env, -NORMALIZED_CLIP, NORMALIZED_CLIP)
    if evaluation:
        freeze_normalization(env)
    return env


def make_batched_vector_env(
    id: str,
    num_envs: int,
    max_episode_steps: int | None,
    kwargs: dict[str, Any],
    normalize_obs: bool,
    normalize_reward: bool,
    gamma: float,
    evaluation: bool,
    video_dir: str | Path | None,
    video_episodes: int,
    video_prefix: str,
) -> VectorEnv:
    """`make_vector_env`'s torch backend: the batched env on the CPU (the collector moves it to the policy's device)
    with the tensor versions of the same wrappers, in the same order (episode statistics are the batched env's own,
    from raw rewards)."""
    from pglab.envs.batched import make_batched_env
    from pglab.envs.batched.wrappers import NormalizeObservationTensor, RecordEpisodeVideos, ScaleRewardTensor

    try:
        env: VectorEnv = make_batched_env(id, int(num_envs), max_episode_steps=max_episode_steps, **kwargs)
    except TypeError as error:  # an option the batched env does not take
        raise ConfigError(f"env.kwargs of {id} with env.vectorization=torch: {error}") from None
    except ValueError as error:
        raise ConfigError(str(error)) from None
    if video_dir is not None and video_episodes > 0:
        env = RecordEpisodeVideos(env, video_dir, video_episodes, video_prefix)
    if normalize_obs:
        env = NormalizeObservationTensor(env, clip=NORMALIZED_CLIP)
    if normalize_reward and not evaluation:
        env = ScaleRewardTensor(env, gamma=gamma, clip=NORMALIZED_CLIP)
    if evaluation:
        freeze_normalization(env)
    return env


def make_env(
    id: str,
    max_episode_steps: int | None,
    kwargs: dict[str, Any],
    atari_preprocessing: bool,
    frame_stack: int,
    render_mode: str | None = None,
) -> gym.Env:
    """One sub-env: `gymnasium.make` plus the per-env wrappers."""
    if render_mode is not None:
        kwargs = {**kwargs, "render_mode": render_mode}
    if not atari_preprocessing:
        env = gym.make(id, max_episode_steps=max_episode_steps, **kwargs)
    else:
        # The time limit counts agent steps (after frame skipping), so it goes outside the preprocessing.
        env = AtariPreprocessing(
            gym.make(id, **kwargs),
            noop_max=30,
            frame_skip=4,
            screen_size=84,
            grayscale_obs=True,
            terminal_on_life_loss=False,
            scale_obs=False,
        )
        if max_episode_steps is not None:
            env = TimeLimit(env, max_episode_steps)
    if frame_stack > 1:
        env = FrameStackObservation(env, stack_size=frame_stack)
    return env


@atexit.register
def kill_leftover_workers() -> None:
    """At exit, SIGKILL the async env workers still alive. Python's multiprocessing sends its daemonic children
    SIGTERM at exit and then waits for them; pglab's workers ignore SIGTERM (`in_worker`), so one left running (a
    vector env still being built when Ctrl-C arrived, before anything could close it) would hang the exit. Registered
    after multiprocessing's own exit handler, so it runs first. Normally there is none: `pglab.train` closes every
    env on every way out."""
    for process in multiprocessing.active_children():
        if process.daemon and process.name.startswith("Worker<AsyncVectorEnv>"):
            process.kill()


@contextlib.contextmanager
def signals_held() -> Any:
    """Hold SIGINT and SIGTERM back while the block runs (it forks the async workers), then deliver any that came.

    A Ctrl-C that arrives while `os.fork` runs its at-fork handlers (logging's among them) raises
    KeyboardInterrupt inside a handler, where Python prints "Exception ignored" and drops it: the run would go on
    training. While the block runs, a handler only notes the signal (Python runs it in the main thread, whichever
    thread the signal reached); when the block ends, the previous handlers are back and each noted signal is sent
    again, so the run stops as after any early Ctrl-C. The workers ignore both signals (`in_worker`).
    """
    held = [sig for sig in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(sig) is not None]
    if threading.current_thread() is not threading.main_thread() or not held:
        yield
        return
    arrived: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: arrived.append(signum)) for sig in held}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for signum in dict.fromkeys(arrived):
            os.kill(os.getpid(), signum)


def in_worker(make_one: Callable[..., gym.Env], trainer_pid: int, **kwargs: Any) -> gym.Env:
    """`make_one(**kwargs)`; in an async vector env's worker process (any process but `trainer_pid`, which built
    the vector env), SIGINT and SIGTERM are ignored from then on.

    Ctrl-C reaches every process of the terminal's process group (a scheduler's SIGTERM often does too). A worker
    would die of it mid-step, and the trainer could then not finish the update and write its checkpoint; the main
    process alone decides when to stop, and closes its workers (or they exit when its pipe closes).
    """
    if os.getpid() != trainer_pid:  # gymnasium also calls it once in the trainer, for the spaces
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return make_one(**kwargs)


def make_recorded(make_one: Callable[..., gym.Env], video_dir: str, name_prefix: str) -> gym.Env:
    """`make_one(render_mode="rgb_array")` recording its first episode to `<video_dir>/<name_prefix>-episode-0.mp4`."""
    env = make_one(render_mode="rgb_array")
    with warnings.catch_warnings():
        # Each recorded sub-env has its own file prefix, so the "existing videos" warning is moot.
        warnings.filterwarnings("ignore", message=".*Overwriting existing videos.*")
        return RecordVideo(
            env,
            video_dir,
            episode_trigger=lambda episode: episode == 0,
            name_prefix=name_prefix,
            disable_logger=True,
        )
