"""`run_population(jobs)`: train several jobs' configs as one population in this process; each job keeps its run.

Every job is checked, built and reported as `pglab.train.run` does for one run: its run dir is locked and must
hold no run, its whole config passes `preflight` (a job that fails it is recorded as failed, alone), its module,
env, collector and initial weights are built under its own seed, and at the end its run dir holds `config.yaml`,
its loggers' files (`csv/metrics.csv`, W&B, ...), `summary.json` and `learning_curve.png`. What the jobs share
is the training loop: one population LightningModule of their algorithm (`PopulationPPO`, `PopulationA2C`,
`PopulationVPG`, `PopulationREINFORCE`) updates all members at once.

`time/wall_s` of a member is the population's training time (the members train side by side, not one after
another), and `time/update_s` is the population's update time.
"""

import contextlib
import copy
import functools
import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from pglab import allocator
from pglab.callbacks.signals import StopOnSignals
from pglab.console import quiet_libraries
from pglab.errors import ConfigError, find_error
from pglab.population.a2c import PopulationA2C
from pglab.population.collector import PopulationCollector, can_batch, population_collector
from pglab.population.module import Member, MemberTrainer, PopulationModule
from pglab.population.ppo import PopulationPPO
from pglab.population.reinforce import PopulationREINFORCE
from pglab.population.vpg import PopulationVPG
from pglab.preflight import preflight
from pglab.reporting import final_summary, plot_learning_curve, record_failure, summary_line, write_summary
from pglab.rng import rng_states
from pglab.rollout.batched_collector import BatchedRolloutCollector, make_collector
from pglab.run_dir import check_holds_no_run, clear_leftovers, run_dir_lock
from pglab.sweep_summary import point_to_resumed_run
from pglab.train import finalize_on_error, train, write_config

log = logging.getLogger(__name__)

#: the hyperparameters in which the members of one population may differ (with the seed and the run a member
#: continues, `resume=<run dir>`); anything else in the config must be the same (`check_same_structure`)
POPULATION_KEYS = (
    "resume",
    "seed",
    "algo.lr",
    "algo.gamma",
    "algo.gae_lambda",
    "algo.ent_coef",
    "algo.vf_coef",
    "algo.clip_coef",
    "algo.max_grad_norm",
    "algo.target_kl",
    "algo.anneal_lr",
    "algo.normalize_advantage",
    "algo.clip_vloss",
    "algo.vf_lr",
    "algo.advantage",
    "algo.returns",
    "algo.baseline",
)
#: the algorithms a population trains, each with its population module (the others' sweep jobs run one by one)
POPULATION_ALGORITHMS: dict[str, type[PopulationModule]] = {
    "pglab.algos.ppo.PPO": PopulationPPO,
    "pglab.algos.a2c.A2C": PopulationA2C,
    "pglab.algos.vpg.VPG": PopulationVPG,
    "pglab.algos.reinforce.REINFORCE": PopulationREINFORCE,
}

Result = dict[str, Any] | BaseException


