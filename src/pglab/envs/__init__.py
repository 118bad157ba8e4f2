"""Environment construction: the vector env factory and, later, wrappers and native envs."""
