"""`hydra/launcher=population`: the jobs of a sweep that differ only in seeds and scalar hyperparameters train as
one population, in this process (`pglab.population`).

Hydra's sweepers hand a launcher a batch of jobs (the basic sweeper: the whole grid; Optuna: `n_jobs` trials at a
time). This launcher groups them by their overrides without those of `pglab.population.run.POPULATION_KEYS`
(seed, lr, gamma, GAE lambda, ent_coef, vf_coef, clip_coef, max_grad_norm, target_kl, ...). A group of two or more
PPO, A2C, VPG or REINFORCE jobs trains as one population; a group of one runs as the basic launcher runs it.
Groups run one after another, in the order of their first job.

Every job is still a Hydra job: its dir under the sweep dir with `.hydra/` (config, hydra config, overrides),
Hydra's job callbacks (the sweep summary reads the dirs), and its return value (the final evaluation's mean
return, which Optuna receives). A job that fails (its config check, a diverging member) fails alone: its
`summary.json` says why, and it returns NaN (with the Optuna sweeper it is reported as a failed trial).
`resume=<run dir>,<run dir>,...` continues interrupted members as one population (each from its `last.ckpt`, all at
the same env step), as the message after SIGINT/SIGTERM spells out.
"""

import concurrent.futures
import copy
import logging
import math
import multiprocessing
import os
import shlex
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import (
    JobReturn,
    JobRuntime,
    JobStatus,
    _save_config,
    configure_log,
    run_job,
    setup_globals,
)
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

log = logging.getLogger(__name__)


@dataclass
class PopulationLauncherConf:
    _target_: str = "hydra_plugins.pglab_population_launcher.population_launcher.PopulationLauncher"
    # torch threads of a population's process; null: the jobs' torch_threads (1 by default: on the CPU a
    # member trains bit for bit as its own run only with the thread count its own run uses)
    torch_threads: int | None = None
    # processes per population: its jobs split into this many populations trained side by side (one per core)
    n_jobs: int = 1


ConfigStore.instance().store(
    group="hydra/launcher", name="population", node=PopulationLauncherConf, provider="pglab"
)


