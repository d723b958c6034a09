"""The crash simulator itself (F1): each mode leaves exactly the states its table promises.

T5 and T13 are only as good as CrashFS, so its model is tested against hand-worked cases: an
unsynced write, a new file whose directory was never fsynced, an unsynced rename or unlink, a
renamed directory taking its entries along, prefixes in order, per-file order under ``subset``,
and garbage or zeros only past the durable size. ``FaultFS`` counts and fails as told.
"""

from __future__ import annotations

import errno
import os
import random
from pathlib import Path

import pytest

from agentrun.store.fileops import APPEND_FLAGS, CREATE_FLAGS, WRITER_FLAGS
from tests.reliability.crashfs import CrashFS, SimulatedCrash
from tests.reliability.faultfs import FaultFS


def tree(root: Path) -> dict[str, bytes | None]:
    found: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            found[str((Path(dirpath) / name).relative_to(root))] = None
        for name in filenames:
            path = Path(dirpath) / name
            found[str(path.relative_to(root))] = path.read_bytes()
    return found


def create(fs: CrashFS, path: Path, data: bytes, *, sync: bool) -> None:
    fd = fs.open(str(path), CREATE_FLAGS)
    fs.write(fd, data)
    if sync:
        fs.fsync(fd)
    fs.close(fd)


def append(fs: CrashFS, path: Path, data: bytes) -> None:
    fd = fs.open(str(path), APPEND_FLAGS)
    fs.write(fd, data)
    fs.close(fd)


@pytest.fixture
def disk(tmp_path: Path) -> Path:
    root = tmp_path / "disk"
    (root / "d").mkdir(parents=True)
    (root / "d" / "old").write_bytes(b"old")
    return root


def test_drop_unsynced_keeps_only_synced_bytes_and_synced_entries(disk: Path) -> None:
    fs = CrashFS(disk)
    create(fs, disk / "d" / "synced", b"abc", sync=True)
    fs.fsync_dir(str(disk / "d"))
    append(fs, disk / "d" / "synced", b"def")  # data not synced
    create(fs, disk / "d" / "new", b"xyz", sync=True)  # entry not synced
    fs.replace(str(disk / "d" / "old"), str(disk / "d" / "renamed"))  # rename not synced
    fs.mkdir(str(disk / "e"))  # entry in the root not synced
    fs.materialize("drop_unsynced", random.Random(0))
    assert tree(disk) == {"d": None, "d/synced": b"abc", "d/old": b"old"}


def test_preallocated_zeros_and_writes_into_them_are_durable_only_after_a_sync(
    disk: Path,
) -> None:
    fs = CrashFS(disk)
    create(fs, disk / "d" / "seg", b"head", sync=True)
    fs.fsync_dir(str(disk / "d"))
    fd = fs.open(str(disk / "d" / "seg"), WRITER_FLAGS)
    fs.allocate(fd, 4, 8)
    fs.pwrite(fd, b"ab", 4)
    fs.materialize("drop_unsynced", random.Random(0))
    assert tree(disk)["d/seg"] == b"head"
    fs.fdatasync(fd)
    fs.pwrite(fd, b"cd", 6)  # into the durable zeros, not synced
    fs.close(fd)
    fs.materialize("drop_unsynced", random.Random(0))
    assert tree(disk)["d/seg"] == b"headab" + bytes(6)


def test_a_directory_fsync_makes_its_entries_durable_but_not_its_own_entry(disk: Path) -> None:
    fs = CrashFS(disk)
    fs.mkdir(str(disk / ".new-x"))
    create(fs, disk / ".new-x" / "f", b"1", sync=True)
    fs.fsync_dir(str(disk / ".new-x"))
    fs.fsync_dir(str(disk))
    fs.replace(str(disk / ".new-x"), str(disk / "x"))  # the renamed directory keeps its entries
    fs.materialize("drop_unsynced", random.Random(0))
    assert tree(disk)[".new-x/f"] == b"1" and "x" not in tree(disk)
    fs.fsync_dir(str(disk))
    fs.materialize("drop_unsynced", random.Random(0))
    assert tree(disk)["x/f"] == b"1" and ".new-x" not in tree(disk)