def run_population(
    jobs: list[tuple[DictConfig, list[str]]],
    torch_threads: int | None = None,
    hydra_configs: list[DictConfig] | None = None,
) -> list[Result]:
    """Train `jobs` (each a config and its command-line overrides) as one population.

    `hydra_configs`: each job's Hydra config (from a launcher), made current while the job is checked and built,
    so that what reads it (the W&B run's group and name) sees its own job.
    Returns, per job in order, its summary (as `pglab.train.run` returns it) or the error it failed with.
    """
    with_job = functools.partial(_with_hydra_config, hydra_configs)
    results: list[Result | None] = [None] * len(jobs)
    # where a resumed job's failure is recorded (its run's files stay as they were)
    job_dirs: dict[int, Path] = {}

    def fail(k: int, error: BaseException, steps: int = 0) -> None:
        if k in job_dirs:
            job_dirs[k].mkdir(parents=True, exist_ok=True)
            record_failure(error, steps, job_dirs[k] / "summary.json")
        results[k] = error

    with contextlib.ExitStack() as resources:
        ready: list[tuple[int, DictConfig, Path, dict[str, Any] | None]] = []
        taken: set[Path] = set()
        for k, (cfg, overrides) in enumerate(jobs):
            resume = bool(cfg.get("resume"))
            job_dir = Path(cfg.paths.output_dir)
            run_dir = Path(str(cfg.resume)).expanduser() if resume else job_dir
            key = "resume" if resume else "paths.output_dir"
            if resume and (pointer_dir := point_to_resumed_run(job_dir, run_dir)) is not None:
                job_dirs[k] = pointer_dir  # the sweep's summary reads the run
            try:
                with_job(k)
                if run_dir.resolve() in taken:  # the lock is this process's already: it would not refuse
                    raise ConfigError(f"{key}={run_dir} is another job's run dir in this population as well")
                resources.enter_context(run_dir_lock(run_dir, key))
                taken.add(run_dir.resolve())
                if not resume:
                    check_holds_no_run(run_dir, key)
                cfg, checkpoint = preflight(cfg, overrides)
                if str(OmegaConf.select(cfg, "trainer.accelerator", default="cpu")) not in (
                    "cpu",
                    "auto",
                ) or (str(OmegaConf.select(cfg, "trainer.strategy", default="auto")) != "auto"):
                    raise ConfigError(
                        "hydra/launcher=population trains on the CPU in one process (accelerator=cpu, "
                        "trainer.strategy=auto); for accelerator=gpu or ddp use the basic or joblib launcher"
                    )
                if cfg.get("ckpt_path") and not resume:
                    raise ConfigError(
                        "hydra/launcher=population starts new runs or continues its members' own "
                        "(resume=<run dir>); ckpt_path= (weights into a new run) is for one run"
                    )
            except Exception as error:
                if not resume:
                    run_dir.mkdir(parents=True, exist_ok=True)
                    record_failure(error, 0, run_dir / "summary.json")
                fail(k, error)
                continue
            run_dir.mkdir(parents=True, exist_ok=True)
            ready.append((k, cfg, run_dir, checkpoint))
        # A resumed run of another algorithm continues as an ordinary run. The others train in lockstep from one
        # point and one structure: jobs resumed after different numbers of rollouts (e.g. the two processes of an
        # `n_jobs=2` sweep, stopped by one signal) or from other sweeps train as one population each. (The members
        # of one REINFORCE population stop after the same rollouts at different env steps: whole episodes.)
        groups: dict[tuple, list[tuple[int, DictConfig, Path, dict[str, Any] | None]]] = {}
        for job in ready:
            _, cfg, _, checkpoint = job
            if OmegaConf.select(cfg, "algo._target_") not in POPULATION_ALGORITHMS:
                groups[("alone", job[0])] = [job]
                continue
            groups.setdefault((resume_key(cfg, checkpoint), structure_key(cfg)), []).append(job)
        stopped_by: str | None = None
        for key, group in groups.items():
            if stopped_by is not None:  # a signal stopped the sweep: the rest does not start
                for k, *_ in group:
                    results[k] = ConfigError(f"not started: {stopped_by} stopped the sweep before this job")
                continue
            try:
                if key[0] == "alone":
                    (k, cfg, run_dir, checkpoint) = group[0]
                    with_job(k)
                    trained = [train(cfg, run_dir, checkpoint)]
                else:
                    trained = train_population(
                        [(cfg, run_dir, checkpoint) for _, cfg, run_dir, checkpoint in group],
                        resources,
                        torch_threads,
                        lambda i, group=group: with_job(group[i][0]),
                    )
            except (
                Exception
            ) as error:  # before any member trained (e.g. a checkpoint's env state that cannot join)
                trained = [error] * len(group)
            for (k, *_, checkpoint), result in zip(group, trained, strict=True):
                if isinstance(result, BaseException):
                    fail(k, result, 0 if checkpoint is None else starting_point(checkpoint)[0])
                else:
                    results[k] = result
                    if result.get("status") == "interrupted":
                        stopped_by = result.get("signal", "a signal")
    return results


def structure_key(cfg: DictConfig) -> tuple[str, ...]:
    """What the members of one population share: `SHARED_KEYS`, the network and the env settings (but `env.gamma`,
    the reward normalization's discount, which follows each member's `algo.gamma`)."""
    env = {k: v for k, v in OmegaConf.to_container(cfg.env, resolve=True).items() if k != "gamma"}
    return (
        *(str(OmegaConf.select(cfg, key)) for key in SHARED_KEYS),
        OmegaConf.to_yaml(cfg.network, resolve=True),
        repr(sorted(env.items())),
    )