class PopulationLauncher(Launcher):
    def __init__(self, torch_threads: int | None = None, n_jobs: int = 1) -> None:
        if not isinstance(n_jobs, int) or n_jobs < 1:
            raise ValueError(f"hydra.launcher.n_jobs={n_jobs!r} must be a whole number >= 1")
        self.torch_threads = torch_threads
        self.n_jobs = n_jobs
        self._configs: dict[int, DictConfig] = {}
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.task_function = task_function
        self.hydra_context = hydra_context
        # The sweeper composes every job's config to check the batch, and so does this launcher: both through a
        # loader that composes one job per population from scratch and derives the others (`derived_config`).
        if not isinstance(hydra_context.config_loader, DerivingConfigLoader):
            hydra_context.config_loader = DerivingConfigLoader(hydra_context.config_loader)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from pglab.population.run import POPULATION_ALGORITHMS, population_key

        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        jobs = [(initial_job_idx + i, list(overrides)) for i, overrides in enumerate(job_overrides)]
        groups: dict[tuple, list[tuple[int, list[str]]]] = {}
        for idx, overrides in jobs:
            key = population_key(overrides)
            sweep_config = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
            self._configs[idx] = sweep_config
            if OmegaConf.select(sweep_config, "algo._target_") not in POPULATION_ALGORITHMS:
                key = ("job", idx)
            groups.setdefault(key, []).append((idx, overrides))
        results: dict[int, JobReturn] = {}
        for group in groups.values():
            if len(group) == 1:
                results.update(self._run_job(idx, overrides) for idx, overrides in group)
            else:
                log.info("Population of %d jobs: #%s", len(group), ", #".join(str(idx) for idx, _ in group))
                results.update(self._run_population(group))
        return [results[idx] for idx, _ in jobs]

    def _sweep_config(self, idx: int, overrides: list[str]) -> DictConfig:
        sweep_config = self._configs.pop(idx, None)
        if sweep_config is None:
            sweep_config = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
        with open_dict(sweep_config):
            sweep_config.hydra.job.id = f"{sweep_config.hydra.job.name}_{idx}"
            sweep_config.hydra.job.num = idx
        return sweep_config

    def _run_job(self, idx: int, overrides: list[str]) -> tuple[int, JobReturn]:
        """One job as Hydra's basic launcher runs it."""
        sweep_config = self._sweep_config(idx, overrides)
        HydraConfig.instance().set_config(sweep_config)
        result = run_job(
            hydra_context=self.hydra_context,
            task_function=self.task_function,
            config=sweep_config,
            job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir",
        )
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        return idx, result

    def _run_population(self, group: list[tuple[int, list[str]]]) -> dict[int, JobReturn]:
        """Prepare every job's dir as `run_job` does, train them as one population, and finish every job."""
        callbacks = self.hydra_context.callbacks
        prepared = []
        for position, (idx, overrides) in enumerate(group):
            sweep_config = self._sweep_config(idx, overrides)
            HydraConfig.instance().set_config(sweep_config)
            output_dir = os.path.abspath(
                os.path.join(str(sweep_config.hydra.sweep.dir), str(sweep_config.hydra.sweep.subdir))
            )
            with read_write(sweep_config.hydra.runtime), open_dict(sweep_config.hydra.runtime):
                sweep_config.hydra.runtime.output_dir = output_dir
            HydraConfig.instance().set_config(sweep_config)
            task_cfg = copy.deepcopy(sweep_config)
            with read_write(task_cfg), open_dict(task_cfg):
                del task_cfg["hydra"]
            hydra_cfg = HydraConfig.instance().cfg  # a copy `set_config` has just made for this job alone
            Path(output_dir).mkdir(parents=True, exist_ok=True)
            if position == 0:  # the population's log: the first job's train.log (and the console)
                configure_log(sweep_config.hydra.job_logging, sweep_config.hydra.verbose)
            if sweep_config.hydra.output_subdir is not None:
                hydra_output = Path(output_dir) / str(sweep_config.hydra.output_subdir)
                _save_config(task_cfg, "config.yaml", hydra_output)
                _save_config(hydra_cfg, "hydra.yaml", hydra_output)
                _save_config(sweep_config.hydra.overrides.task, "overrides.yaml", hydra_output)
            callbacks.on_job_start(config=sweep_config, task_function=self.task_function)
            with read_write(task_cfg), open_dict(task_cfg):
                task_cfg.paths.output_dir = (
                    output_dir  # this job's dir, whatever Hydra's singleton says later
                )
            prepared.append((idx, sweep_config, task_cfg, hydra_cfg))
        jobs = [(task_cfg, list(sweep.hydra.overrides.task), sweep) for _, sweep, task_cfg, _ in prepared]
        outcomes = train_in_processes(jobs, self.n_jobs, self.torch_threads)
        optuna = "optuna" in str(OmegaConf.select(self.config, "hydra.sweeper._target_", default="")).lower()
        results: dict[int, JobReturn] = {}
        interrupted: str | None = None
        stopped: list[str] = []  # the run dirs of the interrupted jobs
        for (idx, sweep_config, task_cfg, hydra_cfg), outcome in zip(prepared, outcomes, strict=True):
            result = JobReturn(
                overrides=list(sweep_config.hydra.overrides.task),
                cfg=task_cfg,
                hydra_cfg=hydra_cfg,
                working_dir=os.getcwd(),
                task_name=JobRuntime.instance().get("name"),
            )
            if isinstance(outcome, BaseException):
                log.error("Job failed: %s", outcome)
                result.status = JobStatus.FAILED if optuna else JobStatus.COMPLETED
                result._return_value = outcome if optuna else math.nan
            else:
                result.status = JobStatus.COMPLETED
                result._return_value = outcome.get("eval/episode_return_mean", math.nan)
                if outcome.get("status") == "interrupted":
                    interrupted = outcome["signal"]
                    stopped.append(str(task_cfg.get("resume") or task_cfg.paths.output_dir))
            HydraConfig.instance().set_config(sweep_config)
            callbacks.on_job_end(config=sweep_config, job_return=result)
            results[idx] = result
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        if interrupted is not None:  # as train.py does for one run: stop the sweep, exit 128 + the signal
            if len(stopped) == 1:  # (a multirun of one resume is refused: that is an ordinary run's resume)
                log.warning(
                    "Stopped by %s; its checkpoint is saved. Continue it with: python train.py %s",
                    interrupted,
                    shlex.quote(f"resume={stopped[0]}"),
                )
            elif stopped:
                log.warning(
                    "Stopped by %s; every member's checkpoint is saved. Continue the population with: "
                    "python train.py -m hydra/launcher=population%s %s",
                    interrupted,
                    f" hydra.launcher.n_jobs={self.n_jobs}" if self.n_jobs > 1 else "",
                    shlex.quote("resume=" + ",".join(stopped)),
                )
            sys.exit(128 + signal.Signals[interrupted].value)
        return results


