"""The IterableDataset that streams experience into Lightning.

One pass over the dataset is one rollout: `__iter__` collects a rollout with the current policy, turns it
into training batches (returns and advantages computed once), and yields them. Lightning calls `iter()` at
the start of every epoch, so one Lightning epoch is one rollout. It must run in the main process
(`num_workers=0`): a worker process would sample with a stale copy of the weights.
"""

from collections.abc import Callable, Iterator

from torch.utils.data import DataLoader, IterableDataset

from pglab.rollout.batch import Rollout, TrainingBatch


class RolloutDataset(IterableDataset):
    """Args:
    collect: returns a fresh rollout from the current policy.
    to_batches: turns a rollout into the batches of one update (one batch, or shuffled minibatches
        over several epochs).
    finished: true once the env-step budget is used; the dataset then yields nothing (a run resumed at its
        budget collects no rollout, although Lightning asks for the first batch before any hook can stop it).
    """

    def __init__(
        self,
        collect: Callable[[], Rollout],
        to_batches: Callable[[Rollout], Iterator[TrainingBatch]],
        finished: Callable[[], bool] = lambda: False,
    ):
        super().__init__()
        self.collect = collect
        self.to_batches = to_batches
        self.finished = finished

    def __iter__(self) -> Iterator[TrainingBatch]:
        if not self.finished():
            yield from self.to_batches(self.collect())


def _as_is(batch: TrainingBatch) -> TrainingBatch:
    return batch


def rollout_dataloader(dataset: RolloutDataset) -> DataLoader:
    """A DataLoader that hands the dataset's batches through unchanged, in the main process."""
    return DataLoader(dataset, batch_size=None, num_workers=0, collate_fn=_as_is)