def build_member(cfg: DictConfig, run_dir: Path, resources: contextlib.ExitStack) -> Member:
    """Member `cfg` as `pglab.train.build` builds a run (same order, so the same seeded weights and RNG state)."""
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    collector = make_collector(instantiate(cfg.env)(), seed=cfg.seed)
    resources.callback(collector.close)
    module = instantiate(cfg.algo)(
        network=instantiate(cfg.network), collector=collector, total_env_steps=cfg.total_env_steps
    )
    if population_class(module) is None:
        names = ", ".join(name.rsplit(".", 1)[1] for name in POPULATION_ALGORITHMS)
        raise ConfigError(
            f"hydra/launcher=population trains {names} as populations; got {type(module).__name__}"
        )
    module.on_nonfinite = cfg.on_nonfinite
    module.run_config = OmegaConf.to_container(cfg, resolve=True)
    loggers = [instantiate(c) for c in cfg.logger.values()]
    for logger in loggers:
        if hasattr(logger, "beside_other_runs"):  # W&B: every member's run active at once
            logger.beside_other_runs()
        resources.push(finalize_on_error(logger))
    evaluation = instantiate(cfg.callbacks.evaluation) if "evaluation" in cfg.callbacks else None
    checkpoint = instantiate(cfg.callbacks.checkpoint) if "checkpoint" in cfg.callbacks else None
    generator = torch.Generator()
    generator.set_state(torch.get_rng_state())  # where the ordinary run's global generator is now
    member = Member(
        module=module,
        evaluation=evaluation,
        generator=generator,
        checkpoint=checkpoint,
        rng_states=rng_states(),
    )
    module.metrics.loggers = loggers
    return member


def population_class(module) -> type[PopulationModule] | None:
    """The population module of `module`'s algorithm, or None: its jobs run one by one."""
    return POPULATION_ALGORITHMS.get(f"{type(module).__module__}.{type(module).__name__}")


def starting_point(checkpoint: dict[str, Any]) -> tuple[int, int]:
    """`(env steps, rollouts)` a run continues from, as its checkpoint holds them (the rollouts its fit loop
    processed: a checkpoint saved on schedule, during a rollout's end, has not yet counted it completed)."""
    progress = checkpoint["loops"]["fit_loop"]["epoch_progress"]["total"]
    return int(checkpoint["collector"]["env_steps"]), int(progress["processed"])


def resume_key(cfg: DictConfig, checkpoint: dict[str, Any] | None) -> tuple:
    """What the jobs of one population must share about where they start: new runs start together; resumed runs
    share the fit loop's state they load (the population loads one) and, for fixed-length rollouts, the env steps
    (REINFORCE's members complete the same rollouts at different env steps: whole episodes)."""
    if checkpoint is None:
        return ("new",)
    key = ("resumed", repr(checkpoint["loops"]["fit_loop"]["epoch_progress"]))
    if POPULATION_ALGORITHMS[OmegaConf.select(cfg, "algo._target_")].fixed_length_rollouts:
        key += (starting_point(checkpoint)[0],)
    return key


def continue_member(member: Member, checkpoint: dict[str, Any]) -> None:
    """Put a freshly built member where its checkpoint stopped, as Lightning's restore puts an ordinary run: the
    module's own state (collector, metrics, wall time; `on_load_checkpoint`), the policy's weights, the
    evaluation's and checkpoint's schedules and the RNG streams (the optimizer state is loaded into the
    population's, once it exists). A member whose budget is spent trains no further."""
    module = member.module
    module.on_load_checkpoint(checkpoint)
    module.policy.load_state_dict(
        {name.removeprefix("policy."): value for name, value in checkpoint["state_dict"].items()}
    )
    callbacks = checkpoint.get("callbacks", {})
    if member.evaluation is not None and "PeriodicEvaluation" in callbacks:
        member.evaluation.load_state_dict(callbacks["PeriodicEvaluation"])
    if member.checkpoint is not None and "EnvStepCheckpoint" in callbacks:
        member.checkpoint.load_state_dict(callbacks["EnvStepCheckpoint"])
    member.generator.set_state(checkpoint["rng"]["torch"])
    member.rng_states = dict(checkpoint["rng"])
    for logger in module.metrics.loggers:  # continue the run's logs after the checkpoint's env step
        if hasattr(logger, "resume_at"):
            logger.resume_at(int(checkpoint["collector"]["env_steps"]))
    member.finished = member.completed = module.budget_exhausted()


