"""Lightning's CSVLogger, continued rather than restarted when a run resumes in its own dir.

Lightning's CSV writer deletes an existing `metrics.csv` when it starts. A resumed run instead keeps the rows
logged up to the checkpoint it resumes from (later rows were logged by the interrupted process after its
last checkpoint and are logged again), and appends after them: one curve with no gap and no duplicate step.
"""

import csv
import os

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment

from pglab.atomic import atomic_path


class _ContinuingWriter(ExperimentWriter):
    def __init__(self, log_dir: str, keep_until_step: int | None):
        self.keep_until_step = keep_until_step
        super().__init__(log_dir)

    def _check_log_dir_exists(self) -> None:
        if self.keep_until_step is None or not os.path.isfile(self.metrics_file_path):
            super()._check_log_dir_exists()
            return
        with open(self.metrics_file_path, newline="") as file:
            reader = csv.DictReader(file)
            fields = list(reader.fieldnames or [])
            rows = [row for row in reader if row.get("step") and float(row["step"]) <= self.keep_until_step]
        with atomic_path(self.metrics_file_path) as tmp, open(tmp, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
        self.metrics_keys = fields


class EnvStepCSVLogger(CSVLogger):
    """`lightning.pytorch.loggers.CSVLogger` (same arguments) plus `resume_at(env_steps)`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._keep_until_step: int | None = None

    def resume_at(self, env_steps: int) -> None:
        """Continue the existing metrics.csv after its rows up to `env_steps` (call before logging)."""
        self._keep_until_step = int(env_steps)

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _ContinuingWriter(self.log_dir, self._keep_until_step)
        return self._experiment
