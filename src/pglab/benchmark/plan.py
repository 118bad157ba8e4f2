"""What one benchmark runs: the budgets of a mode, the presets, the torch-thread calibration, the child runs
of each repeat and those of the torch env backend's section.

Every framework trains at its own fastest torch thread count on this machine: a short calibration
(`plan_calibration`: the PPO of the headline comparison, `Budget.calibration_steps` env steps, at each
candidate count, `Budget.calibration_rounds` rounds with the order of the counts flipped on odd rounds) runs
first, `summary.calibrate` picks the fastest count per framework, and `plan_runs` gives every timed run its
framework's count. `plan_torch_backend` plans the torch env backend's runs (`env.vectorization=torch`), all with one
torch thread, after the repeats.

Planning composes pglab's configs, which imports its algorithms (torch, Lightning: ~400 MiB), so the parent
plans in a process of its own (`python -m pglab.benchmark.plan`, this module's `main`): the parent must stay
small, because Linux carries a process's peak resident memory across `exec`, so every child it starts would
report at least the parent's peak as its own `ru_maxrss`.
"""

import json
import subprocess
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from pglab.benchmark.sb3_config import RL_ZOO_PPO_CARTPOLE, SB3_ALGOS, sb3_hyperparameters

#: the repository: its `conf/` and `train.py` are what the pglab runs use
ROOT = Path(__file__).resolve().parents[3]
TRAIN_PY = ROOT / "train.py"
PRESETS = ("ppo_cartpole", "a2c_cartpole", "vpg_cartpole", "reinforce_cartpole")
#: the frameworks that train, by the `Run.kind` of their runs, with their report names; each gets its own
#: torch thread count (the ceiling, pglab's env and policy, runs with pglab's)
FRAMEWORKS = {"pglab": "pglab", "sb3": "Stable-Baselines3", "plain_ppo": "plain PyTorch PPO"}
#: the preset whose PPO every framework trains in the thread calibration (the headline comparison's)
CALIBRATION_PRESET = "ppo_cartpole"
#: the logger that every pglab run gets besides `logger=none`, and the file in its run dir it writes
EVALUATION_CLOCK = "pglab.benchmark.evaluation_clock.EvaluationClock"
EVALUATION_CLOCK_FILE = "evaluation_clock.json"
#: the torch env backend's presets (`env.vectorization=torch`), by env
TORCH_PRESETS = {
    "cartpole": "ppo_cartpole_torch",
    "acrobot": "ppo_acrobot_torch",
    "pendulum": "ppo_pendulum_torch",
}
#: the gymnasium-backend presets that the torch presets' final return and wall time are compared with (CartPole's,
#: `ppo_cartpole`, is the repeats' own `pglab/ppo_cartpole`)
GYMNASIUM_PRESETS = {"acrobot": "ppo_acrobot", "pendulum": "ppo_pendulum"}
#: sub-envs of the torch backend's measurements: the env alone (random actions), collection with an untrained
#: 64x64 policy, and PPO training throughput
TORCH_ENV_ONLY_ENVS = 4_096
TORCH_COLLECTION_ENVS = 1_024
TORCH_THROUGHPUT_ENVS = 1_024
#: the policy of the collection measurement
TORCH_COLLECTION_NETWORK = "network.hidden_sizes=[64,64]"
#: the torch thread count of every torch-backend run
TORCH_THREADS = 1


