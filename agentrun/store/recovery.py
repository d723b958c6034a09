"""Opening a log for writing: tell a torn tail from corruption, repair the tail (rules 14-16, 19).

Runs only under the claim. The last segment is scanned record by record. Nothing but zeros after
the last valid record is the end of the log, kept as it is: the writer's preallocated space, which
it writes over (rule 13). An invalid record with no valid record after it is a torn write: its
bytes, to the end of the file, are saved to ``<seg>.torn-<offset>`` and the segment is truncated
(rule 15). An invalid record followed by a valid one is corruption: nothing
is touched and ``CorruptLogError`` names segment, offset and reason (rule 16). Sealed segments were
fsynced before the roll (rule 12); ``verify`` checks them, opening does not re-read them.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any

from agentrun.core.errors import CorruptLogError
from agentrun.store.atomic import is_leftover
from agentrun.store.crashpoints import crash_point
from agentrun.store.fileops import APPEND_FLAGS, CREATE_FLAGS, FileOps, write_all
from agentrun.store.framing import Record, scan_segment
from agentrun.store.log_reader import read_header
from agentrun.store.segments import list_segments


@dataclass(slots=True)
class OpenedTail:
    """The state of the log's end after recovery: where the writer appends next."""

    segment_path: str
    first_seq: int
    end: int  # past the last valid record: where the next one goes
    size: int  # of the segment file: ``end`` plus any zeros preallocated after it
    last_seq: int
    last_record: Record | None
    records: list[Record]
    repairs: list[dict[str, Any]] = field(default_factory=list)


def remove_leftovers(ops: FileOps, directory: str) -> list[str]:
    """Delete temp files of interrupted writes in ``directory`` (rule 19); return their names."""
    removed = [name for name in ops.listdir(directory) if is_leftover(name)]
    for name in removed:
        ops.unlink(os.path.join(directory, name))
    if removed:
        ops.fsync_dir(directory)
    return removed


def open_tail(ops: FileOps, log_dir: str) -> OpenedTail:
    """Scan the last segment, repair a torn tail, and report where appending continues."""
    repairs: list[dict[str, Any]] = []
    segments = list_segments(ops, log_dir)
    if not segments:
        raise CorruptLogError(f"{log_dir} holds no segment; run `agentrun verify`")
    while True:
        _first_seq, path = segments[-1]
        data = ops.read_file(path)
        header = read_header(ops, path, data)
        if header is not None or len(segments) == 1:
            break
        # A roll that crashed before its header was durable: drop the empty segment (rule 12).
        repairs.append(_save_and_drop(ops, path, data, 0, remove=True))
        segments.pop()
    if header is None:
        raise CorruptLogError(f"{path} has an incomplete header; run `agentrun verify`")
    scan = scan_segment(data, header.size, header.first_seq, zero_tail_is_end=True)
    size = len(data)
    if scan.bad is not None:
        name = os.path.basename(path)
        if scan.is_corrupt:
            follow = (
                f", and valid records follow at byte {scan.valid_after_bad}"
                if scan.valid_after_bad is not None
                else ""
            )
            raise CorruptLogError(
                f"{name} at byte {scan.bad.offset}: {scan.bad.reason}{follow}; "
                "run `agentrun verify`"
            )
        repairs.append(_save_and_drop(ops, path, data, scan.end, remove=False))
        size = scan.end
    else:
        repairs += _unrecorded_repairs(ops, path, scan.end)
    last = scan.records[-1] if scan.records else None
    last_seq = last.event.seq if last else header.first_seq - 1
    return OpenedTail(path, header.first_seq, scan.end, size, last_seq, last, scan.records, repairs)


def _unrecorded_repairs(ops: FileOps, path: str, end: int) -> list[dict[str, Any]]:
    """Repairs an earlier open finished cutting but died before recording (rule 15.3).

    Its ``.torn-<end>`` file is there and nothing was appended after the cut (the event that
    records a repair is appended at that very offset), so no event names it yet: make the cut
    durable, since that run may have died before its fdatasync, and record it now.
    """
    log_dir, name = os.path.split(path)
    prefix = f"{name}.torn-{end}"
    found = sorted(n for n in ops.listdir(log_dir) if n == prefix or n.startswith(f"{prefix}-"))
    if not found:
        return []
    fd = ops.open(path, APPEND_FLAGS)
    try:
        ops.fdatasync(fd)
    finally:
        ops.close(fd)
    repairs = []
    for saved_as in found:
        dropped = ops.read_file(os.path.join(log_dir, saved_as))
        repairs.append(
            {
                "repair": "torn_tail",
                "segment": name,
                "offset": end,
                "bytes": len(dropped),
                "sha256": hashlib.sha256(dropped).hexdigest(),
                "saved_as": saved_as,
                "finished": "now; the run that cut the tail stopped before recording it",
            }
        )
    return repairs


def _save_and_drop(
    ops: FileOps, path: str, data: bytes, offset: int, *, remove: bool
) -> dict[str, Any]:
    """Keep the dropped bytes beside the segment, then cut them off (rule 15)."""
    dropped = data[offset:]
    log_dir = os.path.dirname(path)
    base = f"{path}.torn-{offset}"
    torn_path, attempt = base, 1
    while os.path.lexists(torn_path):  # an earlier repair here was interrupted: keep both
        suffix = f"-{attempt}" if attempt > 1 else ""
        torn_path = f"{base}-{hashlib.sha256(dropped).hexdigest()[:8]}{suffix}"
        attempt += 1
    fd = ops.open(torn_path, CREATE_FLAGS)
    try:
        write_all(ops, fd, dropped)
        ops.fsync(fd)
    finally:
        ops.close(fd)
    ops.fsync_dir(log_dir)
    crash_point("repair_before_truncate")
    if remove:
        ops.unlink(path)
        ops.fsync_dir(log_dir)
    else:
        fd = ops.open(path, APPEND_FLAGS)
        try:
            ops.truncate(fd, offset)
            crash_point("repair_after_truncate_before_sync")
            ops.fdatasync(fd)
        finally:
            ops.close(fd)
    return {
        "repair": "torn_tail",
        "segment": os.path.basename(path),
        "offset": offset,
        "bytes": len(dropped),
        "sha256": hashlib.sha256(dropped).hexdigest(),
        "saved_as": os.path.basename(torn_path),
    }
