"""A Stable-Baselines3 PPO or A2C run with pglab's hyperparameters (or RL Zoo's), evaluated on pglab's schedule.

SB3 reports no breakdown of its training time, so its own methods are wrapped (`timed_calls`): `collect_rollouts`,
the `RolloutBuffer.compute_returns_and_advantage` (its GAE) that `collect_rollouts` calls at the end, and `train`.
The breakdown's collection is `collect_rollouts` less its GAE and less the evaluations run inside it; its
advantages are the GAE, so that collection + advantages is `collect_rollouts`, like for like with pglab's
`time/collect_s` + `time/advantages_s`. Only the SB3 child imports this module.
"""

import math
import time
from typing import Any

import numpy as np
import torch
from stable_baselines3 import A2C, PPO
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import DummyVecEnv

from pglab.benchmark.sb3_config import SCHEDULED, schedule
from pglab.benchmark.timing import record_first_call, time_breakdown, timed_calls


class TimedEvaluation(BaseCallback):
    """pglab's `PeriodicEvaluation` schedule: after the update of every rollout that crosses a multiple of
    `every` env steps, and after the last update; one deterministic episode per eval sub-env, seeded
    `seed + i` (`seed`: pglab's, the run's seed + `EVAL_SEED_OFFSET`). Training seconds exclude the evaluations."""

    def __init__(self, every: int, episodes: int, seed: int):
        super().__init__()
        self.eval_env = make_vec_env("CartPole-v1", n_envs=episodes, vec_env_cls=DummyVecEnv)
        self.every, self.episodes, self.seed = every, episodes, seed
        self.start = time.perf_counter()
        self.eval_s = 0.0
        self.last_eval_step = -1
        self.evals: list[dict[str, float]] = []
        self.train_s = math.nan

    def _on_step(self) -> bool:
        return True

    def _on_rollout_start(self) -> None:  # called after the previous rollout's update
        if self.num_timesteps // self.every > max(self.last_eval_step, 0) // self.every:
            self.evaluate()

    def _on_training_end(self) -> None:
        self.train_s = time.perf_counter() - self.start - self.eval_s
        if self.num_timesteps != self.last_eval_step:
            self.evaluate(final=True)

    def evaluate(self, final: bool = False) -> None:
        start = time.perf_counter()
        self.eval_env.seed(self.seed)
        returns, _ = evaluate_policy(
            self.model,
            self.eval_env,
            n_eval_episodes=self.episodes,
            deterministic=True,
            return_episode_rewards=True,
        )
        self.evals.append(
            {
                "env_steps": self.num_timesteps,
                "train_s": start - self.start - self.eval_s,
                "return_mean": float(np.mean(returns)),
                "eval_s": time.perf_counter() - start,
                "final": final,
            }
        )
        self.last_eval_step = self.num_timesteps
        self.eval_s += time.perf_counter() - start


def child_sb3(spec: dict[str, Any]) -> dict[str, Any]:
    """Train Stable-Baselines3's PPO or A2C with `spec["kwargs"]` on DummyVecEnv, evaluating on pglab's
    schedule; evaluation time is kept out of the training time."""
    torch.set_num_threads(spec["torch_threads"])
    first_step = record_first_call(DummyVecEnv, "step_async")
    kwargs = dict(spec["kwargs"])
    for key in SCHEDULED & kwargs.keys():
        kwargs[key] = schedule(kwargs[key])
    if "policy_kwargs" in kwargs:  # RL Zoo's run keeps SB3's default MlpPolicy
        policy_kwargs = kwargs["policy_kwargs"]
        kwargs["policy_kwargs"] = policy_kwargs | {
            "activation_fn": getattr(torch.nn, policy_kwargs["activation_fn"])
        }
    env = make_vec_env("CartPole-v1", n_envs=spec["num_envs"], seed=spec["seed"], vec_env_cls=DummyVecEnv)
    algorithm = {"PPO": PPO, "A2C": A2C}[spec["algo"]]
    totals: dict[str, float] = {}
    # collect_rollouts with its GAE and the evaluations: both subtracted below
    timed_calls(algorithm, "collect_rollouts", totals, "collect_s")
    timed_calls(RolloutBuffer, "compute_returns_and_advantage", totals, "advantages_s")
    timed_calls(algorithm, "train", totals, "update_s")
    model = algorithm("MlpPolicy", env, seed=spec["seed"], device="cpu", verbose=0, **kwargs)
    callback = TimedEvaluation(spec["eval_every"], spec["eval_episodes"], spec["eval_seed"])
    callback.start = time.perf_counter()
    model.learn(total_timesteps=spec["total_steps"], callback=callback)
    # Evaluations run from the callback's `_on_rollout_start`, inside `collect_rollouts`, but the final one.
    totals["collect_s"] -= totals["advantages_s"] + sum(e["eval_s"] for e in callback.evals if not e["final"])
    return {
        "env_steps": model.num_timesteps,
        "train_s": callback.train_s,
        "evals": callback.evals,
        "first_step_s": first_step["s"],
        "breakdown": time_breakdown(totals, callback.train_s),
    }
