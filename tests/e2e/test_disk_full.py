"""A full disk (a small tmpfs as the run dir): the run ends with one line naming the file and the cause, removes
its temporary files and keeps the previous checkpoints; checkpoints are written once, beside their target."""

import csv
import errno
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from pglab.atomic import atomic_path
from pglab.checkpoint_io import LocalCheckpointIO, write_checkpoint
from pglab.errors import StorageError
from pglab.loggers import EnvStepCSVLogger
from tests.cli import train

NO_SPACE = "No space left on device"
#: a network big enough that a checkpoint (~0.4 MB with Adam's state) is far larger than what the run writes
#: before its first save (config.yaml, Hydra's launch record, a few CSV rows: under 64 KiB)
BIG_NETWORK = "network.hidden_sizes=[128,128]"


@pytest.fixture
def tmpfs(tmp_path):
    """`mount(size)`: a fresh tmpfs of `size` (e.g. "4m") under tmp_path, unmounted at the end of the test."""
    mounted = []

    def mount(size: str) -> Path:
        if shutil.which("mount") is None:
            pytest.skip("no mount command on this machine")
        path = tmp_path / f"tmpfs{len(mounted)}"
        path.mkdir()
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True
        )
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {result.stderr.strip()}")
        mounted.append(path)
        return path

    yield mount
    for path in mounted:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(
                ["umount", "-l", str(path)], check=True
            )  # still busy: detach it now, free it later


def fill(directory: Path, leave: int = 0) -> None:
    """Fill `directory`'s file system until ENOSPC, then free `leave` bytes."""
    reserve = directory / "reserve"
    if leave:
        reserve.write_bytes(b"\0" * leave)
    with open(directory / "filler", "wb", buffering=0) as file, pytest.raises(OSError) as full:  # noqa: PT011
        while True:
            file.write(b"\0" * 65536)
    assert full.value.errno == errno.ENOSPC  # unbuffered: a write that fits in part writes that part first
    reserve.unlink(missing_ok=True)


def snapshot(run_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (run_dir / "checkpoints").glob("*.ckpt")}


def alarms(result) -> list[str]:
    """The output lines that report a problem: an error, a warning, a traceback (the rest is the run's usual INFO
    lines and the progress bar)."""
    lines = (result.stdout + result.stderr).splitlines()
    return [line for line in lines if re.search(r"error|warn|traceback", line, re.I)]


def test_a_full_disk_at_a_checkpoint_save_fails_with_one_line_and_keeps_the_checkpoints(tmpfs):
    run_dir = tmpfs("4m") / "run"
    first = train("debug=smoke", BIG_NETWORK, f"hydra.run.dir={run_dir}")
    assert first.returncode == 0, first.stderr[-3000:]
    before = snapshot(run_dir)
    assert set(before) == {"best.ckpt", "last.ckpt"} and len(before["last.ckpt"]) > 300_000
    fill(run_dir.parent, leave=128 * 1024)  # room for the small files, not for a checkpoint

    result = train(f"resume={run_dir}", "total_env_steps=4000")
    assert result.returncode == 1
    (line,) = alarms(result)
    # The first save after 3,000 env steps fails: best.ckpt if that evaluation improved, else last.ckpt.
    assert re.fullmatch(
        rf"\[.*\]\[pglab\]\[ERROR\] - could not write {re.escape(str(run_dir))}/checkpoints/"
        rf"(last|best)\.ckpt: {NO_SPACE}; the previous \1\.ckpt is kept",
        line,
    ), line
    assert not list(run_dir.rglob("*.tmp"))
    assert snapshot(run_dir) == before
    summary = json.loads((run_dir / "summary.json").read_text())  # the failed save's space was freed again
    assert summary["status"] == "failed" and NO_SPACE in summary["error"]


def test_a_disk_full_from_the_start_is_refused_in_one_line_before_anything_is_written(tmpfs):
    run_dir = tmpfs("4m") / "run"
    assert train("debug=smoke", BIG_NETWORK, f"hydra.run.dir={run_dir}").returncode == 0
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    fill(run_dir.parent)
    # Hydra's record of the launch (.hydra/resume-<time>/) would be the first write: the run dir guard checks the
    # free space before it.
    result = train(f"resume={run_dir}", "total_env_steps=4000")
    assert result.returncode == 2
    (line,) = alarms(result)
    assert line.startswith(f"[pglab][ERROR] - hydra.run.dir={run_dir} has ") and NO_SPACE in line, line
    assert len([line for line in (result.stdout + result.stderr).splitlines() if line.strip()]) == 1
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before


