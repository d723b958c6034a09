"""Snapshots: the folded state as of an event, a cache that is checked before use (rule 18).

``snapshots/<seq>.snap`` = magic · crc32(payload) · msgpack payload, written atomically (rule 4).
The payload names the position of event ``seq`` in the log and its CRC; a snapshot whose event
is not in the log with that CRC, or that fails its own checks, is ignored and reported. Deleting
every snapshot changes no answer (design §2).
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from typing import Any

from agentrun.core.codec import decode_cache, encode_value
from agentrun.core.errors import CorruptRecordError
from agentrun.core.state import STATE_FORMAT, State
from agentrun.store.atomic import write_atomic
from agentrun.store.fileops import FileOps
from agentrun.store.framing import MAX_RECORD, RECORD_HEADER
from agentrun.store.log_reader import Position

MAGIC = b"AGRNSNP\n"
SUFFIX = ".snap"
_CRC = struct.Struct("<I")
_RECORD = struct.Struct("<II")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A decoded snapshot: the state as of ``position.seq`` and where that event lies in the log."""

    position: Position
    state: State
    path: str


def snapshot_path(snap_dir: str, seq: int) -> str:
    """Where the snapshot as of ``seq`` lives."""
    return os.path.join(snap_dir, f"{seq:020d}{SUFFIX}")


def write_snapshot(ops: FileOps, snap_dir: str, state: State, position: Position) -> str:
    """Write the snapshot of ``state`` (folded through ``position.seq``) atomically."""
    payload = encode_value(
        {
            "format": STATE_FORMAT,
            "task_id": state.task_id,
            "seq": position.seq,
            "segment": position.segment,
            "offset": position.offset,
            "end": position.end,
            "crc": position.crc,
            "state": state.to_dict(),
        }
    )
    path = snapshot_path(snap_dir, position.seq)
    data = MAGIC + _CRC.pack(zlib.crc32(payload)) + payload
    write_atomic(ops, path, data, crash_prefix="snapshot")
    return path


def list_snapshots(ops: FileOps, snap_dir: str) -> list[str]:
    """Snapshot paths, newest first; temp files and other debris are skipped."""
    try:
        names = ops.listdir(snap_dir)
    except FileNotFoundError:
        return []
    snaps = [n for n in names if n.endswith(SUFFIX) and n[: -len(SUFFIX)].isdigit()]
    return [os.path.join(snap_dir, n) for n in sorted(snaps, reverse=True)]


def read_snapshot(ops: FileOps, path: str, log_dir: str, task_id: str) -> Snapshot:
    """Decode a snapshot and check it against the log; raises ``CorruptRecordError`` saying why."""
    name = os.path.basename(path)
    data = ops.read_file(path)
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
        raise CorruptRecordError("not a snapshot file", segment=name)
    (crc,) = _CRC.unpack_from(data, len(MAGIC))
    payload = data[len(MAGIC) + 4 :]
    if zlib.crc32(payload) != crc:
        raise CorruptRecordError("snapshot fails its CRC", segment=name)
    body = decode_cache(payload)
    _check_body(body, name, task_id)
    if name != os.path.basename(snapshot_path("", body["seq"])):
        # A valid snapshot of another seq under this name: listing order would lie (rule 18).
        raise CorruptRecordError(f"snapshot holds seq {body['seq']}, not its name's", segment=name)
    position = Position(body["segment"], body["offset"], body["end"], body["seq"], body["crc"])
    _check_against_log(ops, log_dir, position, name)
    # Freshly decoded: the state can own it; a deep copy would cost more than the decode.
    return Snapshot(position, State.from_dict(body["state"], copy_values=False), path)


def _check_body(body: Any, name: str, task_id: str) -> None:
    fields = {"format": int, "task_id": str, "seq": int, "segment": str, "offset": int}
    fields |= {"end": int, "crc": int, "state": dict}
    if not isinstance(body, dict) or any(type(body.get(k)) is not t for k, t in fields.items()):
        raise CorruptRecordError("snapshot is missing fields", segment=name)
    if body["format"] != STATE_FORMAT:
        raise CorruptRecordError(
            f"snapshot format {body['format']} is not {STATE_FORMAT}", segment=name
        )
    if body["task_id"] != task_id or body["state"].get("task_id") != task_id:
        raise CorruptRecordError("snapshot belongs to another task", segment=name)
    if body["state"].get("last_seq") != body["seq"]:
        raise CorruptRecordError("snapshot state does not match its seq", segment=name)
    if os.sep in body["segment"] or body["segment"].startswith("."):
        raise CorruptRecordError("snapshot names an invalid segment", segment=name)


def _check_against_log(ops: FileOps, log_dir: str, position: Position, name: str) -> None:
    # Rule 18: the event the snapshot was taken at must be in the log with the same CRC.
    seg_path = os.path.join(log_dir, position.segment)
    try:
        head = ops.read_range(seg_path, position.offset, RECORD_HEADER)
    except OSError:
        raise CorruptRecordError(
            "snapshot names a segment that does not exist", segment=name
        ) from None
    if len(head) < RECORD_HEADER:
        raise CorruptRecordError("snapshot is ahead of the log", segment=name)
    length, crc = _RECORD.unpack(head)
    if crc != position.crc or length > MAX_RECORD:
        raise CorruptRecordError("snapshot does not match the log", segment=name)
    if position.offset + RECORD_HEADER + length != position.end:
        raise CorruptRecordError("snapshot does not match the log", segment=name)
    body = ops.read_range(seg_path, position.offset + RECORD_HEADER, length)
    if len(body) != length or zlib.crc32(body, zlib.crc32(head[:4])) != crc:
        raise CorruptRecordError("snapshot is ahead of the log", segment=name)
