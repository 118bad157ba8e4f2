"""Experiment loggers beyond Lightning's own: Weights & Biases with env steps as the x-axis, and a CSV logger
that a resumed run continues."""

from pglab.loggers.csv_logger import EnvStepCSVLogger
from pglab.loggers.wandb_logger import EnvStepWandbLogger

__all__ = ["EnvStepCSVLogger", "EnvStepWandbLogger"]