def _with_hydra_config(hydra_configs: list[DictConfig] | None, k: int) -> None:
    if hydra_configs is not None:
        HydraConfig.instance().set_config(hydra_configs[k])


def train_population(
    jobs: list[tuple[DictConfig, Path, dict[str, Any] | None]],
    resources: contextlib.ExitStack,
    torch_threads: int | None,
    with_job: Callable[[int], None] = lambda k: None,
) -> list[Result]:
    """Build every member (each job a config, its run dir and the checkpoint it continues, or None; every
    checkpoint from the same starting point), train them together, write every member's reports."""
    quiet_libraries()
    first_cfg = jobs[0][0]
    threads = torch_threads or first_cfg.torch_threads
    if threads:
        torch.set_num_threads(int(threads))
    allocator.apply_config(first_cfg)  # a process setting, as torch_threads: the first job's
    members: list[Member | None] = []
    results: list[Result | None] = [None] * len(jobs)
    for k, (cfg, run_dir, checkpoint) in enumerate(jobs):
        try:
            with_job(k)
            member = build_member(cfg, run_dir, resources)
            if checkpoint is not None:
                continue_member(member, checkpoint)
            members.append(member)
        except Exception as error:
            refused = checkpoint is not None and find_error(error, ConfigError) is not None
            if not refused:  # a refused resume writes nothing into the run (`run_population` records it)
                steps = 0 if checkpoint is None else starting_point(checkpoint)[0]
                record_failure(error, steps, run_dir / "summary.json")
            results[k] = error
            members.append(None)
    live = [k for k, m in enumerate(members) if m is not None]
    if not live:
        return results
    check_same_structure([jobs[k][0] for k in live])
    trainer = L.Trainer(
        max_epochs=-1,
        num_sanity_val_steps=0,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        logger=False,
        accelerator="cpu",
        devices=1,
        callbacks=[StopOnSignals()],
    )
    resumed = {k: jobs[k][2] for k in live if jobs[k][2] is not None}
    if resumed:  # all from one starting point (`run_population` groups its jobs by it)
        first = next(iter(resumed.values()))
        # The population's loop counters where the members' runs stopped (`progress/rollouts` counts on).
        trainer.fit_loop.load_state_dict(first["loops"]["fit_loop"])
        log.info(
            "Continuing %d member%s from their checkpoints after %s rollouts (%s env steps)",
            len(resumed),
            "s" if len(resumed) > 1 else "",
            f"{starting_point(first)[1]:,}",
            ", ".join(f"{starting_point(c)[0]:,}" for c in resumed.values()),
        )
    for k in live:
        cfg, run_dir, _ = jobs[k]
        member = members[k]
        member.trainer = MemberTrainer(population=trainer, loggers=member.module.metrics.loggers)
        member.module.trainer = member.trainer
        if member.evaluation is not None:
            member.evaluation.setup(member.trainer, member.module, "fit")
            resources.callback(member.evaluation.teardown, None, member.module, "fit")
    population_cls = population_class(members[live[0]].module)
    population = population_cls(
        [members[k] for k in live],
        collector=make_population_collector(
            [members[k] for k in live], first_cfg, resources, population_cls.fixed_length_rollouts
        ),
        eval_env=population_eval_env([members[k] for k in live], resources),
    )
    for i, k in enumerate(live):
        if k in resumed:  # its learning rate already replaced by this run's (`on_load_checkpoint`)
            for optimizer, state in zip(
                population.population_optimizers(), resumed[k]["optimizer_states"], strict=True
            ):
                optimizer.load_member_state_dict(i, state)
    if resumed and population.collector is not None:
        population.collector.continue_members()
    for k in live:  # the run dirs are written once every member is ready to train
        cfg, run_dir, _ = jobs[k]
        clear_leftovers(run_dir)
        write_config(cfg, run_dir / "config.yaml")
        for logger in members[k].module.metrics.loggers:
            logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    if population.collector is not None:
        collection = "one batched env of every member's sub-envs"
    elif not population_cls.fixed_length_rollouts:
        collection = "each member's own envs, stepped together (one stacked policy pass per step)"
    else:
        collection = "each member's own env"
    log.info(
        "Collection: %s; evaluation: %s",
        collection,
        "one batched env of every member's episodes" if population.eval_env else "each member's own env",
    )
    log.info(
        "Population of %d on %s x %d (%s): %s env steps each",
        len(live),
        first_cfg.env.id,
        first_cfg.env.num_envs,
        first_cfg.env.vectorization,
        f"{first_cfg.total_env_steps:,}",
    )
    with warnings.catch_warnings():
        # The population's optimizers step every member by hand, so Lightning is given no optimizer on purpose.
        warnings.filterwarnings("ignore", message=r".*configure_optimizers` returned `None`")
        trainer.fit(population)
    wall_s = {k: members[k].module.wall_time() for k in live}  # the population's training time, reports apart
    for k in live:
        cfg, run_dir, _ = jobs[k]
        member = members[k]
        module = member.module
        if member.failure is not None:
            record_failure(
                member.failure,
                int(module.metrics.latest.get("progress/env_steps", 0)),
                run_dir / "summary.json",
            )
            for logger in module.metrics.loggers:
                logger.finalize("failed")
            log.error("Job %s failed: %s", run_dir, member.failure)
            results[k] = member.failure
            continue
        summary = final_summary(module.metrics, wall_s[k])
        if population.stop_signal is not None and not member.completed:
            summary.update(status="interrupted", signal=population.stop_signal)
        write_summary(summary, run_dir / "summary.json")
        algo_name = type(module).__name__
        plot_learning_curve(
            module.metrics, run_dir / "learning_curve.png", title=f"{algo_name} on {cfg.env.id}"
        )
        for logger in module.metrics.loggers:
            logger.finalize("success")
        log.info(summary_line(f"{algo_name} on {cfg.env.id} (seed {cfg.seed})", summary, run_dir))
        results[k] = summary
    return results


