"""The writer under I/O faults and foreign writes (rules 8, 9, 10; a slice of T9 and T8 vi).

Through the F1 seam (a ``FileOps`` wrapper): a short write, ENOSPC (before or after part of the
record reached the file) or EIO ends the writer with ``StorageError``; it appends nothing more,
and after reopening the log is at worst torn, never corrupt (rule 9). A failed ``fdatasync`` is
never retried: not by a later append, ``sync``, ``snapshot`` or ``close`` (rule 8). A foreign
append or truncate of the segment while a writer is open makes the next append raise
``FencingError`` without writing a byte (rule 10).
"""

from __future__ import annotations

import errno
import os
import random
from pathlib import Path

import pytest

from agentrun.core.codec import encode_event
from agentrun.core.errors import FencingError, StorageError
from agentrun.core.events import Event
from agentrun.store.fileops import OsFileOps, PendingSync, SyncedNow
from agentrun.store.framing import encode_record, is_zeros
from agentrun.store.local import LocalTaskStore, LocalTaskWriter
from tests.store.builders import build_task, event_at, record_bounds
from tests.store.conftest import CleanLogs


class FaultOps(OsFileOps):
    """``OsFileOps`` that can fail writes to segments, truncates and fdatasyncs on demand."""

    def __init__(self) -> None:
        self.paths: dict[int, str] = {}
        self.write_fault: str | None = None  # short, enospc, enospc_partial, eio
        self.truncate_fails = False
        self.fdatasync_fails_at: int | None = None  # the n-th call (1-based) fails
        self.fdatasync_calls = 0
        self.segment_writes = 0
        self.allocate_fault: int | None = None  # an errno every allocate fails with

    def open(self, path: str, flags: int, mode: int = 0o600) -> int:
        fd = super().open(path, flags, mode)
        self.paths[fd] = path
        return fd

    def close(self, fd: int) -> None:
        self.paths.pop(fd, None)
        super().close(fd)

    def pwrite(self, fd: int, data: bytes, offset: int) -> int:
        if not self.paths.get(fd, "").endswith(".seg"):
            return super().pwrite(fd, data, offset)
        self.segment_writes += 1
        fault, half = self.write_fault, data[: len(data) // 2]
        if fault == "short":
            return os.pwrite(fd, half, offset)
        if fault == "enospc_partial":
            os.pwrite(fd, half, offset)
            raise OSError(errno.ENOSPC, "No space left on device")
        if fault == "enospc":
            raise OSError(errno.ENOSPC, "No space left on device")
        if fault == "eio":
            raise OSError(errno.EIO, "Input/output error")
        return super().pwrite(fd, data, offset)

    def allocate(self, fd: int, offset: int, length: int) -> None:
        if self.allocate_fault is not None:
            raise OSError(self.allocate_fault, os.strerror(self.allocate_fault))
        super().allocate(fd, offset, length)

    def truncate(self, fd: int, size: int) -> None:
        if self.truncate_fails:
            raise OSError(errno.EIO, "Input/output error")
        super().truncate(fd, size)

    def fdatasync(self, fd: int) -> None:
        self.fdatasync_calls += 1
        if self.fdatasync_fails_at is not None and self.fdatasync_calls >= self.fdatasync_fails_at:
            raise OSError(errno.EIO, "Input/output error")
        super().fdatasync(fd)

    def start_fdatasync(self, fd: int) -> PendingSync:
        return SyncedNow(self.fdatasync, fd)


def next_events(next_seq: int, count: int) -> list[Event]:
    rng = random.Random(next_seq)
    return [event_at(next_seq + i, rng) for i in range(count)]


def last_segment(store: LocalTaskStore, task_id: str) -> Path:
    return sorted((Path(store.task_dir(task_id)) / "log").glob("*.seg"))[-1]


@pytest.mark.parametrize("truncate_fails", [False, True], ids=["cut-back", "cut-back-fails"])
@pytest.mark.parametrize("fault", ["short", "enospc", "enospc_partial", "eio"])
def test_a_failed_write_stops_the_writer_and_leaves_at_most_a_torn_tail(
    fault: str, truncate_fails: bool, fast_home: Path, clean_logs: CleanLogs
) -> None:
    ops = FaultOps()
    store = LocalTaskStore(fast_home, ops=ops)
    built = build_task(store, 12, task_id="t-fault")
    segment = last_segment(store, built.task_id)
    good = segment.read_bytes()
    writer = store.open_writer(built.task_id)
    batch = next_events(writer.next_seq, 3)
    ops.write_fault, ops.truncate_fails = fault, truncate_fails
    with pytest.raises(StorageError) as info:
        writer.append(batch, sync=True)
    if fault.startswith("enospc"):
        assert "disk full" in str(info.value)
    partial = b""
    if fault in ("short", "enospc_partial") and truncate_fails:
        frames = b"".join(encode_record(_payload(e)) for e in batch)
        partial = frames[: len(frames) // 2]
    left = segment.read_bytes()
    assert left[: len(good + partial)] == good + partial, "the writer must cut back or leave it"
    assert is_zeros(left, len(good + partial)), "nothing but preallocated zeros after it"

    writes_before = ops.segment_writes
    ops.write_fault, ops.truncate_fails = None, False
    with pytest.raises(StorageError, match="stopped after an earlier failure"):
        writer.append(batch, sync=True)
    with pytest.raises(StorageError):
        writer.sync()
    assert ops.segment_writes == writes_before, "rule 9: no append after a failed write"
    writer.abandon()
    assert not store.is_claimed(built.task_id)

    # Whole records that made it are kept (a prefix of what was attempted), the rest is torn.
    kept, kept_bytes = 0, 0
    for event in batch:
        size = len(encode_record(_payload(event)))
        if kept_bytes + size > len(partial):
            break
        kept, kept_bytes = kept + 1, kept_bytes + size
    torn = len(partial) - kept_bytes
    # Rule 15 keeps the dropped bytes to the end of the file: the preallocated zeros after them too.
    dropped = len(left) - len(good) - kept_bytes
    reopened = store.open_writer(built.task_id)  # never CorruptLogError
    try:
        assert [r["bytes"] for r in reopened.recovery] == ([dropped] if torn else [])
        assert reopened.next_seq == batch[0].seq + kept
        reopened.append(batch[kept:], sync=True)
    finally:
        reopened.close()
    assert [e.seq for e in store.events(built.task_id)] == list(range(1, batch[-1].seq + 1))
    clean_logs(store, built.task_id)


def _payload(event: Event) -> bytes:
    return encode_event(event)


def failing_syncs(home: Path, task_id: str) -> tuple[FaultOps, LocalTaskStore, LocalTaskWriter]:
    """A task of six events open for appending, on ``FaultOps`` whose next fdatasync (and
    every one after it) fails with EIO."""
    ops = FaultOps()
    store = LocalTaskStore(home, ops=ops)
    built = build_task(store, 6, task_id=task_id)
    writer = store.open_writer(built.task_id)
    ops.fdatasync_calls = 0
    ops.fdatasync_fails_at = 1
    return ops, store, writer


@pytest.mark.parametrize("then", ["append", "sync", "snapshot", "close"])
def test_a_failed_fdatasync_is_never_retried(then: str, fast_home: Path) -> None:
    ops, store, writer = failing_syncs(fast_home, "t-fsync")
    first = next_events(writer.next_seq, 1)
    with pytest.raises(StorageError, match="could not make the log durable"):
        writer.append(first, sync=True)
    assert ops.fdatasync_calls == 1
    with pytest.raises(StorageError):
        if then == "append":
            writer.append(next_events(first[0].seq + 1, 1), sync=True)
        elif then == "sync":
            writer.sync()
        elif then == "snapshot":
            writer.snapshot()
        else:
            writer.close()
    writer.abandon()
    assert ops.fdatasync_calls == 1, "rule 8: a failed fdatasync was retried"
    assert not store.is_claimed(writer.task_id)
    # The next run re-reads the log from disk; the record reached the page cache.
    ops.fdatasync_fails_at = None
    reopened = store.open_writer(writer.task_id)
    try:
        assert reopened.recovery == []
        assert reopened.next_seq == first[0].seq + 1
    finally:
        reopened.abandon()


@pytest.mark.parametrize(
    "then", ["append", "sync", "begin_sync", "wait_for_sync", "snapshot", "close"]
)
def test_a_failed_background_fdatasync_surfaces_at_the_next_wait_and_none_starts_after(
    then: str, fast_home: Path
) -> None:
    ops, store, writer = failing_syncs(fast_home, "t-bg-fsync")
    first = next_events(writer.next_seq, 1)
    writer.append(first, sync=False)
    writer.begin_sync()  # the failure is not known yet: a read tool may run now
    assert writer.has_unsynced
    second = next_events(first[0].seq + 1, 1)
    with pytest.raises(StorageError, match="could not make the log durable"):
        if then == "append":  # written, its sync queued behind the first, then both waited for
            writer.append(second, sync=True)
        elif then == "sync":
            writer.sync()
        elif then == "begin_sync":  # the next sync is queued, then the first one waited for
            writer.append(second, sync=False)
            writer.begin_sync()
        elif then == "wait_for_sync":
            writer.wait_for_sync()
        elif then == "snapshot":
            writer.snapshot()
        else:
            writer.close()
    wrote_second = then in ("append", "begin_sync")
    learned = ops.fdatasync_calls
    assert learned == 1 + wrote_second
    with pytest.raises(StorageError, match="stopped after an earlier failure"):
        writer.append(next_events(second[0].seq + wrote_second, 1), sync=True)
    with pytest.raises(StorageError):
        writer.sync()
    writer.abandon()
    assert ops.fdatasync_calls == learned, "rule 8: a sync started after the failure was known"
    ops.fdatasync_fails_at = None
    reopened = store.open_writer(writer.task_id)
    try:
        # Appended after the failed sync started: cut back to the last good sync (both go).
        # Otherwise what it covered stays in the page cache, for the next open to judge.
        assert reopened.next_seq == (first[0].seq if wrote_second else second[0].seq)
    finally:
        reopened.abandon()


def test_a_failed_background_sync_cuts_the_log_back_to_the_last_good_sync(fast_home: Path) -> None:
    # Records appended while a sync that fails ran must not reach the disk after a region it
    # lost (valid records after a hole read as corruption): the writer cuts them off.
    ops = FaultOps()
    store = LocalTaskStore(fast_home, ops=ops)
    built = build_task(store, 6, task_id="t-cut")
    writer = store.open_writer(built.task_id)
    good = next_events(writer.next_seq, 1)
    writer.append(good, sync=True)
    ops.fdatasync_calls, ops.fdatasync_fails_at = 0, 1
    lost = next_events(good[0].seq + 1, 2)
    writer.append(lost[:1], sync=False)
    writer.begin_sync()  # fails, not known yet
    writer.append(lost[1:], sync=False)  # written while it "runs"
    with pytest.raises(StorageError, match="could not make the log durable"):
        writer.begin_sync()  # queues the next, then learns of the first
    writer.abandon()
    ops.fdatasync_fails_at = None
    segment = last_segment(store, built.task_id)
    _header, bounds = record_bounds(segment.read_bytes())
    assert segment.stat().st_size == bounds[-1]  # cut right after the last good record
    reopened = store.open_writer(built.task_id)
    try:
        assert reopened.next_seq == good[0].seq + 1
        assert reopened.recovery == []  # a clean end, nothing to repair
    finally:
        reopened.abandon()


def test_an_interrupted_wait_forgets_no_sync(fast_home: Path) -> None:
    class Interrupted:
        waits = 0

        def wait(self) -> None:  # a Ctrl-C in the wait, then the flush turns out to have failed
            Interrupted.waits += 1
            if Interrupted.waits == 1:
                raise KeyboardInterrupt
            raise OSError(errno.EIO, "Input/output error")

    class Ops(OsFileOps):
        def start_fdatasync(self, fd: int) -> PendingSync:
            return Interrupted()

    store = LocalTaskStore(fast_home)
    built = build_task(store, 3, task_id="t-interrupt")
    writer = LocalTaskStore(fast_home, ops=Ops()).open_writer(built.task_id)
    writer.append(next_events(writer.next_seq, 1), sync=False)
    with pytest.raises(KeyboardInterrupt):
        writer.sync()
    with pytest.raises(StorageError, match="could not make the log durable"):
        writer.sync()  # the same sync, waited for again: its failure is reported
    writer.abandon()


def test_close_waits_for_a_running_sync_before_it_closes_the_descriptor(fast_home: Path) -> None:
    order: list[str] = []

    class Noted:
        def wait(self) -> None:
            order.append("wait")

    class Ops(OsFileOps):
        def start_fdatasync(self, fd: int) -> PendingSync:
            return Noted()

        def close(self, fd: int) -> None:
            order.append("close")
            super().close(fd)

    store = LocalTaskStore(fast_home)
    built = build_task(store, 3, task_id="t-close")
    writer = LocalTaskStore(fast_home, ops=Ops()).open_writer(built.task_id)
    writer.append(next_events(writer.next_seq, 1), sync=False)
    writer.begin_sync()
    order.clear()
    writer.abandon()  # gives up without syncing: still waits for the one running
    assert order[:2] == ["wait", "close"]


@pytest.mark.parametrize("foreign", ["append_garbage", "append_valid_record", "truncate"])
def test_a_foreign_change_to_the_segment_fences_the_writer(foreign: str, fast_home: Path) -> None:
    store = LocalTaskStore(fast_home)
    built = build_task(store, 8, task_id="t-fence")
    writer = store.open_writer(built.task_id)
    segment = last_segment(store, built.task_id)
    nxt = next_events(writer.next_seq, 1)
    if foreign == "truncate":
        _header, bounds = record_bounds(segment.read_bytes())
        os.truncate(segment, bounds[-2])
    else:
        data = b"\x00garbage" if foreign == "append_garbage" else encode_record(_payload(nxt[0]))
        fd = os.open(segment, os.O_WRONLY | os.O_APPEND)
        os.write(fd, data)
        os.close(fd)
    after_foreign = segment.read_bytes()
    with pytest.raises(FencingError, match="another process wrote"):
        writer.append(nxt, sync=True)
    assert segment.read_bytes() == after_foreign, "rule 10: the fenced append wrote bytes"
    with pytest.raises(StorageError):
        writer.append(nxt, sync=True)
    assert segment.read_bytes() == after_foreign
    writer.abandon()


def test_an_event_whose_seq_does_not_follow_is_refused_without_writing(fast_home: Path) -> None:
    store = LocalTaskStore(fast_home)
    built = build_task(store, 8, task_id="t-seq")
    writer = store.open_writer(built.task_id)
    segment = last_segment(store, built.task_id)
    before = segment.read_bytes()
    try:
        for seq in (writer.next_seq - 1, writer.next_seq + 1, 1):
            with pytest.raises(FencingError, match="does not follow"):
                writer.append(next_events(seq, 1), sync=True)
        ahead = next_events(writer.next_seq, 2)
        with pytest.raises(FencingError):
            writer.append([ahead[0], ahead[0]], sync=True)  # a batch must be contiguous too
        assert segment.read_bytes() == before
        writer.append(ahead, sync=True)  # a refused seq does not break the writer
    finally:
        writer.close()


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EOPNOTSUPP, errno.EFBIG])
def test_without_room_to_preallocate_the_writer_appends_as_the_file_grows(
    error: int, fast_home: Path
) -> None:
    ops = FaultOps()
    store = LocalTaskStore(fast_home, ops=ops)
    built = build_task(store, 4, task_id="t-no-room")
    ops.allocate_fault = error
    writer = store.open_writer(built.task_id)
    try:
        for _ in range(3):
            writer.append(next_events(writer.next_seq, 1), sync=True)
        last = writer._log.last_position
    finally:
        writer.close()
    assert last is not None
    assert last_segment(store, built.task_id).stat().st_size == last.end  # no zeros: no room
    assert [e.seq for e in store.events(built.task_id)] == list(range(1, last.seq + 1))


def test_a_failed_preallocation_stops_the_writer_before_it_writes(fast_home: Path) -> None:
    ops = FaultOps()
    store = LocalTaskStore(fast_home, ops=ops)
    built = build_task(store, 4, task_id="t-alloc-eio")
    segment = last_segment(store, built.task_id)
    good = segment.read_bytes()
    ops.allocate_fault, writes = errno.EIO, ops.segment_writes
    writer = store.open_writer(built.task_id)
    with pytest.raises(StorageError, match="could not write"):
        writer.append(next_events(writer.next_seq, 1), sync=True)
    with pytest.raises(StorageError, match="stopped after an earlier failure"):
        writer.append(next_events(writer.next_seq, 1), sync=True)
    writer.abandon()
    assert segment.read_bytes() == good
    assert ops.segment_writes == writes
