"""The per-process settings and the per-rollout bookkeeping that cost no result: glibc malloc's thresholds
(`pglab.allocator`), the CSV logger's time-based writes, the dataset's DataLoader-seed draw and the metrics' means."""

import csv
import platform
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset

from pglab.errors import ConfigError
from pglab.loggers import EnvStepCSVLogger
from pglab.metrics import Metrics
from pglab.rollout.dataset import RolloutDataset

# Where glibc serves a 16 MiB tensor from (mallinfo2: `hblkhd` counts mmapped bytes, `arena` the heap's), and how
# much heap the process still holds once the tensor is freed.
HEAP_OR_MMAP = textwrap.dedent(
    """
    import ctypes, sys
    import torch
    from pglab.allocator import keep_freed_memory

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
            "keepcost")]

    mallinfo2 = ctypes.CDLL(None).mallinfo2
    mallinfo2.restype = MallInfo2
    if sys.argv[1] == "keep":
        assert keep_freed_memory()
    before = mallinfo2()
    tensor = torch.empty(4 << 20).fill_(1.0)
    held = mallinfo2()
    del tensor
    freed = mallinfo2()
    mib = 1 << 20
    print((held.hblkhd - before.hblkhd) // mib, (held.arena - before.arena) // mib, (freed.arena - before.arena) // mib)
    """
)


def heap_or_mmap(mode: str) -> list[int]:
    out = subprocess.run(
        [sys.executable, "-c", HEAP_OR_MMAP, mode], capture_output=True, text=True, check=True
    )
    return [int(x) for x in out.stdout.split()]


def glibc_with_mallinfo2() -> bool:
    libc, version = platform.libc_ver()
    return libc == "glibc" and tuple(int(x) for x in version.split(".")[:2]) >= (2, 33)


@pytest.mark.skipif(
    not glibc_with_mallinfo2(), reason="glibc malloc settings, read with mallinfo2 (glibc 2.33+)"
)
def test_keep_freed_memory_serves_big_tensors_from_the_heap_and_keeps_it_when_they_are_freed():
    # glibc's defaults: the 16 MiB block is mmapped (and unmapped when freed); the heap does not grow.
    mmapped, heap_grew, heap_kept = heap_or_mmap("default")
    assert mmapped >= 16 and heap_grew < 16 and heap_kept < 16
    # kept: from the heap, which still holds it after the free, for the next tensor to reuse without page faults
    mmapped, heap_grew, heap_kept = heap_or_mmap("keep")
    assert mmapped == 0 and heap_grew >= 16 and heap_kept >= 16


def read_rows(path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def test_csv_logger_writes_rows_by_time_and_whenever_the_metrics_flush(tmp_path):
    logger = EnvStepCSVLogger(save_dir=str(tmp_path), name="csv", version="", flush_every_s=3600)
    metrics = Metrics()
    metrics.loggers = [logger]
    path = tmp_path / "csv" / "metrics.csv"
    for step in (40, 80, 120):
        metrics.log({"rollout/episodes": 1.0}, step)
    assert read_rows(path) == []  # not an hour yet
    metrics.flush()  # what a checkpoint does first
    assert [row["step"] for row in read_rows(path)] == ["40", "80", "120"]
    metrics.log({"rollout/episodes": 2.0}, 160)
    logger.finalize("success")  # Lightning, at the end of training
    assert [row["rollout/episodes"] for row in read_rows(path)] == ["1.0", "1.0", "1.0", "2.0"]


def test_csv_logger_writes_when_a_row_comes_flush_every_s_after_its_last_write(tmp_path, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    logger = EnvStepCSVLogger(save_dir=str(tmp_path), name="csv", version="", flush_every_s=1.0)
    path = tmp_path / "csv" / "metrics.csv"
    written = []
    for now, step in ((100.0, 40), (100.9, 80), (101.0, 120), (101.5, 160), (101.9, 200), (102.0, 240)):
        clock[0] = now
        logger.log_metrics({"a": 1.0}, step=step)
        written.append([int(row["step"]) for row in read_rows(path)])
    assert written == [[], [], [40, 80, 120], [40, 80, 120], [40, 80, 120], [40, 80, 120, 160, 200, 240]]


def test_csv_logger_with_flush_every_s_0_writes_every_row(tmp_path):
    logger = EnvStepCSVLogger(save_dir=str(tmp_path), name="csv", version="", flush_every_s=0)
    for step in (40, 80):
        logger.log_metrics({"a": float(step)}, step=step)
        assert read_rows(tmp_path / "csv" / "metrics.csv")[-1]["step"] == str(step)


def test_csv_logger_refuses_a_negative_interval(tmp_path):
    with pytest.raises(
        ConfigError, match=r"logger.csv.flush_every_s=-1 is out of range: allowed \[0.0, inf\]"
    ):
        EnvStepCSVLogger(save_dir=str(tmp_path), name="csv", version="", flush_every_s=-1)


@pytest.mark.parametrize("finished", [False, True])
def test_a_pass_over_the_dataset_moves_the_global_generator_as_a_pass_over_a_dataloader_did(finished):
    def next_batch():
        return torch.rand(3)  # the rollout's own draws

    def one_pass(iterable):
        torch.manual_seed(7)
        batches = list(iterable)
        return batches, torch.rand(4)

    class DataLoaderDataset(IterableDataset):  # the dataset as it was inside a DataLoader: no draw of its own
        def __iter__(self):
            if not finished:
                yield next_batch()

    loader = DataLoader(DataLoaderDataset(), batch_size=None, num_workers=0, collate_fn=lambda b: b)
    via_loader, after_loader = one_pass(loader)
    direct, after_direct = one_pass(RolloutDataset(next_batch, lambda: finished))
    assert len(direct) == len(via_loader) == (0 if finished else 1)
    assert all(torch.equal(a, b) for a, b in zip(direct, via_loader, strict=True))
    assert torch.equal(after_direct, after_loader)


def test_iter_without_next_draws_nothing():
    # Lightning calls iter() on a plain iterable once to check it; that must not move the random stream.
    torch.manual_seed(3)
    iter(RolloutDataset(lambda: torch.rand(1)))
    drawn = torch.rand(2)
    torch.manual_seed(3)
    assert torch.equal(drawn, torch.rand(2))


@pytest.mark.parametrize("steps", [1, 5])
def test_update_means_are_the_per_key_means(steps):
    metrics = Metrics()
    values = torch.randn(steps, 3, generator=torch.Generator().manual_seed(steps))
    for row in values:
        metrics.add({"a": row[0], "b": row[1], "c": float(row[2])})
    means = metrics.update_means()
    assert list(means) == ["a", "b", "c"]
    assert means == {k: values[:, i].mean().item() for i, k in enumerate("abc")}
    assert metrics.update_means() == {}
