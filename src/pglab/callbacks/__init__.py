"""Lightning callbacks scheduled by env steps: evaluation, checkpoints, the progress bar."""

from pglab.callbacks.checkpoint import EnvStepCheckpoint
from pglab.callbacks.evaluation import PeriodicEvaluation
from pglab.callbacks.progress import EnvStepProgressBar

__all__ = ["EnvStepCheckpoint", "EnvStepProgressBar", "PeriodicEvaluation"]
