"""Reading a task's log without ever writing (rule 17).

Readers read each segment up to the size seen when they open it. An invalid record at the tail of
the last segment with nothing valid after it is a torn write or a writer mid-append: the read
ends there silently. Anything else invalid is corruption (rule 14) and raises ``CorruptLogError``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

from agentrun.core.errors import CorruptLogError, CorruptRecordError
from agentrun.store.fileops import FileOps
from agentrun.store.framing import Record, SegmentHeader, decode_header, scan_segment
from agentrun.store.segments import list_segments


@dataclass(frozen=True, slots=True)
class Position:
    """Where a record is: segment file name, record offset, offset past it, seq and CRC."""

    segment: str
    offset: int
    end: int
    seq: int
    crc: int


def read_header(ops: FileOps, path: str, data: bytes) -> SegmentHeader | None:
    """The segment header, with the segment's name added to any corruption it reports."""
    try:
        return decode_header(data)
    except CorruptRecordError as exc:
        raise CorruptRecordError(exc.reason, segment=os.path.basename(path), offset=0) from None


def iter_records(
    ops: FileOps, log_dir: str, *, start: Position | None = None, from_seq: int = 1
) -> Iterator[tuple[str, Record]]:
    """Yield ``(segment name, record)`` for every valid record, after ``start`` if given.

    ``from_seq`` skips whole segments that end before it (records before it in the first
    segment read are still yielded; the caller filters).

    Raises ``CorruptLogError`` naming segment, offset and reason for a bad record that is not a
    torn tail (rule 14), and for a gap between segments (rule 12).
    """
    segments = list_segments(ops, log_dir)
    expected_seq: int | None = None
    for index, (_first_seq, path) in enumerate(segments):
        name = os.path.basename(path)
        is_last = index == len(segments) - 1
        if start is not None and name < start.segment:
            continue  # names sort by seq: wholly before the starting point
        if index + 1 < len(segments) and segments[index + 1][0] <= from_seq:
            continue  # the next segment starts at or before from_seq: this one ends before it
        data = ops.read_file(path)
        try:
            header = read_header(ops, path, data)
        except CorruptRecordError as exc:
            raise CorruptLogError(f"corrupt log: {exc}; run `agentrun verify`") from None
        if header is None:
            if is_last:
                return  # a roll that crashed before its header was complete: torn
            raise CorruptLogError(f"corrupt log: {name} has an incomplete header")
        offset, seq = header.size, header.first_seq
        if start is not None and name == start.segment:
            offset, seq = start.end, start.seq + 1
        if expected_seq is not None and seq != expected_seq:
            raise CorruptLogError(
                f"corrupt log: {name} starts at seq {seq}, expected {expected_seq} "
                "(a segment is missing); run `agentrun verify`"
            )
        scan = scan_segment(data, offset, seq, look_past_bad=is_last)
        yield from ((name, record) for record in scan.records)
        if scan.bad is not None and (not is_last or scan.is_corrupt):
            raise CorruptLogError(
                f"corrupt log: {name} at byte {scan.bad.offset}: {scan.bad.reason}; "
                "run `agentrun verify` for details"
            )
        expected_seq = seq + len(scan.records)