def test_prefix_states_are_prefixes_of_the_operations_in_order(disk: Path) -> None:
    fs = CrashFS(disk)
    create(fs, disk / "d" / "log", b"", sync=True)
    fs.fsync_dir(str(disk / "d"))
    for chunk in (b"AAAA", b"BBBB", b"CCCC"):
        append(fs, disk / "d" / "log", chunk)
    seen = set()
    for seed in range(200):
        fs.materialize("prefix", random.Random(seed))
        data = (disk / "d" / "log").read_bytes()
        assert b"AAAABBBBCCCC".startswith(data), data
        seen.add(len(data))
    assert seen == set(range(13)), "prefix mode tears writes at every byte, and keeps whole ones"


def test_subset_reorders_across_files_but_keeps_each_files_writes_in_order(disk: Path) -> None:
    fs = CrashFS(disk)
    for name in ("a", "b"):
        create(fs, disk / "d" / name, b"", sync=True)
    fs.fsync_dir(str(disk / "d"))
    for chunk in (b"1", b"2", b"3"):
        append(fs, disk / "d" / "a", chunk)
        append(fs, disk / "d" / "b", chunk)
    combos = set()
    for seed in range(200):
        fs.materialize("subset", random.Random(seed))
        a, b = (disk / "d" / "a").read_bytes(), (disk / "d" / "b").read_bytes()
        assert b"123".startswith(a) and b"123".startswith(b)
        combos.add((a, b))
    assert (b"", b"123") in combos and (b"123", b"") in combos, "files are independent"


@pytest.mark.parametrize(("mode", "fill"), [("garbage", None), ("zeros", 0)])
def test_garbage_and_zeros_replace_only_bytes_past_the_durable_size(
    disk: Path, mode: str, fill: int | None
) -> None:
    fs = CrashFS(disk)
    create(fs, disk / "d" / "log", b"durable", sync=True)
    fs.fsync_dir(str(disk / "d"))
    append(fs, disk / "d" / "log", b"x" * 64)
    lengths = set()
    for seed in range(50):
        fs.materialize(mode, random.Random(seed))
        data = (disk / "d" / "log").read_bytes()
        assert data.startswith(b"durable")
        tail = data[len(b"durable") :]
        lengths.add(len(tail))
        if fill is not None:
            assert tail == bytes(len(tail))
        elif len(tail) > 8:
            assert tail != b"x" * len(tail)
    assert max(lengths) == 64


def test_the_kth_crash_point_raises_and_the_file_system_stays_dead(disk: Path) -> None:
    fs = CrashFS(disk, crash_at=3)
    fd = fs.open(str(disk / "d" / "f"), CREATE_FLAGS)  # point 1
    fs.write(fd, b"data")
    fs.fsync(fd)  # point 2
    with pytest.raises(SimulatedCrash):
        fs.fsync_dir(str(disk / "d"))  # point 3: not done
    with pytest.raises(SimulatedCrash):
        fs.write(fd, b"more")
    fs.close(fd)  # closing still works, so descriptors do not leak
    assert fs.point_names == ["create", "fsync", "fsync_dir"]
    fs.materialize("drop_unsynced", random.Random(0))
    assert "d/f" not in tree(disk)


def test_faultfs_fails_the_nth_operation_once_or_persistently(tmp_path: Path) -> None:
    once = FaultFS(fail_at=2, error="EIO")
    fd = once.open(str(tmp_path / "f"), CREATE_FLAGS)  # op 1
    with pytest.raises(OSError) as info:
        once.write(fd, b"abc")  # op 2
    assert info.value.errno == errno.EIO
    assert once.write(fd, b"abc") == 3  # once: the next call works
    once.close(fd)
    persistent = FaultFS(fail_at=2, error="ENOSPC", persistent=True)
    fd = persistent.open(str(tmp_path / "g"), CREATE_FLAGS)
    for _ in range(3):
        with pytest.raises(OSError) as info:
            persistent.fdatasync(fd)
        assert info.value.errno == errno.ENOSPC
    with pytest.raises(OSError):
        persistent.close(fd)  # closes the descriptor anyway
    assert persistent.counts["fdatasync"] == 3
    short = FaultFS(fail_at=2, error="short")
    fd = short.open(str(tmp_path / "h"), CREATE_FLAGS)
    assert short.write(fd, b"abcdef") == 3
    short.close(fd)
    assert (tmp_path / "h").read_bytes() == b"abc"
