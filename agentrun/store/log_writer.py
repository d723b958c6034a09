"""Appending events to a task's log under the claim (rules 6-12).

Each ``append`` builds the frames of its events as one ``bytes`` and writes them with one
``os.pwrite`` at the end of the log: events that must become durable together share one write and
one fsync (group commit, design §4). Before every write the writer checks that the file is as
long as it left it, that nothing was written where it is about to write, and that seqs are
contiguous (rule 10). A failed or short write, or a failed fsync, breaks the writer for good: no
retry, no further append (rules 8-9).

The writer preallocates the active segment ahead of its appends by writing zeros (rule 13):
as much as the segment holds already, from ``MIN_PREALLOCATE_BYTES`` up to ``PREALLOCATE_BYTES``
at a time, so a short run writes few. An fdatasync after an overwrite of written zeros has no
size and no extent to commit: on ext4 it costs about 0.7 of one after an append
(docs/decisions.md). Zeros after the last record are the end of the log to every reader
(``scan_segment``). A segment is cut back to its data before it is sealed by a roll and when
the writer closes cleanly, so only a running or crashed task's last segment carries zeros.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Sequence

from agentrun.core.codec import encode_event
from agentrun.core.errors import FencingError, RecordTooLargeError, StorageError
from agentrun.core.events import Event
from agentrun.store.crashpoints import crash_point
from agentrun.store.fileops import (
    CREATE_FLAGS,
    WRITER_FLAGS,
    FileOps,
    PendingSync,
    pwrite_all,
    write_all,
)
from agentrun.store.framing import (
    MAX_RECORD,
    RECORD_HEADER,
    encode_header,
    encode_record,
    is_zeros,
)
from agentrun.store.log_reader import Position
from agentrun.store.recovery import OpenedTail
from agentrun.store.segments import segment_name

DEFAULT_SEGMENT_BYTES = 4 * 1024 * 1024
PREALLOCATE_BYTES = 1024 * 1024  # the most zeros written ahead at once
MIN_PREALLOCATE_BYTES = 64 * 1024  # the least: a run that appends a few events writes little
# Preallocation errors after which the writer appends without (rule 13): too little room for
# the zeros ahead, which may still hold the record, or a ``FileOps`` that cannot preallocate.
_APPEND_INSTEAD = (
    errno.EOPNOTSUPP,
    errno.ENOSYS,
    errno.EINVAL,
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EFBIG,
)


class LogWriter:
    """The single writer of one task's log; build it with ``LogWriter.open_at``."""

    def __init__(
        self,
        ops: FileOps,
        log_dir: str,
        task_id: str,
        tail: OpenedTail,
        *,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
    ) -> None:
        self._ops = ops
        self._log_dir = log_dir
        self._task_id = task_id
        self._segment_bytes = segment_bytes
        self._path = tail.segment_path
        self._segment_name = os.path.basename(self._path)
        self._first_seq = tail.first_seq
        self._end = tail.end
        self._size = tail.size  # of the segment file: its data, then preallocated zeros
        self._preallocate = True
        self.last_seq = tail.last_seq
        last = tail.last_record
        # (segment name, offset, end, seq, crc) of the last record; a Position only when asked.
        self._last_record: tuple[str, int, int, int, int] | None = (
            (self._segment_name, last.offset, last.end, last.event.seq, last.crc) if last else None
        )
        self._unsynced = False  # appended and not yet in any sync
        # Syncs started and not yet waited for, oldest first, each with the end it covers.
        self._syncing: list[tuple[PendingSync, int]] = []
        self._synced_end = self._end  # where the last sync known good ended
        self._broken: str | None = None
        self.fsync_count = 0
        self._fd = self._open_fd(self._path)

    @property
    def next_seq(self) -> int:
        """The seq the next appended event must carry."""
        return self.last_seq + 1

    @property
    def segment_path(self) -> str:
        """The segment appends go to."""
        return self._path

    @property
    def mark(self) -> list[int]:
        """``[first seq, end of data]`` of the active segment: its size once the writer closes."""
        return [self._first_seq, self._end]

    @property
    def has_unsynced(self) -> bool:
        """Whether appended events are waiting for an fsync (or one that is running)."""
        return self._unsynced or bool(self._syncing)

    @property
    def last_position(self) -> Position | None:
        """Where the last record of the log is (``None`` before the first one)."""
        last = self._last_record
        return Position(*last) if last is not None else None

    def append(self, events: Sequence[Event], *, sync: bool) -> None:
        """Append ``events`` with one write; with ``sync`` make them durable before returning.

        Raises ``FencingError`` if the segment changed under us and ``StorageError`` on any I/O
        failure; after either the writer refuses further appends. ``RecordTooLargeError`` (an
        event over ``MAX_RECORD``) is raised before anything is written; the writer goes on.
        """
        self._check_usable()
        if not events:
            raise ValueError("append needs at least one event")
        frames = []
        seq = self.last_seq
        for event in events:
            seq += 1
            if event.seq != seq:
                raise FencingError(f"event seq {event.seq} does not follow {seq - 1} (rule 10)")
            payload = encode_event(event)
            if len(payload) > MAX_RECORD:
                raise RecordTooLargeError(event.kind, len(payload), MAX_RECORD)
            frames.append(encode_record(payload))
        data = b"".join(frames)
        if self._end + len(data) > self._segment_bytes and self.last_seq >= self._first_seq:
            self._roll(self.last_seq + 1)
        self._fence()
        if self._end + len(data) > self._size and self._preallocate:
            self._allocate(len(data))
        crash_point("before_write")
        try:
            pwrite_all(self._ops, self._fd, data, self._end)
        except OSError as exc:
            self._after_failed_write(exc)
        crash_point("after_write_before_sync")
        self._end += len(data)
        self._size = max(self._size, self._end)
        last_frame = frames[-1]
        crc = int.from_bytes(last_frame[4:8], "little")
        self.last_seq = seq
        self._last_record = (self._segment_name, self._end - len(last_frame), self._end, seq, crc)
        self._unsynced = True
        if sync:
            self.sync()

    def sync(self) -> None:
        """Make everything appended durable: start its fdatasync, wait for it and for every
        sync before it. A failure ends the writer, never retried (rule 8).

        The wait polls before it sleeps, which keeps the loop's caches warm across the flush
        (``store.background_sync``).
        """
        self.begin_sync()
        self._finish_syncs()

    def begin_sync(self) -> None:
        """Start an fdatasync of what was appended and return while it runs.

        For work that does not depend on these events being durable (running a read tool,
        design §4). A sync started before is waited for once this one is queued behind it (so
        the C library's thread goes straight on to it): one sync at most is left running.
        ``sync``, ``wait_for_sync``, ``roll`` and ``close`` wait for it; its failure surfaces
        in whichever comes first and ends the writer (rule 8).
        """
        self._check_usable()
        if self._unsynced:
            try:
                self._syncing.append((self._ops.start_fdatasync(self._fd), self._end))
            except OSError as exc:
                raise self._failed_sync(exc) from None
            self._unsynced = False
        while len(self._syncing) > 1:
            self._finish_oldest()

    def wait_for_sync(self) -> None:
        """Wait for the syncs ``begin_sync`` started; start none."""
        self._check_usable()
        self._finish_syncs()

    def _finish_syncs(self) -> None:
        while self._syncing:
            self._finish_oldest()

    def _finish_oldest(self) -> None:
        # Removed from the queue only once its outcome is known: an exception raised while
        # waiting (a KeyboardInterrupt) leaves it to the next wait, never forgotten.
        pending, end = self._syncing[0]
        try:
            pending.wait()
        except OSError as exc:
            self._syncing.pop(0)
            self._cut_after_failed_sync(end)
            raise self._failed_sync(exc) from None
        self._syncing.pop(0)
        self._synced_end = end
        self.fsync_count += 1
        crash_point("after_sync")

    def _cut_after_failed_sync(self, failed_end: int) -> None:
        """Cut off what was appended after a sync that failed was started.

        Those records may reach the disk (a sync queued behind it, the kernel's writeback)
        while what the failed sync covered does not: valid records after a lost region read
        as corruption (rule 14). Cut back to where the last good sync ended, they are a torn
        tail at worst. Not synced (rule 8 allows no sync after a failed one): the file system
        commits the new size by itself; if it cannot, the next open classifies what is there.
        """
        while self._syncing:  # wait for the rest first: none may run over the cut
            with contextlib.suppress(OSError):
                self._syncing.pop(0)[0].wait()
        if self._end > failed_end:
            with contextlib.suppress(OSError):
                self._ops.truncate(self._fd, self._synced_end)

    def _failed_sync(self, exc: OSError) -> StorageError:
        self._broken = f"fsync failed: {exc}"
        return StorageError(
            f"could not make the log durable ({exc.strerror or exc}); the run stopped. "
            "Fix the disk, then `agentrun resume` re-reads the log from disk"
        )

    def roll(self) -> None:
        """Seal the current segment and continue in a new one (rule 12)."""
        self._check_usable()
        self._roll(self.last_seq + 1)

    def trim(self) -> None:
        """Cut the preallocated zeros off the active segment; later appends preallocate again."""
        self._check_usable()
        self._cut_preallocation()

    def close(self, *, sync: bool = True) -> None:
        """Sync anything pending (unless ``sync`` is false) and close the descriptor.

        ``sync=False`` is for giving up after an I/O error: rule 8 forbids any further sync,
        and what was appended but not synced is re-read from disk by the next run.
        """
        try:
            if sync and self._broken is None and self._fd >= 0:
                self.sync()
                self._cut_preallocation()
        finally:
            if self._syncing:  # never close a descriptor a sync still uses
                with contextlib.suppress(StorageError):  # a failure cuts the log back
                    self._finish_syncs()
            if self._fd >= 0:
                fd, self._fd = self._fd, -1
                try:
                    self._ops.close(fd)
                except OSError as exc:  # e.g. a deferred write error reported at close
                    raise StorageError(f"could not close {self._path}: {exc}") from None

    def _check_usable(self) -> None:
        if self._broken is not None:
            raise StorageError(f"the log writer stopped after an earlier failure: {self._broken}")
        if self._fd < 0:
            raise StorageError("the log writer is closed")

    def _fence(self) -> None:
        # Rule 10: if the file is not as long as we left it, or bytes appeared where the next
        # record goes, someone else wrote to it or truncated it.
        try:
            size = self._ops.fstat_size(self._fd)
            ahead = self._ops.pread(self._fd, RECORD_HEADER, self._end) if size > self._end else b""
        except OSError as exc:
            self._broken = str(exc)
            raise StorageError(f"cannot read {self._path}: {exc}") from None
        if size != self._size or not is_zeros(ahead, 0):
            self._broken = "segment changed under the writer"
            found = f"is {size} bytes" if size != self._size else f"has data at byte {self._end}"
            raise FencingError(
                f"{os.path.basename(self._path)} {found}, expected {self._size} bytes with "
                f"nothing after byte {self._end}: another process wrote to this task's log; "
                "stopped without writing (rule 10)"
            )

    def _allocate(self, needed: int) -> None:
        """Preallocate room for ``needed`` bytes and more, within the segment's size (rule 13)."""
        size = preallocated_size(self._end, needed, self._segment_bytes)
        try:
            self._ops.allocate(self._fd, self._size, size - self._size)
        except OSError as exc:
            if exc.errno not in _APPEND_INSTEAD:
                self._broken = f"preallocation failed: {exc}"
                raise _write_error(self._path, exc) from None
            self._preallocate = False
            try:  # it may have grown part of the way: zeros, which are the end of the log
                self._size = self._ops.fstat_size(self._fd)
            except OSError as stat_exc:
                self._broken = str(stat_exc)
                raise StorageError(f"cannot read {self._path}: {stat_exc}") from None
            return
        self._size = size

    def _cut_preallocation(self) -> None:
        """Cut the file back to its data (before a seal or a clean close).

        Not synced here: should a power loss undo the cut, the zeros are the end of the log
        again; a roll syncs before it seals (rule 13), and a close must not sync after a
        failed sync elsewhere (rule 8).
        """
        if self._size == self._end:
            return
        try:
            self._ops.truncate(self._fd, self._end)
        except OSError as exc:
            self._broken = f"truncate failed: {exc}"
            raise StorageError(f"could not trim {self._path}: {exc}") from None
        self._size = self._end

    def _after_failed_write(self, exc: OSError) -> None:
        # Rule 9: never append after a failed or short write; cut back to the last good end.
        self._broken = f"write failed: {exc}"
        # If this fails too, the next open classifies the tail as torn and repairs it.
        with contextlib.suppress(OSError):
            self._ops.truncate(self._fd, self._end)
            self._ops.fdatasync(self._fd)
        raise _write_error(self._path, exc) from None

    def _roll(self, first_seq: int) -> None:
        """Seal the current segment and start a new one (rule 12)."""
        # A sealed segment ends at its data, durably, before the next one exists (rule 13).
        # Always synced: an earlier writer may have cut this file at its close without a sync.
        self._cut_preallocation()
        self._unsynced = True
        self.sync()
        new_path = os.path.join(self._log_dir, segment_name(first_seq))
        tmp = new_path + ".tmp"
        try:
            fd = self._ops.open(tmp, CREATE_FLAGS)
            crash_point("roll_tmp_created")
            try:
                header = encode_header(self._task_id, first_seq)
                write_all(self._ops, fd, header)
                self._ops.fsync(fd)
            finally:
                self._ops.close(fd)
            crash_point("roll_before_replace")
            self._ops.replace(tmp, new_path)
            crash_point("roll_after_replace")
            self._ops.fsync_dir(self._log_dir)
            old_fd = self._fd
            self._fd = self._open_fd(new_path)
            self._ops.close(old_fd)
        except OSError as exc:
            self._broken = f"segment roll failed: {exc}"
            raise StorageError(f"could not start a new log segment: {exc}") from None
        self._path, self._first_seq, self._end = new_path, first_seq, len(header)
        self._size = self._synced_end = self._end
        self._segment_name = os.path.basename(new_path)

    def _open_fd(self, path: str) -> int:
        try:
            return self._ops.open(path, WRITER_FLAGS)
        except OSError as exc:
            raise StorageError(f"cannot open {path} for appending: {exc}") from None


def preallocated_size(end: int, needed: int, segment_bytes: int) -> int:
    """The size to zero-fill a segment to when ``needed`` bytes do not fit after ``end``.

    As much room again as the segment's data, from ``MIN_PREALLOCATE_BYTES`` up to
    ``PREALLOCATE_BYTES``, within ``segment_bytes``, and always room for the ``needed`` bytes.
    """
    ahead = min(PREALLOCATE_BYTES, max(MIN_PREALLOCATE_BYTES, end))
    return max(end + needed, min(end + ahead, segment_bytes))


def _write_error(path: str, exc: OSError) -> StorageError:
    """The one-line error of a failed write or preallocation; resume continues (rule 9)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageError(
            f"disk full while writing {path}; free space, then `agentrun resume` "
            "continues from the last durable event"
        )
    return StorageError(
        f"could not write {path} ({exc.strerror or exc}); the run stopped, "
        "`agentrun resume` continues from the last durable event"
    )