def make_population_collector(
    members: list[Member], cfg: DictConfig, resources, gymnasium: bool = True
) -> PopulationCollector | None:
    """One vector env of every member's sub-envs (no normalization wrappers), or None. `gymnasium`: a gymnasium
    vector env may hold them (else only a batched env: fixed-length rollouts only for a gymnasium one)."""
    collectors = [m.module.collector for m in members]
    if not can_batch(collectors) or not (gymnasium or isinstance(collectors[0], BatchedRolloutCollector)):
        return None
    env = instantiate(cfg.env)(num_envs=len(members) * collectors[0].num_envs)
    resources.callback(env.close)
    if not can_batch([type(collectors[0])(env, seed=0)]):  # the same wrappers as the members' envs
        return None
    return population_collector(env, collectors)


def population_eval_env(members: list[Member], resources) -> Any:
    """One batched env of every member's evaluation sub-envs, or None (each member's evaluation plays alone)."""
    evaluations = [m.evaluation for m in members]
    if any(e is None or not e.batched_play_possible() for e in evaluations):
        return None
    if len({(e.episodes, type(e.env.unwrapped)) for e in evaluations}) > 1:
        return None
    env = evaluations[0].make_env(num_envs=len(members) * evaluations[0].episodes, evaluation=True)
    resources.callback(env.close)
    probe = copy.copy(evaluations[0])
    probe.env = env
    return env if probe.batched_play_possible() else None


def population_key(overrides: list[str]) -> tuple[str, ...]:
    """A sweep job's overrides without those of `POPULATION_KEYS`: the jobs of one sweep with the same key differ
    only in seeds and scalar hyperparameters, and can train as one population."""
    return tuple(sorted(o for o in overrides if override_key(o) not in POPULATION_KEYS))


def override_key(override: str) -> str:
    """`algo.lr` of `algo.lr=1e-3`, `+algo.lr=...` or `++algo.lr=...`."""
    return override.split("=", 1)[0].lstrip("+~")


#: what the members of a population must share (besides the network's architecture, which stacking checks)
SHARED_KEYS = (
    "env.id",
    "env.num_envs",
    "env.vectorization",
    "algo._target_",
    "algo.num_steps",
    "algo.update_epochs",
    "algo.num_minibatches",
    "algo.optimizer",
    "algo.value_updates",
    "algo.episodes_per_rollout",
    "total_env_steps",
)


def check_same_structure(cfgs: list[DictConfig]) -> None:
    for key in SHARED_KEYS:
        values = {str(OmegaConf.select(cfg, key)) for cfg in cfgs}
        if len(values) > 1:
            raise ConfigError(
                f"the jobs of a population must share {key} (got {sorted(values)}); they may differ only in "
                + ", ".join(POPULATION_KEYS)
            )