def test_the_checkpoint_io_writes_its_target_only_not_the_temp_dir(tmp_path, monkeypatch):
    temp_dir, target_dir = tmp_path / "system-temp", tmp_path / "run"
    temp_dir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp_dir))
    made = []
    mkstemp = tempfile.mkstemp
    monkeypatch.setattr(tempfile, "mkstemp", lambda *a, **k: made.append(a) or mkstemp(*a, **k))
    checkpoint = {"state_dict": {"policy.w": torch.arange(6.0)}}

    LocalCheckpointIO().save_checkpoint(checkpoint, target_dir / "last.ckpt.tmp")
    assert made == [] and list(temp_dir.iterdir()) == []
    assert [p.name for p in target_dir.iterdir()] == ["last.ckpt.tmp"]
    loaded = torch.load(target_dir / "last.ckpt.tmp", weights_only=True)
    assert torch.equal(loaded["state_dict"]["policy.w"], torch.arange(6.0))

    TorchCheckpointIO().save_checkpoint(checkpoint, target_dir / "lightning.ckpt")  # what the plugin replaces
    assert len(made) == 1


def test_the_checkpoint_io_on_a_full_disk_raises_storage_error_and_leaves_no_file(tmpfs):
    disk = tmpfs("256k")
    with pytest.raises(StorageError, match=rf"^could not write {re.escape(str(disk))}/big.ckpt: {NO_SPACE}$"):
        write_checkpoint({"w": torch.zeros(200_000)}, disk / "big.ckpt")  # 800 kB
    assert list(disk.iterdir()) == []


def test_atomic_path_removes_the_tmp_file_and_keeps_the_target_when_the_block_raises(tmp_path):
    target = tmp_path / "summary.json"
    target.write_text("old")
    kept = f"^could not write {re.escape(str(target))}: {NO_SPACE}; the previous summary.json is kept$"
    with pytest.raises(StorageError, match=kept), atomic_path(target) as tmp:
        tmp.write_text("half of the new")
        raise OSError(errno.ENOSPC, NO_SPACE)
    with pytest.raises(KeyError), atomic_path(target) as tmp:  # any other error: the same clean-up, unchanged
        tmp.write_text("half of the new")
        raise KeyError("x")
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"] and target.read_text() == "old"
    new = f"^could not write {re.escape(str(tmp_path))}/new.json: {NO_SPACE}$"
    with pytest.raises(StorageError, match=new), atomic_path(tmp_path / "new.json"):
        raise OSError(errno.ENOSPC, NO_SPACE)


def test_the_csv_logger_on_a_full_disk_keeps_the_rows_written_before(tmpfs):
    disk = tmpfs("256k")
    logger = EnvStepCSVLogger(save_dir=str(disk), name="csv", version="", flush_every_s=1e9)
    metrics = disk / "csv" / "metrics.csv"
    logger.log_metrics({"a": 1.0}, step=0)
    logger.save()
    fill(disk)
    written = metrics.read_bytes()
    for step in range(1, 1000):  # one append of ~15 kB: more than the file's last page holds
        logger.log_metrics({"a": 1.0 / step}, step=step)
    failed = f"^could not write {re.escape(str(metrics))}: {NO_SPACE}; the rows logged before are kept$"
    with pytest.raises(StorageError, match=failed):
        logger.save()
    assert metrics.read_bytes() == written
    new_columns = {f"new_key_{i}": 0.0 for i in range(1000)}  # a new header: the file is rewritten
    logger.log_metrics({"a": 2.0, **new_columns}, step=1000)
    with pytest.raises(StorageError, match=failed):
        logger.save()
    assert metrics.read_bytes() == written and [p.name for p in metrics.parent.iterdir()] == ["metrics.csv"]
    for step in range(1001, 2000):  # rows pending when the run fails for another reason
        logger.log_metrics({"a": 3.0}, step=step)
    logger.finalize("failed")  # Lightning's clean-up after the run's error: no second error to hide it
    assert metrics.read_bytes() == written
    assert list(csv.DictReader(metrics.open())) == [{"a": "1.0", "step": "0"}]
