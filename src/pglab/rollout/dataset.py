"""The IterableDataset that streams experience into Lightning.

One pass over the dataset is one rollout: `__iter__` asks for the next batch (the algorithm collects a rollout with
the current policy and computes its returns and advantages once) and yields it. Lightning calls `iter()` at the
start of every epoch, so one Lightning epoch is one rollout. It runs in the main process: a worker process would
sample with a stale copy of the weights.

Lightning takes the dataset itself as the train dataloader (any iterable will do). A `DataLoader` around it
(`batch_size=None`, no workers) handed the batches through unchanged, and building its iterator every epoch cost
about 0.13 ms a rollout, a tenth of Lightning's per-rollout time in A2C's 40-step rollouts. The one thing that
iterator did besides was to draw its workers' base seed from torch's global generator; `__iter__` makes the same
draw, so the sampled actions, and every seeded result recorded with the DataLoader, stay bit for bit the same.
"""

from collections.abc import Callable, Iterator

import torch
from torch.utils.data import IterableDataset

from pglab.rollout.batch import TrainingBatch


def draw_loader_seed(generator: torch.Generator | None = None) -> None:
    """The draw from `generator` (torch's global one by default) that a `DataLoader`'s iterator makes for its
    workers' base seed, made and dropped: the random stream stays where an epoch over a DataLoader left it."""
    torch.empty((), dtype=torch.int64).random_(generator=generator)


class RolloutDataset(IterableDataset):
    """Args:
    next_batch: collects a fresh rollout from the current policy and returns the update's batch.
    finished: true once the env-step budget is used; the dataset then yields nothing (a run resumed at its
        budget collects no rollout, although Lightning asks for the first batch before any hook can stop it).
    """

    def __init__(self, next_batch: Callable[[], TrainingBatch], finished: Callable[[], bool] = lambda: False):
        super().__init__()
        self.next_batch = next_batch
        self.finished = finished

    def __iter__(self) -> Iterator[TrainingBatch]:
        # At the first `next()`, not at `iter()`: Lightning calls `iter()` once more on an iterable that is not a
        # DataLoader, to check that it is one.
        draw_loader_seed()
        if not self.finished():
            yield self.next_batch()