@dataclass(frozen=True)
class Budget:
    """Env-step budgets of one benchmark mode.

    train_steps: every training run's budget; None keeps each preset's own (and RL Zoo's 100k).
    eval_every: evaluation interval in env steps, both frameworks.
    eval_episodes: episodes per evaluation, both frameworks.
    ceiling_steps: env steps timed by each ceiling loop.
    calibration_steps: env steps of each thread-calibration run (one evaluation of one episode, at the end).
    calibration_rounds: runs per framework and thread count in the calibration (at most: a count clearly slower
        than its framework's best runs no more rounds, `summary.clearly_slower`); their median steps/s counts.

    The torch env backend's section (`plan_torch_backend`; its training runs use `train_steps`, `eval_every` and
    `eval_episodes` too):

    torch_seeds: seeds of its env, collection, PPO throughput and CartPole solve measurements.
    torch_env_steps: env steps timed by the env-alone loop (random actions, `TORCH_ENV_ONLY_ENVS` sub-envs).
    torch_collection_steps: env steps timed by each collection loop (`TORCH_COLLECTION_ENVS` sub-envs).
    torch_ppo_steps: budget of each PPO throughput run (`TORCH_THROUGHPUT_ENVS` sub-envs; one evaluation, at the
        end, excluded from the steps/s).
    pair_seeds: seeds of the Acrobot and Pendulum pairs (the torch preset and its gymnasium-backend preset).
    single_thread_repeats: repeats of the single-threaded pglab / SB3 PPO and A2C pairs, which run only when the
        calibration did not give both frameworks one thread (else the repeats' own pairs are single-threaded).
    single_thread_steps: budget of each of those runs (one evaluation, at the end, excluded).
    """

    train_steps: int | None
    eval_every: int
    eval_episodes: int
    ceiling_steps: int
    calibration_steps: int
    calibration_rounds: int
    torch_seeds: int
    torch_env_steps: int
    torch_collection_steps: int
    torch_ppo_steps: int
    pair_seeds: int
    single_thread_repeats: int
    single_thread_steps: int


FULL = Budget(
    train_steps=None,
    eval_every=10_000,
    eval_episodes=20,
    ceiling_steps=50_000,
    calibration_steps=8_192,  # 32 PPO rollouts of 8 envs x 32 steps: ~4 s of training per run here
    calibration_rounds=2,
    torch_seeds=5,
    torch_env_steps=4_096 * 1_024,  # ~1 s at 5M steps/s
    torch_collection_steps=1_024 * 1_024,  # ~1 s per loop at 1M steps/s
    torch_ppo_steps=262_144,  # 16 rollouts of 16,384: ~5 s at 50k steps/s
    pair_seeds=1,  # the gymnasium-backend Acrobot and Pendulum presets take ~25 and ~60 s
    single_thread_repeats=2,
    single_thread_steps=32_768,
)
QUICK = Budget(
    train_steps=4_096,
    eval_every=2_048,
    eval_episodes=4,
    ceiling_steps=4_096,
    calibration_steps=2_048,
    calibration_rounds=1,
    torch_seeds=1,
    torch_env_steps=4_096 * 16,
    torch_collection_steps=1_024 * 16,
    torch_ppo_steps=16_384,
    pair_seeds=1,
    single_thread_repeats=1,
    single_thread_steps=2_048,
)


@dataclass
class Run:
    """One child process: `kind` selects the child (`child_process.CHILDREN`), `spec` is its JSON input,
    `threads` the torch thread count it trains with."""

    name: str
    kind: str
    spec: dict[str, Any]
    threads: int


def thread_candidates(cores: int) -> list[int]:
    """The torch thread counts the calibration tries on `cores` cores: the powers of two below it, and it
    (1 and 2 on 2 cores; 1, 2, 4, 6 on 6)."""
    candidates = [1]
    while candidates[-1] * 2 < cores:
        candidates.append(candidates[-1] * 2)
    return candidates + [cores] if cores > 1 else candidates


def compose_config(preset: str, overrides: list[str]):
    """pglab's training config for `experiment=<preset>` plus `overrides`, composed as `train.py` does (after
    registering the algorithms' defaults, which `conf/algo/*.yaml` inherit)."""
    from hydra import compose, initialize_config_dir

    from pglab.algos import register_configs

    register_configs()

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(config_name="train", overrides=[f"experiment={preset}", *overrides])


