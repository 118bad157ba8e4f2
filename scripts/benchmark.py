"""Benchmark pglab against Stable-Baselines3, a plain PyTorch PPO and the env's own ceiling, on this machine.

    python scripts/benchmark.py                # the full benchmark: 3 interleaved repeats, 25-37 min on 2 cores
    python scripts/benchmark.py --quick        # tiny budgets, one repeat: a smoke check of the harness (~2 min)
    python scripts/benchmark.py --repeats 5    # more repeats for tighter min-max ranges

Needs the `bench` extra: `pip install -c constraints.txt -e ".[dev,bench]"` (Stable-Baselines3).

Everything runs in one session so that the ratios compare runs that shared the machine's state. Each
measured run is its own child process (`--child`, not meant to be called by hand), started fresh so that
imports, memory and startup are measured as a user meets them. Repeat k uses seed `--seed + k` on every
side; within a repeat each pglab run is followed by its Stable-Baselines3 counterpart (the order flips on
odd repeats), so machine noise hits both. Reported: median and min-max over the repeats; a ratio is taken
per repeat (the two runs ran back to back), then summarized.

What is measured, all on CartPole-v1:

1. Training steps/s of each pglab algorithm, with the presets `experiment=<algo>_cartpole` (budgets 100k
   for PPO, 300k for the others), through the real entry point: `train.py` runs as `__main__` in the child
   with `logger=none`, evaluating every 10k env steps on 20 episodes (the defaults). The child times each
   evaluation (a wrapper around `PeriodicEvaluation.evaluate`) and subtracts it from the run's
   `time/wall_s` in `summary.json`: steps/s = `time/env_steps` / (`time/wall_s` - evaluation seconds).
   (pglab's own `time/sps`, which includes evaluations, is kept in the JSON as `reported_sps`.)
2. The same PPO and A2C hyperparameters in Stable-Baselines3 (`DummyVecEnv`, device cpu, the same torch
   thread count), mapped from the composed pglab config by `sb3_hyperparameters` (see its docstring for
   the mapping), evaluated on the same schedule (same env steps, episodes, seeds) by a callback whose time is
   excluded the same way. Reported: steps/s, the ratio pglab / SB3, and the training seconds and env steps to
   a stable solve (evaluation return >= 475 at that evaluation and every later one), evaluation time
   excluded, for every pglab preset and for SB3's tuned RL Zoo CartPole PPO (`RL_ZOO_PPO_CARTPOLE`).
3. The ceiling: pglab's vector env (`make_vector_env`, the preset's `num_envs`) stepped with an untrained
   policy built as `train.py` builds it, forward pass and sampling only, no learning: (a) a raw loop of
   `policy.act` + `env.step` under `torch.no_grad()`, (b) the algorithm's own `collect_rollout()` (the
   `RolloutCollector`) in a loop. Reported: training steps/s and collection steps/s as fractions of (a).
4. Peak resident memory of every run (`ru_maxrss` of the waited child, from `os.wait4`, as `/usr/bin/time`
   reads it), also of a plain single-file PyTorch PPO with pglab's PPO hyperparameters (`child_plain_ppo`,
   CleanRL-style, no Lightning/Hydra), and the time from process start (the parent's clock just before it
   starts the child) to the first env step (a one-shot wrapper around the vector env's step).

5. Where the training time goes, for pglab and SB3 alike: seconds in rollout collection, in advantage
   computation and batching, in gradient updates, and the rest (the training loop, callbacks, logging,
   checkpoints), from timing wrappers around each framework's own methods (`timed_calls`), reported in ms
   per 1,000 env steps. pglab: `RolloutCollector.collect`/`collect_episodes`; the rest of
   `RolloutDataset.__iter__` (the algorithm's `rollout_batches`); the algorithm's `training_step`. SB3:
   `collect_rollouts` (its GAE included, evaluations inside it excluded) and `train`.

Writes `docs/benchmarks.md` (machine, versions, tables), `docs/benchmarks.json` (every run's raw numbers)
and `docs/figures/benchmark.png`; `--quick` writes to `outputs/benchmark-quick/` instead, so a smoke check
never replaces the report. Run dirs and child logs go to `outputs/benchmark/<time>/`.
"""

import argparse
import datetime
import inspect
import json
import math
import os
import platform
import runpy
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TRAIN_PY = ROOT / "train.py"
#: the parent's `time.time()` right before it started the child: the child's process start
START_TIME_ENV = "PGLAB_BENCH_START_TIME"
SOLVED_RETURN = 475.0  # CartPole-v1's reward threshold
PRESETS = ("ppo_cartpole", "a2c_cartpole", "vpg_cartpole", "reinforce_cartpole")
#: SB3's class for each preset that has a counterpart there
SB3_ALGOS = {"ppo_cartpole": "PPO", "a2c_cartpole": "A2C"}
SB3_ACTIVATIONS = {"tanh": "Tanh", "relu": "ReLU", "elu": "ELU", "gelu": "GELU"}  # torch.nn class names
#: RL Zoo's tuned CartPole-v1 PPO (rl-baselines3-zoo, hyperparams/ppo.yml); everything else SB3's defaults.
#: `lin_x` is RL Zoo's `linear_schedule(x)`: x * progress_remaining.
RL_ZOO_PPO_CARTPOLE = {
    "num_envs": 8,
    "total_steps": 100_000,
    "kwargs": {
        "n_steps": 32,
        "batch_size": 256,
        "gae_lambda": 0.8,
        "gamma": 0.98,
        "n_epochs": 20,
        "ent_coef": 0.0,
        "learning_rate": {"linear_from": 1e-3, "shift": 0.0},
        "clip_range": {"linear_from": 0.2, "shift": 0.0},
    },
}
#: the parts of the training time in `time_breakdown`, with their report headings
BREAKDOWN = {
    "collect_s": "rollout collection",
    "advantages_s": "advantages, batching",
    "update_s": "gradient updates",
    "other_s": "the rest: loop, callbacks, logging",
}
#: the issue's targets (issue 6), printed next to the measured ratios
TARGETS = {"ppo": "≥ 1.5", "a2c": "≥ 1.5", "solve": "≤ 0.5", "collection": "≥ 0.8", "memory": "≤ 1.2"}


