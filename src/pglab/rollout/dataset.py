"""The IterableDataset that streams experience into Lightning.

One pass over the dataset is one rollout: `__iter__` asks for the next batch (the algorithm collects a rollout with
the current policy and computes its returns and advantages once) and yields it. Lightning calls `iter()` at the
start of every epoch, so one Lightning epoch is one rollout. It must run in the main process (`num_workers=0`): a
worker process would sample with a stale copy of the weights.
"""

from collections.abc import Callable, Iterator

from torch.utils.data import DataLoader, IterableDataset

from pglab.rollout.batch import TrainingBatch


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
        if not self.finished():
            yield self.next_batch()


def _as_is(batch: TrainingBatch) -> TrainingBatch:
    return batch


def rollout_dataloader(dataset: RolloutDataset) -> DataLoader:
    """A DataLoader that hands the dataset's batches through unchanged, in the main process."""
    return DataLoader(dataset, batch_size=None, num_workers=0, collate_fn=_as_is)