def pglab_overrides(seed: int, budget: Budget, threads: int) -> list[str]:
    """The key=value overrides every pglab run of a repeat shares (besides the preset and its run dir)."""
    overrides = [
        f"seed={seed}",
        f"torch_threads={threads}",
        f"callbacks.evaluation.every_env_steps={budget.eval_every}",
        f"callbacks.evaluation.episodes={budget.eval_episodes}",
    ]
    if budget.train_steps is not None:
        overrides.append(f"total_env_steps={budget.train_steps}")
    return overrides


def pglab_run(name: str, preset: str, overrides: list[str], run_dir: Path, threads: int) -> Run:
    """`python train.py experiment=<preset> <overrides>` in `run_dir`, without loggers but `EvaluationClock`
    (`threads`: the `torch_threads=` among `overrides`)."""
    command_line = [
        f"experiment={preset}",
        *overrides,
        "logger=none",
        f"+logger.evaluation_clock._target_={EVALUATION_CLOCK}",
        f"+logger.evaluation_clock.path={run_dir / EVALUATION_CLOCK_FILE}",
        f"hydra.run.dir={run_dir}",
    ]
    return Run(name, "pglab", {"overrides": command_line, "run_dir": str(run_dir)}, threads)


def sb3_run(
    name: str,
    algo: str,
    kwargs: dict,
    num_envs: int,
    total_steps: int,
    seed: int,
    threads: int,
    budget: Budget,
) -> Run:
    """A Stable-Baselines3 run of `algo` ("PPO" or "A2C") with `kwargs` and `threads` torch threads, evaluated
    on the budget's schedule with pglab's evaluation seeds."""
    # Imported here, not in the SB3 child: it brings Lightning, ~175 MiB that the SB3 run's memory would count.
    from pglab.callbacks.evaluation import EVAL_SEED_OFFSET

    spec = {
        "algo": algo,
        "kwargs": kwargs,
        "num_envs": num_envs,
        "total_steps": total_steps,
        "seed": seed,
        "torch_threads": threads,
        "eval_every": budget.eval_every,
        "eval_episodes": budget.eval_episodes,
        "eval_seed": seed + EVAL_SEED_OFFSET,
    }
    return Run(name, "sb3", spec, threads)


def plain_ppo_run(name: str, cfg, seed: int, threads: int) -> Run:
    """The single-file PyTorch PPO with the PPO hyperparameters of the composed pglab config `cfg`."""
    from omegaconf import OmegaConf

    spec = {
        "algo": OmegaConf.to_container(cfg.algo),
        "network": OmegaConf.to_container(cfg.network),
        "env_id": cfg.env.id,
        "num_envs": cfg.env.num_envs,
        "total_steps": cfg.total_env_steps,
        "seed": seed,
        "torch_threads": threads,
    }
    return Run(name, "plain_ppo", spec, threads)


def plan_calibration(
    seed: int, budget: Budget, candidates: list[int], work_dir: Path
) -> list[tuple[int, Run]]:
    """The thread calibration, as (round, run) pairs: every framework trains `CALIBRATION_PRESET`'s PPO (SB3
    with the same hyperparameters) for `budget.calibration_steps` env steps at each candidate thread count, in
    `budget.calibration_rounds` rounds; round k uses seed `seed + k`, and the counts run in reverse order on
    odd rounds, so that a drift of the machine's speed favours no count."""
    steps = budget.calibration_steps
    # a single evaluation, of one episode, at the end: excluded from the steps/s anyway, kept short
    short = replace(budget, train_steps=steps, eval_every=steps, eval_episodes=1)
    cfg = compose_config(CALIBRATION_PRESET, pglab_overrides(seed, short, candidates[0]))
    sb3_kwargs, sb3_algo = sb3_hyperparameters(cfg), SB3_ALGOS[CALIBRATION_PRESET]
    runs = []
    for k in range(budget.calibration_rounds):
        order = candidates[::-1] if k % 2 else candidates
        for kind in FRAMEWORKS:
            for t in order:
                name = f"calibration/{kind}/t{t}"
                if kind == "pglab":
                    run_dir = work_dir / f"calibration-pglab-t{t}-r{k}"
                    overrides = pglab_overrides(seed + k, short, t)
                    run = pglab_run(name, CALIBRATION_PRESET, overrides, run_dir, t)
                elif kind == "sb3":
                    run = sb3_run(name, sb3_algo, sb3_kwargs, cfg.env.num_envs, steps, seed + k, t, short)
                else:
                    run = plain_ppo_run(name, cfg, seed + k, t)
                runs.append((k, run))
    return runs


