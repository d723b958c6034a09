"""Byte layout of log segments: the header and ``length · crc32(length‖payload) · payload`` records.

Format v1 (reliability.md, "Format decisions"): the CRC covers the length field too, so a flipped
length bit is caught by the CRC as well as by the forward scan (rule 14). Lengths are checked
against ``MAX_RECORD`` and the bytes remaining *before* a payload is touched (rule 11).
Pure functions over ``bytes``; no I/O here.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from agentrun.core.codec import decode_event
from agentrun.core.errors import CorruptRecordError, UnsupportedVersionError
from agentrun.core.events import Event

MAGIC = b"AGRNSEG\n"
FORMAT_VERSION = 1
MAX_RECORD = 16 * 1024 * 1024  # rule 11
RECORD_HEADER = 8  # u32 length + u32 crc
_U32 = struct.Struct("<I")
_RECORD = struct.Struct("<II")
_HEADER_FIXED = struct.Struct("<8sHQB")  # magic, version, first seq, id length


@dataclass(frozen=True, slots=True)
class SegmentHeader:
    """What a segment says about itself: format version, task id and the seq of its first record."""

    version: int
    task_id: str
    first_seq: int
    size: int


def encode_header(task_id: str, first_seq: int) -> bytes:
    """The header of a new segment (rule 12: magic, format version, task id, first seq)."""
    tid = task_id.encode()
    body = _HEADER_FIXED.pack(MAGIC, FORMAT_VERSION, first_seq, len(tid)) + tid
    return body + _U32.pack(zlib.crc32(body))


def decode_header(data: bytes) -> SegmentHeader | None:
    """Parse a segment header; ``None`` if ``data`` holds only part of one (a torn roll).

    Raises ``CorruptRecordError`` for a complete but wrong header and ``UnsupportedVersionError``
    for a header written by a newer format.
    """
    if len(data) < _HEADER_FIXED.size:
        if MAGIC.startswith(data[: len(MAGIC)]):
            return None
        raise CorruptRecordError("segment header has a wrong magic number", offset=0)
    magic, version, first_seq, id_len = _HEADER_FIXED.unpack_from(data)
    if magic != MAGIC:
        raise CorruptRecordError("segment header has a wrong magic number", offset=0)
    size = _HEADER_FIXED.size + id_len + 4
    if len(data) < size:
        return None
    (crc,) = _U32.unpack_from(data, size - 4)
    if crc != zlib.crc32(data[: size - 4]):
        raise CorruptRecordError("segment header fails its CRC", offset=0)
    if version > FORMAT_VERSION:
        raise UnsupportedVersionError(
            f"log format version {version} is newer than this agentrun reads; upgrade agentrun"
        )
    task_id = data[_HEADER_FIXED.size : size - 4].decode("utf-8", "replace")
    return SegmentHeader(version, task_id, first_seq, size)


def encode_record(payload: bytes) -> bytes:
    """One framed record; a single ``bytes`` so it goes to disk with one write (rule 6)."""
    length = _U32.pack(len(payload))
    return length + _U32.pack(zlib.crc32(payload, zlib.crc32(length))) + payload


@dataclass(frozen=True, slots=True)
class Record:
    """A valid record: its event, where it starts and ends, and its CRC."""

    event: Event
    offset: int
    end: int
    crc: int


@dataclass(frozen=True, slots=True)
class BadRecord:
    """The first invalid record of a scan: where, and why (length, crc, decode, schema, seq)."""

    offset: int
    reason: str


def read_record(data: bytes, offset: int, expected_seq: int | None) -> Record:
    """Validate and decode the record at ``offset`` (rule 14's checks, in order).

    Raises ``CorruptRecordError`` whose ``reason`` starts with the failed check's name.
    """
    remaining = len(data) - offset
    if remaining < RECORD_HEADER:
        raise CorruptRecordError(f"length: incomplete record header ({remaining} bytes)")
    length, crc = _RECORD.unpack_from(data, offset)
    if length == 0 or length > MAX_RECORD or length > remaining - RECORD_HEADER:
        raise CorruptRecordError(
            f"length: record claims {length} bytes, {remaining - RECORD_HEADER} remain"
        )
    start = offset + RECORD_HEADER
    payload = data[start : start + length]
    if zlib.crc32(payload, zlib.crc32(data[offset : offset + 4])) != crc:
        raise CorruptRecordError("crc: checksum mismatch")
    try:
        event = decode_event(payload)
    except CorruptRecordError as exc:
        raise CorruptRecordError(f"decode: {exc.reason}") from None
    if expected_seq is not None and event.seq != expected_seq:
        raise CorruptRecordError(f"seq: expected {expected_seq}, found {event.seq}")
    return Record(event, offset, start + length, crc)


@dataclass(frozen=True, slots=True)
class SegmentScan:
    """Result of scanning one segment's bytes from a start offset."""

    records: list[Record]
    end: int  # offset just past the last valid record
    bad: BadRecord | None
    valid_after_bad: int | None  # offset of a valid later record, if any (rule 14)

    @property
    def is_corrupt(self) -> bool:
        """Whether the bad record is corruption even at the end of the last segment (rule 14).

        Either a valid record follows it, or it is itself complete, CRC-valid and well-formed
        but out of sequence: a replayed or stale record, which no torn write can produce (T2).
        """
        if self.bad is None:
            return False
        return self.valid_after_bad is not None or self.bad.reason.startswith("seq:")


def scan_segment(
    data: bytes,
    start: int,
    first_seq: int,
    *,
    look_past_bad: bool = True,
    zero_tail_is_end: bool = False,
) -> SegmentScan:
    """Read valid records from ``start`` until the end or the first invalid one.

    With ``look_past_bad`` the scan then tries *every* byte offset after the bad record for a
    valid record with a higher seq (rule 14: the length is not trusted to find the next one).
    With ``zero_tail_is_end`` (the last segment, which the writer preallocates) nothing but
    zeros from a record's start to the end of the data is the end of the log, not a bad record
    (rule 13): the writer's unused space, or a crash's "size before content".
    """
    records: list[Record] = []
    offset, seq = start, first_seq
    while offset < len(data):
        try:
            record = read_record(data, offset, seq)
        except CorruptRecordError as exc:
            if zero_tail_is_end and is_zeros(data, offset):
                break
            bad = BadRecord(offset, exc.reason)
            later = find_valid_after(data, offset + 1, seq - 1) if look_past_bad else None
            return SegmentScan(records, offset, bad, later)
        records.append(record)
        offset, seq = record.end, seq + 1
    return SegmentScan(records, offset, None, None)


def find_valid_after(data: bytes, start: int, last_good_seq: int) -> int | None:
    """Offset of the first valid record from ``start`` on with a seq above ``last_good_seq``."""
    end = len(data) - RECORD_HEADER
    # A record starts with a non-zero length: none starts past the last non-zero byte, so a
    # preallocated zero tail costs no per-offset tries.
    last_start = len(data.rstrip(b"\0")) - 1
    for offset in range(start, min(end, last_start + 1)):
        length, crc = _RECORD.unpack_from(data, offset)
        if length == 0 or length > MAX_RECORD or length > end - offset:
            continue
        payload_start = offset + RECORD_HEADER
        payload = data[payload_start : payload_start + length]
        if zlib.crc32(payload, zlib.crc32(data[offset : offset + 4])) != crc:
            continue
        try:
            event = decode_event(payload)
        except CorruptRecordError:
            continue
        if event.seq > last_good_seq:
            return offset
    return None


def is_zeros(data: bytes, start: int) -> bool:
    """Whether every byte of ``data`` from ``start`` on is zero (a preallocated tail, rule 13)."""
    return data.count(0, start) == len(data) - start
