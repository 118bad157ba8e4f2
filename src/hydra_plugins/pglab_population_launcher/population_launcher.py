"""`hydra/launcher=population`: the jobs of a sweep that differ only in seeds and scalar hyperparameters train as
one population, in this process (`pglab.population`).

Hydra's sweepers hand a launcher a batch of jobs (the basic sweeper: the whole grid; Optuna: `n_jobs` trials at a
time). This launcher groups them by their overrides without those of `pglab.population.run.POPULATION_KEYS`
(seed, lr, gamma, GAE lambda, ent_coef, vf_coef, clip_coef, max_grad_norm, target_kl, ...). A group of two or more
PPO jobs trains as one population; any other job (another algorithm, a group of one) runs as the basic launcher runs
it. Groups run one after another, in the order of their first job.

Every job is still a Hydra job: its dir under the sweep dir with `.hydra/` (config, hydra config, overrides),
Hydra's job callbacks (the sweep summary reads the dirs), and its return value (the final evaluation's mean
return, which Optuna receives). A job that fails (its config check, a diverging member) fails alone: its
`summary.json` says why, and it returns NaN (with the Optuna sweeper it is reported as a failed trial).
"""

import copy
import logging
import math
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

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
    # torch threads of a population's process; null: the jobs' torch_threads
    torch_threads: int | None = None


ConfigStore.instance().store(
    group="hydra/launcher", name="population", node=PopulationLauncherConf, provider="pglab"
)


class PopulationLauncher(Launcher):
    def __init__(self, torch_threads: int | None = None) -> None:
        self.torch_threads = torch_threads
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.task_function = task_function
        self.hydra_context = hydra_context

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from pglab.population.run import POPULATION_ALGORITHMS, population_key

        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        jobs = [(initial_job_idx + i, list(overrides)) for i, overrides in enumerate(job_overrides)]
        groups: dict[tuple, list[tuple[int, list[str]]]] = {}
        for idx, overrides in jobs:
            sweep_config = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
            algorithm = OmegaConf.select(sweep_config, "algo._target_")
            key = population_key(overrides) if algorithm in POPULATION_ALGORITHMS else ("job", idx)
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
        from pglab.population.run import run_population

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
            hydra_cfg = copy.deepcopy(HydraConfig.instance().cfg)
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
        jobs = [(task_cfg, list(sweep.hydra.overrides.task)) for _, sweep, task_cfg, _ in prepared]
        outcomes = run_population(jobs, self.torch_threads)
        optuna = "optuna" in str(OmegaConf.select(self.config, "hydra.sweeper._target_", default="")).lower()
        results: dict[int, JobReturn] = {}
        interrupted: str | None = None
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
            HydraConfig.instance().set_config(sweep_config)
            callbacks.on_job_end(config=sweep_config, job_return=result)
            results[idx] = result
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        if interrupted is not None:  # as train.py does for one run: stop the sweep, exit 128 + the signal
            sys.exit(128 + signal.Signals[interrupted].value)
        return results