@dataclass(frozen=True)
class Budget:
    """Env-step budgets of one benchmark mode.

    train_steps: every training run's budget; None keeps each preset's own (and RL Zoo's 100k).
    eval_every: evaluation interval in env steps, both frameworks.
    eval_episodes: episodes per evaluation, both frameworks.
    ceiling_steps: env steps timed by each ceiling loop.
    """

    train_steps: int | None
    eval_every: int
    eval_episodes: int
    ceiling_steps: int


FULL = Budget(train_steps=None, eval_every=10_000, eval_episodes=20, ceiling_steps=50_000)
QUICK = Budget(train_steps=4_096, eval_every=2_048, eval_episodes=4, ceiling_steps=4_096)


@dataclass
class Run:
    """One child process: `kind` selects the child function, `spec` is its JSON input."""

    name: str
    kind: str
    spec: dict[str, Any]


# ====================================================================== parent: plan the runs
def compose_config(preset: str, overrides: list[str]):
    """pglab's training config for `experiment=<preset>` plus `overrides`, composed as `train.py` does."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(config_name="train", overrides=[f"experiment={preset}", *overrides])


def pglab_overrides(seed: int, budget: Budget) -> list[str]:
    """The key=value overrides every pglab run of a repeat shares (besides the preset and its run dir)."""
    overrides = [
        f"seed={seed}",
        f"callbacks.evaluation.every_env_steps={budget.eval_every}",
        f"callbacks.evaluation.episodes={budget.eval_episodes}",
    ]
    if budget.train_steps is not None:
        overrides.append(f"total_env_steps={budget.train_steps}")
    return overrides


def linear_schedule(start: float, shift: float) -> dict[str, float]:
    """A learning-rate (or clip) schedule as JSON: `start * max(0, progress_remaining + shift)` in SB3 terms."""
    return {"linear_from": start, "shift": shift}


def sb3_hyperparameters(cfg) -> dict[str, Any]:
    """SB3 keyword arguments that reproduce the PPO or A2C of the composed pglab config `cfg` exactly.

    - `vf_coef` is halved: pglab's value loss is 0.5 * MSE (CleanRL), SB3's is MSE.
    - Annealing: pglab sets lr * (1 - progress before the rollout) for the update after it; SB3 calls its
      schedule with the progress remaining *after* the rollout, so the schedule is shifted by one rollout.
    - PPO: batch_size = rollout / num_minibatches; Adam eps 1e-5 (SB3's default for its policies) and
      per-minibatch advantage normalization (std + 1e-8) are the same on both sides.
    - A2C: RMSprop(alpha 0.99, eps 1e-5) on both sides, or Adam(eps 1e-5) with `algo.optimizer=adam`.
    - Network: separate actor and critic MLPs (`net_arch` as a list gives SB3 separate pi and vf layers),
      the same activation, orthogonal init with gains sqrt(2) / 0.01 / 1 on both sides.
    """
    algo, env, net = cfg.algo, cfg.env, cfg.network
    unmapped = [
        key
        for key, value, default in (
            ("algo.clip_vloss", algo.get("clip_vloss", False), False),
            ("algo.target_kl", algo.get("target_kl"), None),
            ("network.shared_trunk", net.shared_trunk, False),
            ("env.vectorization", env.vectorization, "sync"),
            ("env.normalize_obs", env.normalize_obs, False),
            ("env.normalize_reward", env.normalize_reward, False),
            ("env.max_episode_steps", env.max_episode_steps, None),
            ("env.frame_stack", env.frame_stack, 1),
        )
        if value != default
    ]
    if unmapped:
        raise ValueError(
            f"the SB3 comparison maps only the CartPole presets' settings; not mapped: {unmapped}"
        )
    rollout = env.num_envs * algo.num_steps
    learning_rate = (
        linear_schedule(algo.lr, shift=rollout / cfg.total_env_steps) if algo.anneal_lr else algo.lr
    )
    kwargs = {
        "n_steps": algo.num_steps,
        "learning_rate": learning_rate,
        "gamma": algo.gamma,
        "gae_lambda": algo.gae_lambda,
        "ent_coef": algo.ent_coef,
        "vf_coef": algo.vf_coef / 2,
        "max_grad_norm": math.inf if algo.max_grad_norm is None else algo.max_grad_norm,
        "normalize_advantage": algo.normalize_advantage,
        "policy_kwargs": {
            "net_arch": list(net.hidden_sizes),
            "activation_fn": SB3_ACTIVATIONS[net.activation],
            "ortho_init": True,
        },
    }
    if algo._target_.endswith(".PPO"):
        kwargs |= {
            "batch_size": rollout // algo.num_minibatches,
            "n_epochs": algo.update_epochs,
            "clip_range": algo.clip_coef,
        }
    else:
        kwargs |= {"use_rms_prop": algo.optimizer == "rmsprop", "rms_prop_eps": 1e-5}
    return kwargs


def sb3_run(
    name: str,
    algo: str,
    kwargs: dict,
    num_envs: int,
    total_steps: int,
    seed: int,
    torch_threads: int,
    budget: Budget,
) -> Run:
    return Run(
        name,
        "sb3",
        {
            "algo": algo,
            "kwargs": kwargs,
            "num_envs": num_envs,
            "total_steps": total_steps,
            "seed": seed,
            "torch_threads": torch_threads,
            "eval_every": budget.eval_every,
            "eval_episodes": budget.eval_episodes,
        },
    )


def plan_repeat(repeat: int, seed: int, budget: Budget, work_dir: Path) -> list[Run]:
    """The runs of one repeat, each pglab run next to its SB3 counterpart (pairs flipped on odd repeats)."""
    from omegaconf import OmegaConf

    overrides = pglab_overrides(seed, budget)
    configs = {preset: compose_config(preset, overrides) for preset in PRESETS}

    def pglab(preset: str) -> Run:
        run_dir = work_dir / f"pglab-{preset}-r{repeat}"
        command_line = [f"experiment={preset}", *overrides, "logger=none", f"hydra.run.dir={run_dir}"]
        return Run(f"pglab/{preset}", "pglab", {"overrides": command_line, "run_dir": str(run_dir)})

    def sb3_same(preset: str) -> Run:
        cfg = configs[preset]
        return sb3_run(
            f"sb3/{preset}",
            SB3_ALGOS[preset],
            sb3_hyperparameters(cfg),
            cfg.env.num_envs,
            cfg.total_env_steps,
            seed,
            cfg.torch_threads,
            budget,
        )

    ppo = configs["ppo_cartpole"]
    zoo = RL_ZOO_PPO_CARTPOLE
    plain_spec = {
        "algo": OmegaConf.to_container(ppo.algo),
        "network": OmegaConf.to_container(ppo.network),
        "env_id": ppo.env.id,
        "num_envs": ppo.env.num_envs,
        "total_steps": ppo.total_env_steps,
        "seed": seed,
        "torch_threads": ppo.torch_threads,
    }
    pairs = [
        (pglab("ppo_cartpole"), sb3_same("ppo_cartpole")),
        (pglab("a2c_cartpole"), sb3_same("a2c_cartpole")),
        (
            sb3_run(
                "sb3/rl_zoo_ppo",
                "PPO",
                zoo["kwargs"],
                zoo["num_envs"],
                budget.train_steps or zoo["total_steps"],
                seed,
                ppo.torch_threads,
                budget,
            ),
            Run("plain/ppo", "plain_ppo", plain_spec),
        ),
        (pglab("vpg_cartpole"), pglab("reinforce_cartpole")),
        (
            Run(
                "ceiling",
                "ceiling",
                {"presets": list(PRESETS), "overrides": overrides, "steps": budget.ceiling_steps},
            ),
        ),
    ]
    return [run for pair in pairs for run in (pair[::-1] if repeat % 2 else pair)]


# ====================================================================== parent: run a child
def run_child(run: Run, log_path: Path) -> dict[str, Any]:
    """Start `run` as a fresh child process, wait for it, and return its JSON result plus its peak RSS."""
    result_path = log_path.with_suffix(".json")
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        run.kind,
        "--spec",
        json.dumps(run.spec),
        "--result",
        str(result_path),
    ]
    with open(log_path, "w") as log:
        env = os.environ | {START_TIME_ENV: repr(time.time()), "HYDRA_FULL_ERROR": "1"}
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
        # wait4 gives this child's own resource usage; RUSAGE_CHILDREN would be the max over all children so far.
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        tail = "".join(log_path.read_text().splitlines(keepends=True)[-30:])
        raise RuntimeError(f"{run.name} failed (exit {process.returncode}); log {log_path}:\n{tail}")
    result = json.loads(result_path.read_text())
    return result | {"name": run.name, "peak_rss_mib": usage.ru_maxrss / 1024}  # ru_maxrss is in KiB on Linux


def describe(result: dict[str, Any]) -> str:
    """One progress line for a finished run."""
    if result["name"] == "ceiling":
        return "ceiling: " + ", ".join(
            f"{p} raw {c['raw_sps']:,.0f} / collector {c['collector_sps']:,.0f} steps/s"
            for p, c in result["presets"].items()
        )
    solve = result.get("solve")
    solved = (
        f"stable solve at {solve['env_steps']:,} steps, {solve['train_s']:.1f} s"
        if solve
        else "no stable solve"
    )
    return (
        f"{result['name']}: {result['sps']:,.0f} steps/s, {solved}, peak {result['peak_rss_mib']:,.0f} MiB, "
        f"first env step after {result['first_step_s']:.2f} s"
    )


# ====================================================================== children
def record_first_call(cls: type, method: str) -> dict[str, float]:
    """Wrap `cls.method` so that its first call stores the seconds since this process was started (by the
    parent's clock) under "s", then puts the original back (no cost on later calls)."""
    started = float(os.environ[START_TIME_ENV])
    original = getattr(cls, method)
    seen: dict[str, float] = {}

    def first_call(self, *args, **kwargs):
        seen["s"] = time.time() - started
        setattr(cls, method, original)
        return original(self, *args, **kwargs)

    setattr(cls, method, first_call)
    return seen


def timed_calls(cls: type, method: str, totals: dict[str, float], key: str) -> None:
    """Wrap `cls.method` so that the seconds spent in its calls add up in `totals[key]`. A generator method
    is timed while it runs, not while its consumer holds it (each `next` is timed)."""
    original = getattr(cls, method)
    totals.setdefault(key, 0.0)

    def timed_generator(iterator):
        while True:
            start = time.perf_counter()
            try:
                item = next(iterator)
            except StopIteration:
                totals[key] += time.perf_counter() - start
                return
            totals[key] += time.perf_counter() - start
            yield item

    def timed(self, *args, **kwargs):
        start = time.perf_counter()
        result = original(self, *args, **kwargs)
        totals[key] += time.perf_counter() - start
        return timed_generator(result) if inspect.isgenerator(result) else result

    setattr(cls, method, timed)


def time_breakdown(totals: dict[str, float], train_s: float) -> dict[str, float]:
    """Seconds in collection, advantages, updates and the rest of `train_s` (evaluation already excluded)."""
    parts = {
        "collect_s": totals["collect_s"],
        "advantages_s": totals.get("advantages_s", 0.0),
        "update_s": totals["update_s"],
    }
    return parts | {"other_s": train_s - sum(parts.values())}


def child_pglab(spec: dict[str, Any]) -> dict[str, Any]:
    """`python train.py <overrides>` in this process, with two measuring wrappers: the first vector-env step
    and the duration of every evaluation (pglab's `time/wall_s` includes evaluations; a pglab hook that logged
    evaluation seconds, e.g. `time/eval_s`, would make the wrapper unnecessary)."""
    from gymnasium.vector import SyncVectorEnv

    from pglab.callbacks import PeriodicEvaluation

    first_step = record_first_call(SyncVectorEnv, "step")
    evaluations: list[dict[str, float]] = []
    evaluate = PeriodicEvaluation.evaluate

    def timed_evaluate(self, pl_module, final=False):
        wall_s, start = pl_module.wall_time(), time.perf_counter()
        result = evaluate(self, pl_module, final)
        evaluations.append(
            {
                "env_steps": pl_module.collector.env_steps,
                "wall_s": wall_s,
                "eval_s": time.perf_counter() - start,
                "return_mean": result["eval/episode_return_mean"],
            }
        )
        return result

    PeriodicEvaluation.evaluate = timed_evaluate
    from pglab.algos.a2c import A2C
    from pglab.algos.ppo import PPO
    from pglab.algos.reinforce import REINFORCE
    from pglab.algos.vpg import VPG
    from pglab.rollout.collector import RolloutCollector
    from pglab.rollout.dataset import RolloutDataset

    totals: dict[str, float] = {}
    timed_calls(RolloutCollector, "collect", totals, "collect_s")
    timed_calls(RolloutCollector, "collect_episodes", totals, "collect_s")
    timed_calls(RolloutDataset, "__iter__", totals, "data_s")  # collection + the algorithm's rollout_batches
    for algorithm in (PPO, A2C, VPG, REINFORCE):
        timed_calls(algorithm, "training_step", totals, "update_s")
    sys.argv = [str(TRAIN_PY), *spec["overrides"]]
    runpy.run_path(str(TRAIN_PY), run_name="__main__")

    summary = json.loads((Path(spec["run_dir"]) / "summary.json").read_text())
    if summary["status"] != "completed":
        raise RuntimeError(f"the pglab run did not complete: {summary}")
    # Evaluations that started before the last logged wall time are inside it; the final one may come after.
    evals, eval_s = [], 0.0
    for evaluation in evaluations:
        evals.append(
            {
                "env_steps": evaluation["env_steps"],
                "train_s": evaluation["wall_s"] - eval_s,
                "return_mean": evaluation["return_mean"],
            }
        )
        if evaluation["wall_s"] < summary["time/wall_s"]:
            eval_s += evaluation["eval_s"]
    train_s = summary["time/wall_s"] - eval_s
    totals["advantages_s"] = totals.pop("data_s") - totals["collect_s"]
    return {
        "env_steps": int(summary["time/env_steps"]),
        "train_s": train_s,
        "reported_sps": summary["time/sps"],
        "evals": evals,
        "first_step_s": first_step["s"],
        "breakdown": time_breakdown(totals, train_s),
    }


#: SB3 arguments that take a schedule (a constant or a function of the progress remaining)
SCHEDULED = {"learning_rate", "clip_range"}


def schedule(value: float | dict[str, float]):
    """A constant, or `linear_schedule`'s JSON as the callable of progress_remaining that SB3 takes."""
    if not isinstance(value, dict):
        return value
    start, shift = value["linear_from"], value["shift"]
    return lambda progress_remaining: start * max(0.0, progress_remaining + shift)


def child_sb3(spec: dict[str, Any]) -> dict[str, Any]:
    """Train Stable-Baselines3's PPO or A2C with `spec["kwargs"]` on DummyVecEnv, evaluating on pglab's
    schedule; evaluation time is kept out of the training time."""
    import numpy as np
    import torch
    from stable_baselines3 import A2C, PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import DummyVecEnv

    from pglab.callbacks.evaluation import EVAL_SEED_OFFSET

    # Defined here so that importing this script (every child does) does not import SB3.
    class TimedEvaluation(BaseCallback):
        """pglab's `PeriodicEvaluation` schedule: after the update of every rollout that crosses a multiple of
        `every` env steps, and after the last update; one deterministic episode per eval sub-env, seeded
        `seed + EVAL_SEED_OFFSET + i`. Training seconds exclude the evaluations."""

        def __init__(self, every: int, episodes: int, seed: int):
            super().__init__()
            self.eval_env = make_vec_env("CartPole-v1", n_envs=episodes, vec_env_cls=DummyVecEnv)
            self.every, self.episodes, self.seed = every, episodes, seed + EVAL_SEED_OFFSET
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
    timed_calls(
        algorithm, "collect_rollouts", totals, "collect_s"
    )  # includes the evaluations: subtracted below
    timed_calls(algorithm, "train", totals, "update_s")
    model = algorithm("MlpPolicy", env, seed=spec["seed"], device="cpu", verbose=0, **kwargs)
    callback = TimedEvaluation(spec["eval_every"], spec["eval_episodes"], spec["seed"])
    callback.start = time.perf_counter()
    model.learn(total_timesteps=spec["total_steps"], callback=callback)
    # Evaluations run from the callback's `_on_rollout_start`, inside `collect_rollouts`, but the final one.
    totals["collect_s"] -= sum(e["eval_s"] for e in callback.evals if not e["final"])
    return {
        "env_steps": model.num_timesteps,
        "train_s": callback.train_s,
        "evals": callback.evals,
        "first_step_s": first_step["s"],
        "breakdown": time_breakdown(totals, callback.train_s),
    }


def child_plain_ppo(spec: dict[str, Any]) -> dict[str, Any]:
    """A single-file PyTorch PPO with pglab's PPO hyperparameters, written after CleanRL's `ppo.py`: the
    reference for what PPO needs without a framework (no Lightning, Hydra, checkpoints, logging or
    evaluation). Like CleanRL it treats a truncation as a termination; that changes no cost."""
    import gymnasium as gym
    import torch
    from torch import nn
    from torch.distributions import Categorical

    algo, network, seed = spec["algo"], spec["network"], spec["seed"]
    torch.set_num_threads(spec["torch_threads"])
    torch.manual_seed(seed)
    first_step = record_first_call(gym.vector.SyncVectorEnv, "step")
    start = time.perf_counter()
    N, T = spec["num_envs"], algo["num_steps"]
    envs = gym.vector.SyncVectorEnv(
        [lambda: gym.make(spec["env_id"])] * N, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP
    )
    obs_dim, num_actions = envs.single_observation_space.shape[0], envs.single_action_space.n
    activation = getattr(nn, SB3_ACTIVATIONS[network["activation"]])

    def layer(n_in: int, n_out: int, gain: float) -> nn.Linear:
        linear = nn.Linear(n_in, n_out)
        nn.init.orthogonal_(linear.weight, gain)
        nn.init.zeros_(linear.bias)
        return linear

    def mlp(n_out: int, head_gain: float) -> nn.Sequential:
        sizes, layers = [obs_dim, *network["hidden_sizes"]], []
        for n_in, n_hidden in zip(sizes, sizes[1:], strict=False):
            layers += [layer(n_in, n_hidden, math.sqrt(2)), activation()]
        return nn.Sequential(*layers, layer(sizes[-1], n_out, head_gain))

    actor, critic = mlp(num_actions, 0.01), mlp(1, 1.0)
    parameters = [*actor.parameters(), *critic.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=algo["lr"], eps=1e-5)
    obs_buf = torch.zeros((T, N, obs_dim))
    actions = torch.zeros((T, N), dtype=torch.long)
    log_probs, rewards, values = torch.zeros((T, N)), torch.zeros((T, N)), torch.zeros((T, N))
    dones = torch.zeros((T, N))  # dones[t] = 1: obs_buf[t] is the first observation of an episode
    obs, done = torch.as_tensor(envs.reset(seed=seed)[0]), torch.zeros(N)
    batch_size, env_steps = T * N, 0
    while env_steps < spec["total_steps"]:
        if algo["anneal_lr"]:
            optimizer.param_groups[0]["lr"] = algo["lr"] * (1.0 - env_steps / spec["total_steps"])
        with torch.no_grad():
            for t in range(T):
                obs_buf[t], dones[t] = obs, done
                dist = Categorical(logits=actor(obs))
                actions[t] = dist.sample()
                log_probs[t], values[t] = dist.log_prob(actions[t]), critic(obs).squeeze(-1)
                next_obs, reward, terminated, truncated, _ = envs.step(actions[t].numpy())
                rewards[t] = torch.as_tensor(reward)
                obs, done = (
                    torch.as_tensor(next_obs),
                    torch.as_tensor(terminated | truncated, dtype=torch.float32),
                )
            env_steps += batch_size
            advantages, last, next_value, next_done = torch.zeros((T, N)), 0.0, critic(obs).squeeze(-1), done
            for t in reversed(range(T)):
                delta = rewards[t] + algo["gamma"] * next_value * (1.0 - next_done) - values[t]
                last = delta + algo["gamma"] * algo["gae_lambda"] * (1.0 - next_done) * last
                advantages[t], next_value, next_done = last, values[t], dones[t]
            returns = advantages + values
        b_obs, b_actions, b_log_probs = (
            obs_buf.reshape(batch_size, obs_dim),
            actions.flatten(),
            log_probs.flatten(),
        )
        b_advantages, b_returns = advantages.flatten(), returns.flatten()
        for _ in range(algo["update_epochs"]):
            for mb in torch.randperm(batch_size).split(batch_size // algo["num_minibatches"]):
                dist = Categorical(logits=actor(b_obs[mb]))
                ratio = (dist.log_prob(b_actions[mb]) - b_log_probs[mb]).exp()
                adv = b_advantages[mb]
                if algo["normalize_advantage"]:
                    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                clip = algo["clip_coef"]
                pg_loss = -torch.min(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv).mean()
                v_loss = 0.5 * (critic(b_obs[mb]).squeeze(-1) - b_returns[mb]).pow(2).mean()
                loss = pg_loss + algo["vf_coef"] * v_loss - algo["ent_coef"] * dist.entropy().mean()
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(parameters, algo["max_grad_norm"])
                optimizer.step()
    envs.close()
    return {
        "env_steps": env_steps,
        "train_s": time.perf_counter() - start,
        "evals": [],
        "first_step_s": first_step["s"],
    }


def child_ceiling(spec: dict[str, Any]) -> dict[str, Any]:
    """For each preset, build env, collector and algorithm as `train.py` does (untrained policy) and time
    (a) a raw `policy.act` + `env.step` loop and (b) the algorithm's `collect_rollout()` in a loop."""
    import lightning as L
    import torch
    from hydra.utils import instantiate

    from pglab.rollout.collector import RolloutCollector

    ceilings = {}
    for preset in spec["presets"]:
        cfg = compose_config(preset, spec["overrides"])
        L.seed_everything(cfg.seed, verbose=False)
        torch.set_num_threads(cfg.torch_threads)
        make_env = instantiate(cfg.env)
        collector = RolloutCollector(make_env(), seed=cfg.seed)
        module = instantiate(cfg.algo)(
            network=instantiate(cfg.network), collector=collector, total_env_steps=cfg.total_env_steps
        )
        env = make_env()
        ceilings[preset] = {
            "raw_sps": raw_loop_sps(module.policy, env, cfg.seed, spec["steps"]),
            "collector_sps": collector_sps(module, spec["steps"]),
        }
        env.close()
        collector.close()
    return {"presets": ceilings}


def raw_loop_sps(policy, env, seed: int, steps: int) -> float:
    """Env steps per second of the bare loop: policy forward and sampling under no_grad, `env.step`."""
    import torch

    obs, _ = env.reset(seed=seed)
    iterations = math.ceil(steps / env.num_envs)
    with torch.no_grad():
        start = time.perf_counter()
        for _ in range(iterations):
            actions, _, _ = policy.act(torch.as_tensor(obs, dtype=torch.float32))
            obs, *_ = env.step(actions.numpy())
        elapsed = time.perf_counter() - start
    return iterations * env.num_envs / elapsed


def collector_sps(module, steps: int) -> float:
    """Env steps per second of the algorithm's own rollout collection, after one warm-up rollout."""
    module.collect_rollout()
    first, start = module.collector.env_steps, time.perf_counter()
    while module.collector.env_steps - first < steps:
        module.collect_rollout()
    return (module.collector.env_steps - first) / (time.perf_counter() - start)


CHILDREN = {"pglab": child_pglab, "sb3": child_sb3, "plain_ppo": child_plain_ppo, "ceiling": child_ceiling}


# ====================================================================== summaries
def stable_solve(evals: list[dict[str, float]]) -> dict[str, float] | None:
    """The first evaluation from which every evaluation returns >= 475, or None (the last one is below)."""
    solve = None
    for evaluation in evals:
        if evaluation["return_mean"] < SOLVED_RETURN:
            solve = None
        elif solve is None:
            solve = {"env_steps": evaluation["env_steps"], "train_s": evaluation["train_s"]}
    return solve


def with_training_metrics(result: dict[str, Any]) -> dict[str, Any]:
    """A training run's result plus its steps/s (evaluation excluded) and its stable solve (or None)."""
    if "train_s" not in result:
        return result
    return result | {"sps": result["env_steps"] / result["train_s"], "solve": stable_solve(result["evals"])}


def spread(values: list[float]) -> dict[str, float] | None:
    """Median, min and max; None for no values."""
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per run name: spreads of steps/s, solve, memory, startup; the per-repeat ratios; the best preset."""
    repeats = sorted({r["repeat"] for r in results})
    by = {(r["name"], r["repeat"]): r for r in results}

    def ratio(numerator: str, denominator: str, key: str) -> dict[str, float]:
        """The spread over repeats of `numerator`'s `key` / `denominator`'s, both from the same repeat."""
        return spread([by[numerator, k][key] / by[denominator, k][key] for k in repeats])

    runs = {}
    for name in dict.fromkeys(r["name"] for r in results if r["name"] != "ceiling"):
        mine = [by[name, k] for k in repeats]
        solves = [r["solve"] for r in mine if r["solve"]]
        runs[name] = {
            "sps": spread([r["sps"] for r in mine]),
            "solved": len(solves),
            "repeats": len(mine),
            "solve_env_steps": spread([s["env_steps"] for s in solves]),
            "solve_train_s": spread([s["train_s"] for s in solves]),
            "peak_rss_mib": spread([r["peak_rss_mib"] for r in mine]),
            "first_step_s": spread([r["first_step_s"] for r in mine]),
            # ms per 1,000 env steps in each part of the training time
            "breakdown": {
                part: spread([1e6 * r["breakdown"][part] / r["env_steps"] for r in mine])
                for part in BREAKDOWN
                if all("breakdown" in r for r in mine)
            },
        }
    ceilings = {}
    for preset in PRESETS:
        raw = [by["ceiling", k]["presets"][preset]["raw_sps"] for k in repeats]
        collected = [by["ceiling", k]["presets"][preset]["collector_sps"] for k in repeats]
        trained = [by[f"pglab/{preset}", k]["sps"] for k in repeats]
        ceilings[preset] = {
            "raw_sps": spread(raw),
            "collector_sps": spread(collected),
            "collector_fraction": spread([c / r for c, r in zip(collected, raw, strict=True)]),
            "training_fraction": spread([t / r for t, r in zip(trained, raw, strict=True)]),
        }

    # The best preset: solved in the most repeats, then the shortest median training time to the solve.
    def rank(preset: str) -> tuple[int, float]:
        run = runs[f"pglab/{preset}"]
        return -run["solved"], run["solve_train_s"]["median"] if run["solve_train_s"] else math.inf

    best = min(PRESETS, key=rank)
    best_solve, zoo_solve = runs[f"pglab/{best}"]["solve_train_s"], runs["sb3/rl_zoo_ppo"]["solve_train_s"]
    ratios = {
        "ppo": ratio("pglab/ppo_cartpole", "sb3/ppo_cartpole", "sps"),
        "a2c": ratio("pglab/a2c_cartpole", "sb3/a2c_cartpole", "sps"),
        "memory": ratio("pglab/ppo_cartpole", "plain/ppo", "peak_rss_mib"),
        # Solve times depend on the seed more than on the machine: a ratio of medians, not per repeat.
        "solve": best_solve["median"] / zoo_solve["median"] if best_solve and zoo_solve else None,
    }
    return {"runs": runs, "ceilings": ceilings, "ratios": ratios, "best_preset": best}


# ====================================================================== report
def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    models = [line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")]
    meminfo = Path("/proc/meminfo").read_text().split() if Path("/proc/meminfo").exists() else []
    versions = {}
    for package in ("torch", "gymnasium", "lightning", "stable-baselines3", "numpy", "hydra-core"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "cpu": models[0] if models else platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "memory_gib": round(int(meminfo[1]) / 2**20, 1) if meminfo[:1] == ["MemTotal:"] else None,
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
    }


def fmt(s: dict[str, float] | None, digits: int = 0, unit: str = "") -> str:
    """`median [min–max]` (one value alone when the spread has one)."""
    if s is None:
        return "–"

    def number(x: float) -> str:
        return f"{x:,.{digits}f}{unit}"

    return (
        number(s["median"])
        if s["n"] == 1
        else f"{number(s['median'])} [{number(s['min'])}–{number(s['max'])}]"
    )


def markdown(report: dict[str, Any]) -> str:
    summary, info, settings = report["summary"], report["machine"], report["settings"]
    runs, ceilings, ratios = summary["runs"], summary["ceilings"], summary["ratios"]
    best = summary["best_preset"]
    lines = ["# Benchmarks", ""]
    if settings["quick"]:
        lines += [
            "**QUICK MODE**: tiny budgets for a smoke check of the harness; the numbers are noisy and say "
            "nothing about full runs.",
            "",
        ]
    lines += [
        f"Measured {report['date']} with `{settings['command']}`: {settings['repeats']} repeat(s), seeds "
        f"{settings['seed']}–{settings['seed'] + settings['repeats'] - 1}, pglab and Stable-Baselines3 runs interleaved. "
        "Each cell is the median [min–max] over the repeats; a ratio is taken within each repeat, then "
        "summarized. How each number is measured: the docstring of `scripts/benchmark.py`.",
        "",
        "| machine | |",
        "|---|---|",
        f"| CPU | {info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB |",
        f"| OS, Python | {info['os']}, Python {info['python']} |",
        "| versions | " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()) + " |",
        "",
        "## Headline (issue 6 targets in brackets)",
        "",
        f"- PPO training steps/s, pglab / SB3 with the same hyperparameters: **{fmt(ratios['ppo'], 2)}** "
        f"(target {TARGETS['ppo']})",
        f"- A2C training steps/s, pglab / SB3: **{fmt(ratios['a2c'], 2)}** (target {TARGETS['a2c']})",
        f"- Time to a stable solve, best pglab preset (`{best}`, {fmt(runs[f'pglab/{best}']['solve_train_s'], 1, ' s')}) "
        f"/ SB3's RL Zoo PPO ({fmt(runs['sb3/rl_zoo_ppo']['solve_train_s'], 1, ' s')}), ratio of medians: **"
        + (f"{ratios['solve']:.2f}" if ratios["solve"] is not None else "–")
        + f"** (target {TARGETS['solve']})",
        f"- PPO rollout collection / ceiling: **{fmt(ceilings['ppo_cartpole']['collector_fraction'], 2)}** "
        f"(target {TARGETS['collection']}); PPO training / ceiling: {fmt(ceilings['ppo_cartpole']['training_fraction'], 2)}",
        f"- Peak memory, pglab PPO / plain PyTorch PPO: **{fmt(ratios['memory'], 2)}** (target {TARGETS['memory']})",
        "",
        "## Training throughput (env steps/s, evaluation time excluded)",
        "",
        "| algorithm | pglab | SB3, same hyperparameters | pglab / SB3 | ceiling: raw loop | pglab collector | "
        "collector / ceiling | pglab training / ceiling |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for preset in PRESETS:
        algo = preset.split("_")[0]
        sb3 = runs.get(f"sb3/{preset}")
        c = ceilings[preset]
        lines.append(
            f"| {algo} (`experiment={preset}`) | {fmt(runs[f'pglab/{preset}']['sps'])} | "
            f"{fmt(sb3['sps']) if sb3 else '–'} | {fmt(ratios.get(algo), 2) if sb3 else '–'} | {fmt(c['raw_sps'])} | "
            f"{fmt(c['collector_sps'])} | {fmt(c['collector_fraction'], 2)} | {fmt(c['training_fraction'], 2)} |"
        )
    lines += [
        f"| plain PyTorch PPO (CleanRL-style, pglab's PPO hyperparameters, no evaluation) | {fmt(runs['plain/ppo']['sps'])} "
        "| | | | | | |",
        f"| SB3 PPO, RL Zoo's tuned CartPole settings | | {fmt(runs['sb3/rl_zoo_ppo']['sps'])} | | | | | |",
        "",
        f"## Stable solve (evaluation ≥ {SOLVED_RETURN:g} from then on; {settings['eval_episodes']} deterministic episodes "
        f"every {settings['eval_every']:,} env steps; training seconds exclude evaluation)",
        "",
        "| run | solved | env steps to the solve | training s to the solve | budget, env steps |",
        "|---|---|---|---|---|",
    ]
    budgets = {r["name"]: r["env_steps"] for r in report["results"] if "env_steps" in r}
    for name, run in runs.items():
        if name != "plain/ppo":
            lines.append(
                f"| {name} | {run['solved']}/{run['repeats']} | {fmt(run['solve_env_steps'])} | "
                f"{fmt(run['solve_train_s'], 1)} | {budgets[name]:,} |"
            )
    lines += [
        "",
        "## Where the training time goes (ms per 1,000 env steps; evaluation excluded)",
        "",
        "| run | " + " | ".join(BREAKDOWN.values()) + " | total |",
        "|---|" + "---|" * (len(BREAKDOWN) + 1),
    ]
    for name, run in runs.items():
        if run["breakdown"]:
            total = sum(part["median"] for part in run["breakdown"].values())
            lines.append(
                f"| {name} | "
                + " | ".join(fmt(run["breakdown"][part], 1) for part in BREAKDOWN)
                + f" | {total:.1f} |"
            )
    lines += [
        "",
        "## Memory and startup",
        "",
        "| run | peak resident memory, MiB | / plain PyTorch PPO | process start to first env step, s |",
        "|---|---|---|---|",
    ]
    plain_rss = runs["plain/ppo"]["peak_rss_mib"]["median"]
    for name, run in runs.items():
        lines.append(
            f"| {name} | {fmt(run['peak_rss_mib'])} | {run['peak_rss_mib']['median'] / plain_rss:.2f} | "
            f"{fmt(run['first_step_s'], 2)} |"
        )
    lines += [
        "",
        "SB3 runs map pglab's hyperparameters exactly (`sb3_hyperparameters` in the script: SB3's `vf_coef` is "
        "pglab's / 2 because SB3's value loss is the MSE and pglab's 0.5 × MSE; the annealing schedule is shifted "
        "by one rollout because SB3 reads the progress after the rollout). RL Zoo's PPO anneals the clip range "
        "(`lin_0.2`), which pglab does not; it is SB3's tuned reference for the solve time, not a same-"
        "hyperparameter comparison. pglab's training time includes its checkpoints (`last.ckpt` every 50k env "
        "steps, `best.ckpt` whenever the evaluation improves) and progress bar, as a user's run does.",
        "",
        "![benchmark](figures/benchmark.png)",
        "",
    ]
    return "\n".join(lines)


COLORS = {"pglab": "C0", "SB3": "C1", "plain": "C2", "ceiling": "0.75"}  # bar colors by label prefix


def display_name(name: str) -> str:
    """A run name as a plot label: "sb3/ppo_cartpole" -> "SB3 ppo_cartpole"."""
    return name.replace("pglab/", "pglab ").replace("sb3/", "SB3 ").replace("plain/", "plain PyTorch ")


def plot(report: dict[str, Any], path: Path) -> None:
    """Three bar charts with min–max error bars: throughput, training seconds to a stable solve, peak memory."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs, ceilings = report["summary"]["runs"], report["summary"]["ceilings"]

    def bars(ax, entries: list[tuple[str, dict | None]], title: str, ylabel: str) -> None:
        entries = [(label, s) for label, s in entries if s is not None]
        if not entries:
            ax.text(0.5, 0.5, "no run reached it", ha="center", va="center", transform=ax.transAxes)
        medians = [s["median"] for _, s in entries]
        errors = [[s["median"] - s["min"] for _, s in entries], [s["max"] - s["median"] for _, s in entries]]
        colors = [next(c for prefix, c in COLORS.items() if label.startswith(prefix)) for label, _ in entries]
        ax.bar(range(len(entries)), medians, yerr=errors, capsize=3, color=colors)
        ax.set_xticks(
            range(len(entries)), [label for label, _ in entries], rotation=60, ha="right", fontsize=7
        )
        ax.set_title(title, fontsize=9)
        ax.set_ylabel(ylabel)
        ax.grid(axis="y", alpha=0.3)

    fig, axes = plt.subplots(1, 3, figsize=(14, 5), dpi=100)
    throughput = []
    for preset in PRESETS:
        algo = preset.split("_")[0]
        throughput += [(f"pglab {algo}", runs[f"pglab/{preset}"]["sps"])]
        if f"sb3/{preset}" in runs:
            throughput += [(f"SB3 {algo}", runs[f"sb3/{preset}"]["sps"])]
        throughput += [(f"ceiling {algo}", ceilings[preset]["raw_sps"])]
    throughput += [
        ("plain PyTorch PPO", runs["plain/ppo"]["sps"]),
        ("SB3 RL Zoo PPO", runs["sb3/rl_zoo_ppo"]["sps"]),
    ]
    bars(axes[0], throughput, "training env steps/s (evaluation excluded)", "env steps / s")
    bars(
        axes[1],
        [(display_name(n), r["solve_train_s"]) for n, r in runs.items() if n != "plain/ppo"],
        "training seconds to a stable solve (solved runs)",
        "s",
    )
    bars(
        axes[2],
        [(display_name(n), r["peak_rss_mib"]) for n, r in runs.items()],
        "peak resident memory",
        "MiB",
    )
    title = "pglab vs Stable-Baselines3 on CartPole-v1, median and min–max"
    fig.suptitle(title + (" (QUICK MODE: smoke values)" if report["settings"]["quick"] else ""))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


# ====================================================================== main
def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="repeats of every measurement, interleaved (default 3; 1 with --quick)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"tiny budgets ({QUICK.train_steps:,} env steps per run, evaluation every {QUICK.eval_every:,} "
        f"steps on {QUICK.eval_episodes} episodes, {QUICK.ceiling_steps:,}-step ceiling loops): a smoke "
        "check of the harness; the numbers mean nothing",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the first repeat; repeat k uses seed + k (default 0)"
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=None,
        help="where benchmarks.md, benchmarks.json and figures/benchmark.png go "
        "(default docs/; outputs/benchmark-quick/ with --quick)",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="run dirs and child logs (default outputs/benchmark/<date>_<time>)",
    )
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--spec", type=json.loads, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    if args.repeats < 1:
        parser.error(f"--repeats={args.repeats} must be at least 1")
    return args


def benchmark(args: argparse.Namespace) -> None:
    try:
        metadata.version("stable-baselines3")
    except metadata.PackageNotFoundError:
        sys.exit('stable-baselines3 is not installed: pip install -c constraints.txt -e ".[dev,bench]"')
    budget = QUICK if args.quick else FULL
    out_dir = args.out_dir or ROOT / ("outputs/benchmark-quick" if args.quick else "docs")
    stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    work_dir = (args.work_dir or ROOT / "outputs" / "benchmark" / stamp).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    plan = [(k, run) for k in range(args.repeats) for run in plan_repeat(k, args.seed + k, budget, work_dir)]
    print(f"{len(plan)} runs, logs in {work_dir}", flush=True)
    results = []
    started = time.perf_counter()
    for i, (repeat, run) in enumerate(plan, 1):
        result = with_training_metrics(
            run_child(run, work_dir / f"{run.name.replace('/', '-')}-r{repeat}.log")
        )
        results.append(result | {"repeat": repeat, "seed": args.seed + repeat})
        print(
            f"[{i}/{len(plan)}, {time.perf_counter() - started:,.0f} s] repeat {repeat}: {describe(result)}",
            flush=True,
        )
    report = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "settings": {
            "command": " ".join(["python scripts/benchmark.py", *sys.argv[1:]]),
            "quick": args.quick,
            "repeats": args.repeats,
            "seed": args.seed,
            **vars(budget),
        },
        "machine": machine(),
        "summary": summarize(results),
        "results": results,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "benchmarks.json").write_text(json.dumps(report, indent=2) + "\n")
    (out_dir / "benchmarks.md").write_text(markdown(report))
    plot(report, out_dir / "figures" / "benchmark.png")
    print(
        f"wrote {out_dir / 'benchmarks.md'}, {out_dir / 'benchmarks.json'}, {out_dir / 'figures' / 'benchmark.png'}"
    )


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    if args.child:
        args.result.write_text(json.dumps(CHILDREN[args.child](args.spec)))
    else:
        benchmark(args)


if __name__ == "__main__":
    main(sys.argv[1:])