def plan_repeat(repeat: int, seed: int, budget: Budget, work_dir: Path, threads: dict[str, int]) -> list[Run]:
    """The runs of one repeat, each pglab run next to its SB3 counterpart (pairs flipped on odd repeats), each
    framework with its thread count `threads[kind]` (keys: `FRAMEWORKS`)."""
    overrides = pglab_overrides(seed, budget, threads["pglab"])
    configs = {preset: compose_config(preset, overrides) for preset in PRESETS}

    def pglab(preset: str) -> Run:
        run_dir = work_dir / f"pglab-{preset}-r{repeat}"
        return pglab_run(f"pglab/{preset}", preset, overrides, run_dir, threads["pglab"])

    def sb3_same(preset: str) -> Run:
        cfg = configs[preset]
        return sb3_run(
            f"sb3/{preset}",
            SB3_ALGOS[preset],
            sb3_hyperparameters(cfg),
            cfg.env.num_envs,
            cfg.total_env_steps,
            seed,
            threads["sb3"],
            budget,
        )

    zoo = RL_ZOO_PPO_CARTPOLE
    ceiling_spec = {"presets": list(PRESETS), "overrides": overrides, "steps": budget.ceiling_steps}
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
                threads["sb3"],
                budget,
            ),
            plain_ppo_run("plain/ppo", configs["ppo_cartpole"], seed, threads["plain_ppo"]),
        ),
        (pglab("vpg_cartpole"), pglab("reinforce_cartpole")),
        (Run("ceiling", "ceiling", ceiling_spec, threads["pglab"]),),
    ]
    return [run for pair in pairs for run in (pair[::-1] if repeat % 2 else pair)]


def short_budget(budget: Budget, steps: int) -> Budget:
    """`budget` with `steps` env steps per run and a single evaluation, of one episode, at the end: for runs that
    measure steps/s only (evaluations are excluded from it anyway)."""
    return replace(budget, train_steps=steps, eval_every=steps, eval_episodes=1)


def preset_budget(preset: str, budget: Budget) -> Budget:
    """`budget` with its training budget raised to at least two of `preset`'s rollouts where it sets one (quick
    mode): a run of one rollout ends before its first update, so it logs no rollout row to read its clocks from."""
    if budget.train_steps is None:
        return budget
    cfg = compose_config(preset, pglab_overrides(0, budget, TORCH_THREADS))
    rollout = cfg.env.num_envs * cfg.algo.num_steps
    return replace(budget, train_steps=max(budget.train_steps, 2 * rollout))


def batched_run(name: str, seed: int, budget: Budget, collection_overrides: list[str]) -> Run:
    """The torch backend's env alone (random actions, `TORCH_ENV_ONLY_ENVS` sub-envs) and its collection with an
    untrained 64x64 policy (`TORCH_PRESETS["cartpole"]` with `collection_overrides`), one torch thread."""
    spec = {
        "seed": seed,
        "torch_threads": TORCH_THREADS,
        "device": "cpu",
        "env_only_envs": TORCH_ENV_ONLY_ENVS,
        "env_steps": budget.torch_env_steps,
        "preset": TORCH_PRESETS["cartpole"],
        "overrides": [*pglab_overrides(seed, budget, TORCH_THREADS), *collection_overrides],
        "collection_steps": budget.torch_collection_steps,
    }
    return Run(name, "batched", spec, TORCH_THREADS)