class DerivingConfigLoader:
    """Hydra's config loader, whose `load_sweep_config` composes the first job of each population key from scratch
    and derives the others from it (`derived_config`); a job's config is composed once for the sweeper's check
    and the launch. Everything else is the wrapped loader's."""

    def __init__(self, loader: Any):
        self._loader = loader
        self._bases: dict[tuple, DictConfig] = {}
        self._composed: dict[tuple, DictConfig] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        from pglab.population.run import population_key

        job = tuple(sweep_overrides)
        if job in self._composed:
            return self._composed.pop(job)  # the launch takes the config the sweeper's check composed
        key = (id(master_config), population_key(list(sweep_overrides)))
        config = None
        if key in self._bases:
            config = derived_config(self._bases[key], list(sweep_overrides), master_config)
        if config is None:
            config = self._loader.load_sweep_config(master_config, list(sweep_overrides))
            self._bases.setdefault(key, config)
        self._composed[job] = (
            copy.deepcopy(config) if key in self._bases and self._bases[key] is config else config
        )
        return config


def derived_config(base: DictConfig, overrides: list[str], master: DictConfig) -> DictConfig | None:
    """The sweep config of a job whose overrides differ from those of `base`'s job only in plain assignments of
    `POPULATION_KEYS`: `base` with those values set, as Hydra composes it (composing every job of a 64-job sweep
    from scratch costs about 0.25 s a job). None when a job's overrides are not of that form (Hydra composes it)."""
    from hydra._internal.config_loader_impl import get_overrides_dirname
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from pglab.population.run import POPULATION_KEYS

    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
        own = [o for o in parsed if o.key_or_group in POPULATION_KEYS]
        if any(o.is_delete() or o.is_sweep_override() or o.package is not None for o in own):
            return None
        config = copy.deepcopy(base)
        with read_write(config):
            for override in own:
                OmegaConf.update(config, override.key_or_group, override.value(), merge=False)
            config.hydra.overrides.task = [o.input_line for o in parsed if not o.is_hydra_override()]
            naming = config.hydra.job.config.override_dirname
            config.hydra.job.override_dirname = get_overrides_dirname(
                overrides=[o for o in parsed if not o.is_hydra_override()],
                kv_sep=naming.kv_sep,
                item_sep=naming.item_sep,
                exclude_keys=naming.exclude_keys,
            )
    except Exception:  # a value of the wrong type, say: Hydra composes the job and reports it
        return None
    OmegaConf.copy_cache(from_config=master, to_config=config)
    return config


def train_in_processes(jobs: list, n_jobs: int, torch_threads: int | None) -> list:
    """`run_population(jobs)`, or with `n_jobs > 1` its jobs split into `n_jobs` populations, each trained in a
    process forked from this one (which has imported torch already) and started side by side."""

    chunks = [jobs[i::n_jobs] for i in range(min(n_jobs, len(jobs)))]
    if len(chunks) == 1:
        return _run(jobs, torch_threads)
    context = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(len(chunks), mp_context=context) as pool:
        futures = [pool.submit(_train_chunk, chunk, torch_threads) for chunk in chunks]
        # The workers stop on SIGINT/SIGTERM themselves (checkpointing, as any run); this process waits for them.
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            results = [future.result() for future in futures]
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    outcomes = [None] * len(jobs)
    for i, chunk_results in enumerate(results):
        outcomes[i::n_jobs] = chunk_results
    return outcomes


def _train_chunk(jobs: list, torch_threads: int | None) -> list:
    """One process's population; errors come back as `JobFailed` (the message: what the job's summary says)."""

    return [
        outcome
        if not isinstance(outcome, BaseException)
        else JobFailed(f"{type(outcome).__name__}: {outcome}")
        for outcome in _run(jobs, torch_threads)
    ]


def _run(jobs: list, torch_threads: int | None) -> list:
    """`run_population` of `(config, overrides, sweep config)` triples."""
    from pglab.population.run import run_population

    return run_population(
        [(cfg, overrides) for cfg, overrides, _ in jobs], torch_threads, [sweep for _, _, sweep in jobs]
    )


class JobFailed(Exception):
    """A job of a population trained in another process failed (its summary.json says why)."""
