"""Reading a task's log without ever writing (rule 17).

Readers read each segment up to the size seen when they open it. An invalid record at the tail of
the last segment with nothing valid after it is a torn write or a writer mid-append: the read
ends there silently. Anything else invalid is corruption (rule 14) and raises ``CorruptLogError``.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, TypeVar

from agentrun.core.codec import decode_records
from agentrun.core.errors import CorruptLogError, CorruptRecordError
from agentrun.core.events import to_record
from agentrun.store.fileops import FileOps
from agentrun.store.framing import (
    MAX_RECORD,
    RECORD_HEADER,
    Record,
    SegmentHeader,
    SegmentScan,
    decode_header,
    scan_segment,
)
from agentrun.store.segments import list_segments

_T = TypeVar("_T")
# What a segment scan gives: the segment's valid items, in one list or several, in order; and
# when it is done, the scan that stopped at a bad record (``None`` when every record to the end
# was valid).
_SegmentItems = Generator[list[_T], None, SegmentScan | None]
# Maps are decoded and handed on this many at a time: a command that prints them encodes each
# list while its maps are still in the CPU's caches (``log --json`` took a tenth longer with a
# whole segment's ten thousand maps at once), and holds a few hundred maps, not a segment's.
MAPS_PER_BATCH = 256


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
    for name, records in _read_segments(ops, log_dir, _scan_records, start, from_seq):
        yield from ((name, record) for record in records)


def iter_record_batches(
    ops: FileOps, log_dir: str, *, from_seq: int = 1
) -> Iterator[list[dict[str, Any]]]:
    """The valid records as event maps (``to_record``'s), in lists of a segment's records.

    Each list holds records of one segment, at most ``MAPS_PER_BATCH`` of them (more only
    where the fast loop hands over to framing's scan), in order. The same records, checks and
    errors as ``iter_records`` (a reader of the same bytes sees the same log), without building
    an event per record: for printing them as they are. ``from_seq`` skips whole segments as
    there; the caller filters the lists that start before it.
    """
    for _name, maps in _read_segments(ops, log_dir, _scan_maps, None, from_seq):
        yield maps


def _read_segments(
    ops: FileOps,
    log_dir: str,
    scan: Callable[[bytes, int, int, bool], _SegmentItems[_T]],
    start: Position | None,
    from_seq: int,
) -> Iterator[tuple[str, list[_T]]]:
    """Each segment's items as ``scan`` reads them; then raise for corruption (rules 12, 14)."""
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
            raise CorruptLogError(f"{exc}; run `agentrun verify`") from None
        if header is None:
            if is_last:
                return  # a roll that crashed before its header was complete: torn
            raise CorruptLogError(f"{name} has an incomplete header")
        offset, seq = header.size, header.first_seq
        if start is not None and name == start.segment:
            offset, seq = start.end, start.seq + 1
        if expected_seq is not None and seq != expected_seq:
            raise CorruptLogError(
                f"{name} starts at seq {seq}, expected {expected_seq} "
                "(a segment is missing); run `agentrun verify`"
            )
        lists, count = scan(data, offset, seq, is_last), 0
        while True:
            try:
                items = next(lists)
            except StopIteration as done:
                stopped = done.value
                break
            count += len(items)
            yield name, items
        if stopped is not None and stopped.bad is not None and (not is_last or stopped.is_corrupt):
            raise CorruptLogError(
                f"{name} at byte {stopped.bad.offset}: {stopped.bad.reason}; "
                "run `agentrun verify` for details"
            )
        expected_seq = seq + count


def _scan_records(data: bytes, offset: int, seq: int, is_last: bool) -> _SegmentItems[Record]:
    scan = scan_segment(data, offset, seq, look_past_bad=is_last, zero_tail_is_end=is_last)
    yield scan.records
    return scan


_FRAME = struct.Struct("<II")  # a record header: length, crc32(length ‖ payload)
_SEQ = itemgetter("seq")


def _scan_maps(data: bytes, offset: int, seq: int, is_last: bool) -> _SegmentItems[dict[str, Any]]:
    """The segment's records as event maps, accepted by exactly ``read_record``'s checks.

    Handed on in lists of ``MAPS_PER_BATCH`` as they are decoded (the last one may be longer,
    see below): each list is the next run of valid frames, decoded together
    (``decode_records``) and kept up to the first record out of sequence.

    At the first record this loop does not take (a bad frame, a payload ``decode_record``
    refuses, a seq out of order), ``scan_segment`` reads on from there, so framing alone
    decides what is wrong and whether it is a torn tail (rule 14).
    """
    while True:
        payloads = _frame_payloads(data, offset, MAPS_PER_BATCH)
        maps = decode_records(payloads)
        taken = _in_sequence(maps, seq)
        if taken < len(payloads):
            del maps[taken:]
            payloads = payloads[:taken]
        offset += RECORD_HEADER * taken + sum(map(len, payloads))
        seq += taken
        if taken < MAPS_PER_BATCH:
            break
        yield maps
    if offset == len(data):
        if maps:
            yield maps
        return None
    scan = scan_segment(data, offset, seq, look_past_bad=is_last, zero_tail_is_end=is_last)
    maps += [to_record(record.event) for record in scan.records]
    if maps:
        yield maps
    return scan


def _frame_payloads(data: bytes, offset: int, limit: int) -> list[bytes]:
    """The payloads of the frames from ``offset`` on, up to ``limit`` of them.

    They end before the first frame whose length or CRC is wrong, or at the end of ``data``.
    """
    payloads: list[bytes] = []
    end, unpack_frame, crc32 = len(data), _FRAME.unpack_from, zlib.crc32
    for _ in range(limit):
        if end - offset < RECORD_HEADER:
            break
        length, crc = unpack_frame(data, offset)
        start = offset + RECORD_HEADER
        stop = start + length
        if length == 0 or length > MAX_RECORD or stop > end:
            break
        payload = data[start:stop]
        if crc32(payload, crc32(data[offset : offset + 4])) != crc:
            break
        payloads.append(payload)
        offset = stop
    return payloads


def _in_sequence(maps: list[dict[str, Any]], seq: int) -> int:
    """How many of ``maps``, from the first, have the seqs ``seq``, ``seq + 1``, and so on."""
    seqs = list(map(_SEQ, maps))
    if seqs == list(range(seq, seq + len(seqs))):
        return len(seqs)
    return next(index for index, found in enumerate(seqs) if found != seq + index)
