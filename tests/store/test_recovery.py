"""Opening for writing: leftovers and interrupted repairs never wedge a task (rules 15, 19).

A repair that is interrupted after saving the torn bytes but before truncating (a crash at
``repair_before_truncate``, or a failing truncate) is simply done again by the next open, however
often that happens: every attempt keeps its own ``.torn-*`` file. Leftover temp files of
interrupted writes (``*.tmp-*``, ``*.seg.tmp``) are ignored by readers and removed by the claim
holder, who reports them in ``recovery``.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from agentrun.core.errors import StorageError
from agentrun.store.fileops import OsFileOps
from agentrun.store.local import LocalTaskStore
from tests.store.builders import build_task, content_digest
from tests.store.conftest import CleanLogs

TORN = b"\x40\x00\x00\x00\x01\x02\x03partial record"


class TruncateFails(OsFileOps):
    """A file system whose ftruncate fails, as if the repair was interrupted right before it."""

    def truncate(self, fd: int, size: int) -> None:
        raise OSError(errno.EIO, "Input/output error")


def test_repeatedly_interrupted_repairs_never_wedge_the_task(
    fast_home: Path, clean_logs: CleanLogs
) -> None:
    """Regression: the third interrupted repair of one tail found both candidate .torn names
    taken and failed with FileExistsError, so the task could never be opened again."""
    built = build_task(LocalTaskStore(fast_home), 10, task_id="t-wedge")
    segment = built.segments()[-1]
    good = segment.read_bytes()
    segment.write_bytes(good + TORN)
    interrupted = LocalTaskStore(fast_home, ops=TruncateFails())
    for _attempt in range(4):
        with pytest.raises(StorageError):
            interrupted.open_writer(built.task_id)
        assert segment.read_bytes() == good + TORN
    writer = LocalTaskStore(fast_home).open_writer(built.task_id)
    try:
        assert [(r["offset"], r["bytes"]) for r in writer.recovery] == [(len(good), len(TORN))]
        saved = sorted(p.name for p in segment.parent.glob("*.torn-*"))
        assert len(saved) == 5 and writer.recovery[0]["saved_as"] in saved
        assert all((segment.parent / name).read_bytes() == TORN for name in saved)
    finally:
        writer.close()
    assert segment.read_bytes() == good
    clean_logs(built.store, built.task_id)


def test_a_new_tear_at_an_old_offset_keeps_both_torn_files(
    fast_home: Path, clean_logs: CleanLogs
) -> None:
    store = LocalTaskStore(fast_home)
    built = build_task(store, 10, task_id="t-twice")
    segment = built.segments()[-1]
    good = segment.read_bytes()
    for tail in (b"\x09first", b"\x09second tear"):
        segment.write_bytes(good + tail)
        store.open_writer(built.task_id).abandon()
    saved = {p.name: p.read_bytes() for p in segment.parent.glob("*.torn-*")}
    assert sorted(saved.values()) == [b"\x09first", b"\x09second tear"]
    assert f"{segment.name}.torn-{len(good)}" in saved
    clean_logs(store, built.task_id)


@pytest.mark.parametrize(
    ("where", "name"),
    [
        ("log", "00000000000000000011.seg.tmp"),
        ("log", "00000000000000000001.seg.tmp-1a2b3c4d"),
        ("snapshots", "00000000000000000005.snap.tmp-deadbeef"),
        ("", "summary.tmp-0badf00d"),
    ],
)
def test_leftovers_are_ignored_by_readers_and_removed_by_the_claim_holder(
    where: str, name: str, fast_home: Path, clean_logs: CleanLogs
) -> None:
    store = LocalTaskStore(fast_home)
    built = build_task(store, 10, task_id="t-leftover", snapshot_at={5})
    leftover = built.task_dir / where / name
    leftover.write_bytes(b"half-written")
    before = content_digest(built.task_dir)
    assert list(store.events(built.task_id)) == built.events
    assert store.load(built.task_id).state.last_seq == 10
    assert content_digest(built.task_dir) == before, "a reader touched a leftover"
    writer = store.open_writer(built.task_id)
    try:
        assert {"removed_leftovers": [name]} in writer.recovery
    finally:
        writer.abandon()
    assert not leftover.exists()
    clean_logs(store, built.task_id)
