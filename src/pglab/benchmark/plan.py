"""What one benchmark runs: the budgets of a mode, the presets, and the child runs of each repeat.

Planning composes pglab's configs, which imports its algorithms (torch, Lightning: ~400 MiB), so the parent
plans in a process of its own (`plan_runs`, which runs this module): the parent must stay small, because Linux
carries a process's peak resident memory across `exec`, so every child it starts would report at least the
parent's peak as its own `ru_maxrss`.
"""

import json
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pglab.benchmark.sb3_config import RL_ZOO_PPO_CARTPOLE, SB3_ALGOS, sb3_hyperparameters

#: the repository: its `conf/` and `train.py` are what the pglab runs use
ROOT = Path(__file__).resolve().parents[3]
TRAIN_PY = ROOT / "train.py"
PRESETS = ("ppo_cartpole", "a2c_cartpole", "vpg_cartpole", "reinforce_cartpole")
#: the logger that every pglab run gets besides `logger=none`, and the file in its run dir it writes
EVALUATION_CLOCK = "pglab.benchmark.evaluation_clock.EvaluationClock"
EVALUATION_CLOCK_FILE = "evaluation_clock.json"


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
    """One child process: `kind` selects the child (`child_process.CHILDREN`), `spec` is its JSON input."""

    name: str
    kind: str
    spec: dict[str, Any]


def compose_config(preset: str, overrides: list[str]):
    """pglab's training config for `experiment=<preset>` plus `overrides`, composed as `train.py` does (after
    registering the algorithms' defaults, which `conf/algo/*.yaml` inherit)."""
    from hydra import compose, initialize_config_dir

    from pglab.algos import register_configs

    register_configs()

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
    """A Stable-Baselines3 run of `algo` ("PPO" or "A2C") with `kwargs`, evaluated on the budget's schedule with
    pglab's evaluation seeds."""
    # Imported here, not in the SB3 child: it brings Lightning, ~175 MiB that the SB3 run's memory would count.
    from pglab.callbacks.evaluation import EVAL_SEED_OFFSET

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
            "eval_seed": seed + EVAL_SEED_OFFSET,
        },
    )


def plan_repeat(repeat: int, seed: int, budget: Budget, work_dir: Path) -> list[Run]:
    """The runs of one repeat, each pglab run next to its SB3 counterpart (pairs flipped on odd repeats)."""
    from omegaconf import OmegaConf

    overrides = pglab_overrides(seed, budget)
    configs = {preset: compose_config(preset, overrides) for preset in PRESETS}

    def pglab(preset: str) -> Run:
        run_dir = work_dir / f"pglab-{preset}-r{repeat}"
        command_line = [
            f"experiment={preset}",
            *overrides,
            "logger=none",
            f"+logger.evaluation_clock._target_={EVALUATION_CLOCK}",
            f"+logger.evaluation_clock.path={run_dir / EVALUATION_CLOCK_FILE}",
            f"hydra.run.dir={run_dir}",
        ]
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


def plan_runs(repeats: int, seed: int, budget: Budget, work_dir: Path) -> list[tuple[int, Run]]:
    """Every repeat's runs (repeat k with seed `seed + k`), planned by `python -m pglab.benchmark.plan` (see the
    module docstring for why in another process); the plan is kept as `work_dir/plan.json`."""
    path = work_dir / "plan.json"
    spec = {"repeats": repeats, "seed": seed, "budget": asdict(budget), "work_dir": str(work_dir)}
    command = [sys.executable, "-m", "pglab.benchmark.plan", json.dumps(spec), str(path)]
    subprocess.run(command, cwd=ROOT, check=True)
    return [(repeat, Run(**run)) for repeat, run in json.loads(path.read_text())]


def main(argv: list[str]) -> None:
    """`python -m pglab.benchmark.plan SPEC PATH`: write the runs of `plan_runs`'s JSON spec to PATH."""
    spec, path = json.loads(argv[0]), Path(argv[1])
    budget, work_dir = Budget(**spec["budget"]), Path(spec["work_dir"])
    runs = [
        (k, asdict(run))
        for k in range(spec["repeats"])
        for run in plan_repeat(k, spec["seed"] + k, budget, work_dir)
    ]
    path.write_text(json.dumps(runs, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
