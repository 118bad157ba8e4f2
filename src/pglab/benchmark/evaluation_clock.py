"""A logger that keeps, of every row a pglab run logs, what the benchmark needs to time its evaluations.

The benchmark's solve time is the training time (evaluation excluded) at the first evaluation of a stable solve,
so it needs each evaluation's return next to pglab's clocks of the same env step (`time/wall_s`, `time/eval_s`,
logged with every rollout). `summary.json` has only the final values and the checkpoint only the evaluations, so
the pglab child adds this logger through pglab's own logger group (`+logger.evaluation_clock=...`, next to
`logger=none`): rows stay in memory, a few numbers each, and are written once, as JSON, when training ends.
"""

import json
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import Logger

#: the keys of a logged row that `child_pglab.evaluations` reads
KEPT = ("progress/env_steps", "time/wall_s", "time/eval_s", "eval/episode_return_mean")


class EvaluationClock(Logger):
    """Args:
    path: the JSON file that gets the kept rows, a list in logging order, when Lightning finalizes the logger.
    """

    def __init__(self, path: str):
        super().__init__()
        self.path = Path(path)
        self.rows: list[dict[str, float]] = []

    @property
    def name(self) -> str:
        return "evaluation_clock"

    @property
    def version(self) -> str:
        return "0"

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        pass

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        if row := {key: float(metrics[key]) for key in KEPT if key in metrics}:
            self.rows.append(row)

    def finalize(self, status: str) -> None:
        self.path.write_text(json.dumps(self.rows))
