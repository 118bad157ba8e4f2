"""pglab: policy-gradient RL experiments on Lightning, Hydra and Gymnasium."""

__version__ = "0.1.0"