def plan_torch_backend(
    seed: int, budget: Budget, work_dir: Path, threads: dict[str, int]
) -> list[tuple[int, Run]]:
    """The torch env backend's runs, as (seed index, run) pairs; seed index j uses seed `seed + j`. Every torch run
    has one torch thread; the gymnasium-backend runs have pglab's calibrated count `threads["pglab"]`.

    For each of `budget.torch_seeds` seeds: the env alone and collection (`batched_run`), PPO training throughput at
    `TORCH_THROUGHPUT_ENVS` sub-envs (`TORCH_PRESETS["cartpole"]` with `env.num_envs` set: its steps per env per
    rollout, epochs and minibatch count kept, so rollouts and minibatches grow with the envs), and that
    preset as it is (its CartPole solve); for the first `budget.pair_seeds` seeds also the Acrobot and Pendulum torch
    presets, each next to its gymnasium-backend preset (the pair flipped on odd seeds). Runs are named by what they
    measure: `torch/env_collection`, `torch/ppo_throughput`, `torch/cartpole`, `torch/<env>` and `gymnasium/<env>`
    (env: a key of `GYMNASIUM_PRESETS`); their overrides name the preset. A set `budget.train_steps` (quick mode) is
    raised to two rollouts of a preset where it is less (`preset_budget`). Then, only where the
    calibration gave pglab or SB3 more than one thread, `budget.single_thread_repeats` repeats of pglab's PPO and A2C
    presets next to SB3 with the same hyperparameters, all single-threaded (`budget.single_thread_steps` each).
    """
    cartpole = TORCH_PRESETS["cartpole"]
    throughput = [f"env.num_envs={TORCH_THROUGHPUT_ENVS}"]
    collection = [f"env.num_envs={TORCH_COLLECTION_ENVS}", TORCH_COLLECTION_NETWORK]
    ppo_budget = short_budget(budget, budget.torch_ppo_steps)
    presets = [cartpole, *(TORCH_PRESETS[env] for env in GYMNASIUM_PRESETS), *GYMNASIUM_PRESETS.values()]
    budgets = {preset: preset_budget(preset, budget) for preset in presets}

    def pglab(name: str, preset: str, overrides: list[str], threads: int, j: int) -> Run:
        return pglab_run(name, preset, overrides, work_dir / f"{name.replace('/', '-')}-s{j}", threads)

    runs = []
    for j in range(budget.torch_seeds):
        s, t = seed + j, TORCH_THREADS
        throughput_overrides = [*pglab_overrides(s, ppo_budget, t), *throughput]
        runs += [
            (j, batched_run("torch/env_collection", s, budget, collection)),
            (j, pglab("torch/ppo_throughput", cartpole, throughput_overrides, t, j)),
            (j, pglab("torch/cartpole", cartpole, pglab_overrides(s, budgets[cartpole], t), t, j)),
        ]
        if j < budget.pair_seeds:
            for env, gym_preset in GYMNASIUM_PRESETS.items():
                torch_preset, gym_threads = TORCH_PRESETS[env], threads["pglab"]
                pair = (
                    pglab(f"torch/{env}", torch_preset, pglab_overrides(s, budgets[torch_preset], t), t, j),
                    pglab(
                        f"gymnasium/{env}",
                        gym_preset,
                        pglab_overrides(s, budgets[gym_preset], gym_threads),
                        gym_threads,
                        j,
                    ),
                )
                runs += [(j, run) for run in (pair[::-1] if j % 2 else pair)]
    if (threads["pglab"], threads["sb3"]) != (TORCH_THREADS, TORCH_THREADS):
        runs += plan_single_thread(seed, budget, work_dir)
    return runs


