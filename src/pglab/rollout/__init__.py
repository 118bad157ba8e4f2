"""Rollout collection (the collector owns the vector env and the env-step counter), advantage math and
the IterableDataset that streams rollouts into Lightning."""
