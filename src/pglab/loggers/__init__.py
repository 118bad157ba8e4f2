"""Experiment loggers beyond Lightning's own: Weights & Biases with env steps as the x-axis."""

from pglab.loggers.wandb_logger import EnvStepWandbLogger

__all__ = ["EnvStepWandbLogger"]