def plan_single_thread(seed: int, budget: Budget, work_dir: Path) -> list[tuple[int, Run]]:
    """pglab's `ppo_cartpole` and `a2c_cartpole` (gymnasium backend) next to SB3 with the same hyperparameters, all
    with one torch thread, `budget.single_thread_steps` env steps each, in `budget.single_thread_repeats` repeats
    (repeat k: seed `seed + k`, pairs flipped on odd repeats); named `single_thread/pglab/<preset>` and
    `single_thread/sb3/<preset>`."""
    short = short_budget(budget, budget.single_thread_steps)
    runs = []
    for k in range(budget.single_thread_repeats):
        overrides = pglab_overrides(seed + k, short, TORCH_THREADS)
        for preset in ("ppo_cartpole", "a2c_cartpole"):
            cfg = compose_config(preset, overrides)
            name = f"single_thread/pglab/{preset}"
            pair = (
                pglab_run(name, preset, overrides, work_dir / f"single_thread-{preset}-r{k}", TORCH_THREADS),
                sb3_run(
                    f"single_thread/sb3/{preset}",
                    SB3_ALGOS[preset],
                    sb3_hyperparameters(cfg),
                    cfg.env.num_envs,
                    cfg.total_env_steps,
                    seed + k,
                    TORCH_THREADS,
                    short,
                ),
            )
            runs += [(k, run) for run in (pair[::-1] if k % 2 else pair)]
    return runs


def planned(spec: dict[str, Any], path: Path) -> list[tuple[int, Run]]:
    """The runs that `python -m pglab.benchmark.plan SPEC PATH` plans (see the module docstring for why in
    another process), kept in `path`, as (round or repeat, run) pairs."""
    command = [sys.executable, "-m", "pglab.benchmark.plan", json.dumps(spec), str(path)]
    subprocess.run(command, cwd=ROOT, check=True)
    return [(k, Run(**run)) for k, run in json.loads(path.read_text())]


def plan_calibration_runs(
    seed: int, budget: Budget, candidates: list[int], work_dir: Path
) -> list[tuple[int, Run]]:
    """`plan_calibration`'s runs with their rounds, planned in another process; kept as
    `work_dir/calibration-plan.json`."""
    spec = {
        "calibration": True,
        "seed": seed,
        "budget": asdict(budget),
        "candidates": candidates,
        "work_dir": str(work_dir),
    }
    return planned(spec, work_dir / "calibration-plan.json")


def plan_runs(
    repeats: int, seed: int, budget: Budget, work_dir: Path, threads: dict[str, int]
) -> list[tuple[int, Run]]:
    """Every repeat's runs (repeat k with seed `seed + k`), planned in another process; kept as
    `work_dir/plan.json`."""
    spec = {
        "repeats": repeats,
        "seed": seed,
        "budget": asdict(budget),
        "threads": threads,
        "work_dir": str(work_dir),
    }
    return planned(spec, work_dir / "plan.json")


def plan_torch_backend_runs(
    seed: int, budget: Budget, work_dir: Path, threads: dict[str, int]
) -> list[tuple[int, Run]]:
    """`plan_torch_backend`'s runs with their seed indices, planned in another process; kept as
    `work_dir/torch-plan.json`."""
    spec = {
        "torch_backend": True,
        "seed": seed,
        "budget": asdict(budget),
        "threads": threads,
        "work_dir": str(work_dir),
    }
    return planned(spec, work_dir / "torch-plan.json")


def main(argv: list[str]) -> None:
    """`python -m pglab.benchmark.plan SPEC PATH`: write the runs that the JSON spec of `plan_runs`,
    `plan_calibration_runs` or `plan_torch_backend_runs` asks for to PATH."""
    spec, path = json.loads(argv[0]), Path(argv[1])
    budget, work_dir = Budget(**spec["budget"]), Path(spec["work_dir"])
    if spec.get("calibration"):
        runs = plan_calibration(spec["seed"], budget, spec["candidates"], work_dir)
        planned_runs = [(k, asdict(run)) for k, run in runs]
    elif spec.get("torch_backend"):
        runs = plan_torch_backend(spec["seed"], budget, work_dir, spec["threads"])
        planned_runs = [(k, asdict(run)) for k, run in runs]
    else:
        planned_runs = [
            (k, asdict(run))
            for k in range(spec["repeats"])
            for run in plan_repeat(k, spec["seed"] + k, budget, work_dir, spec["threads"])
        ]
    path.write_text(json.dumps(planned_runs, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
