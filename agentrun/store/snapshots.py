"""Snapshots: the folded state as of an event, a cache that is checked before use (rule 18).

``snapshots/<seq>.snap`` = magic · crc32(payload) · msgpack payload, written atomically (rule 4).
The payload names the position of event ``seq`` in the log and its CRC; a snapshot whose event
is not in the log with that CRC, or that fails its own checks, is ignored and reported. Deleting
every snapshot changes no answer (design §2).

The conversation is not copied into every snapshot: its pages (``core.pages.page_bounds``: up to
``PAGE_ITEMS`` messages, and a shorter one for a tail of ``MIN_PAGE_ITEMS`` or more) are stored
once each as ``snapshots/<sha256>.page`` (msgpack list, written atomically before the snapshot
that names them, rules 4-5) and the snapshot lists their digests, so a snapshot stays small
however long the task, each message is written to a page once, and loading one decodes only the
pages that are read. A page is checked against its digest when it is read.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agentrun.core.codec import decode_cache, encode_cache
from agentrun.core.errors import CorruptRecordError
from agentrun.core.pages import Page, PagedList, PageRef, page_bounds
from agentrun.core.state import State
from agentrun.store.atomic import write_atomic
from agentrun.store.fileops import FileOps
from agentrun.store.framing import MAX_RECORD, RECORD_HEADER
from agentrun.store.log_reader import Position

MAGIC = b"AGRNSNP\n"
SUFFIX = ".snap"
PAGE_SUFFIX = ".page"
# 2: the conversation's pages live in page files (format 1 held it whole; such a snapshot
# is ignored and the state is folded from the log, rule 18). A format-2 snapshot written
# before the fold rounded active_seconds and cost_usd is read with them rounded (core.state).
SNAPSHOT_FORMAT = 2
_CRC = struct.Struct("<I")
_RECORD = struct.Struct("<II")


class OutdatedSnapshotError(CorruptRecordError):
    """A snapshot written by an older agentrun in an older format: ignored, but not damage."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A decoded snapshot: the state as of ``position.seq`` and where that event lies in the log."""

    position: Position
    state: State
    path: str


def snapshot_path(snap_dir: str, seq: int) -> str:
    """Where the snapshot as of ``seq`` lives."""
    return os.path.join(snap_dir, f"{seq:020d}{SUFFIX}")


def write_snapshot(ops: FileOps, snap_dir: str, state: State, position: Position) -> PagedList:
    """Write the snapshot of ``state`` (folded through ``position.seq``) atomically.

    Returns the conversation as the snapshot pages it (the same items, loaded), so the writer
    can keep it and the next snapshot writes only the pages that are new.
    """
    messages = write_pages(ops, snap_dir, state.messages)
    payload = encode_cache(
        {
            "format": SNAPSHOT_FORMAT,
            "task_id": state.task_id,
            "seq": position.seq,
            "segment": position.segment,
            "offset": position.offset,
            "end": position.end,
            "crc": position.crc,
            "pages": [[p.ref.digest, p.ref.count, p.ref.size] for p in messages.pages],
            "state": {**state.to_dict(), "messages": messages.tail},
        }
    )
    path = snapshot_path(snap_dir, position.seq)
    data = MAGIC + _CRC.pack(zlib.crc32(payload)) + payload
    write_atomic(ops, path, data, crash_prefix="snapshot")
    return messages


def write_pages(ops: FileOps, snap_dir: str, messages: Any) -> PagedList:
    """Store every page (``page_bounds``) of ``messages`` not stored yet, durably (rule 4)."""
    if isinstance(messages, PagedList):
        pages, tail, first = list(messages.pages), messages.tail, 0
    else:
        pages, tail, first = [], list(messages), 0
    for start, stop in page_bounds(len(tail)):
        items = tail[start:stop]
        data = encode_cache(items)
        ref = PageRef(hashlib.sha256(data).hexdigest(), len(items), len(data))
        path = page_path(snap_dir, ref.digest)
        if not _holds(ops, path, data):  # stored once; a damaged copy is replaced
            write_atomic(ops, path, data)
        pages.append(Page(ref, items=items))
        first = stop
    return PagedList(pages, tail[first:])


def _holds(ops: FileOps, path: str, data: bytes) -> bool:
    try:
        return ops.read_file(path) == data
    except FileNotFoundError:
        return False


def page_path(snap_dir: str, digest: str) -> str:
    """Where the page with this sha256 lives."""
    return os.path.join(snap_dir, f"{digest}{PAGE_SUFFIX}")


def read_page(ops: FileOps, snap_dir: str, ref: PageRef) -> list[Any]:
    """The items of a page, checked against its digest; raises ``CorruptRecordError`` if not."""
    name = os.path.basename(page_path(snap_dir, ref.digest))
    try:
        data = ops.read_file(page_path(snap_dir, ref.digest))
    except FileNotFoundError:
        raise CorruptRecordError("snapshot page is missing", segment=name) from None
    if hashlib.sha256(data).hexdigest() != ref.digest:
        raise CorruptRecordError("snapshot page does not match its digest", segment=name)
    items = decode_cache(data)
    if not isinstance(items, list) or len(items) != ref.count:
        raise CorruptRecordError("snapshot page holds the wrong items", segment=name)
    return items


def list_pages(ops: FileOps, snap_dir: str) -> list[str]:
    """Every page file's path (for cleaning up after the snapshots that name them are gone)."""
    try:
        names = ops.listdir(snap_dir)
    except FileNotFoundError:
        return []
    return [os.path.join(snap_dir, n) for n in sorted(names) if n.endswith(PAGE_SUFFIX)]


def remove_unnamed_pages(ops: FileOps, snap_dir: str, named: set[str]) -> None:
    """Remove the page files no kept snapshot names; call it after a snapshot is committed.

    ``named`` holds the digests of the newest snapshot's pages. Where pages are cut depends on
    how the writer's conversation was paged before: a writer that folded it from the log (the
    snapshots deleted, damaged or of an older format) cuts them elsewhere, and the pages of
    before would stay forever. The other kept snapshots are read only if a page file is not in
    ``named``; a damaged one names nothing, as readers ignore it. A reader holding an older
    snapshot whose page goes reads those messages from the log (``LocalTaskStore``).
    """
    stray = [p for p in list_pages(ops, snap_dir) if _page_digest(p) not in named]
    if not stray:
        return
    kept = set(named)
    for path in list_snapshots(ops, snap_dir)[1:]:
        kept |= _named_pages(ops, path)
    for path in stray:
        if _page_digest(path) not in kept:
            ops.unlink(path)


def _page_digest(path: str) -> str:
    return os.path.basename(path)[: -len(PAGE_SUFFIX)]


def _named_pages(ops: FileOps, path: str) -> set[str]:
    """The digests of the pages a snapshot file names; none if it cannot be read."""
    try:
        pages = _decode_file(ops, path).get("pages")
        return {item[0] for item in pages if isinstance(item, list) and item}
    except (OSError, CorruptRecordError, AttributeError, TypeError):
        return set()


def _decode_file(ops: FileOps, path: str) -> Any:
    """A snapshot file's payload, decoded once its magic and CRC check out.

    Raises ``CorruptRecordError`` (naming the file) if they do not; the payload's fields are
    the caller's to check.
    """
    name = os.path.basename(path)
    data = ops.read_file(path)
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
        raise CorruptRecordError("not a snapshot file", segment=name)
    (crc,) = _CRC.unpack_from(data, len(MAGIC))
    payload = data[len(MAGIC) + 4 :]
    if zlib.crc32(payload) != crc:
        raise CorruptRecordError("snapshot fails its CRC", segment=name)
    return decode_cache(payload)


def list_snapshots(ops: FileOps, snap_dir: str) -> list[str]:
    """Snapshot paths, newest first; temp files and other debris are skipped."""
    try:
        names = ops.listdir(snap_dir)
    except FileNotFoundError:
        return []
    snaps = [n for n in names if n.endswith(SUFFIX) and n[: -len(SUFFIX)].isdigit()]
    return [os.path.join(snap_dir, n) for n in sorted(snaps, reverse=True)]


PageLoader = Callable[[int, PageRef], list[Any]]


def read_snapshot(
    ops: FileOps,
    path: str,
    log_dir: str,
    task_id: str,
    *,
    load_page: PageLoader | None = None,
) -> Snapshot:
    """Decode a snapshot and check it against the log; raises ``CorruptRecordError`` saying why.

    The conversation's pages are checked to exist with their recorded size now and read when
    first used: by ``load_page(index of the page's first item, ref)`` if given (a store may
    fall back to the log there), else by ``read_page``, which raises ``CorruptRecordError``.
    """
    name = os.path.basename(path)
    body = _decode_file(ops, path)
    _check_body(body, name, task_id)
    if name != os.path.basename(snapshot_path("", body["seq"])):
        # A valid snapshot of another seq under this name: listing order would lie (rule 18).
        raise CorruptRecordError(f"snapshot holds seq {body['seq']}, not its name's", segment=name)
    position = Position(body["segment"], body["offset"], body["end"], body["seq"], body["crc"])
    _check_against_log(ops, log_dir, position, name)
    snap_dir = os.path.dirname(path)
    refs = _page_refs(ops, snap_dir, body["pages"], name)

    def loader(start: int, ref: PageRef) -> Callable[[], list[Any]]:
        if load_page is not None:
            return lambda: load_page(start, ref)
        return lambda: read_page(ops, snap_dir, ref)

    pages, start = [], 0
    for ref in refs:
        pages.append(Page(ref, loader(start, ref)))
        start += ref.count
    state_map = body["state"]
    state_map["messages"] = PagedList(pages, state_map["messages"])
    # Freshly decoded: the state can own it; a deep copy would cost more than the decode.
    return Snapshot(position, State.from_dict(state_map, copy_values=False), path)


def _page_refs(ops: FileOps, snap_dir: str, pages: Any, name: str) -> list[PageRef]:
    refs = []
    for item in pages:
        if (
            not isinstance(item, list)
            or len(item) != 3
            or type(item[0]) is not str
            or len(item[0]) != 64
            or any(c not in "0123456789abcdef" for c in item[0])
            or type(item[1]) is not int
            or type(item[2]) is not int
        ):
            raise CorruptRecordError("snapshot names an invalid page", segment=name)
        ref = PageRef(item[0], item[1], item[2])
        try:
            size = ops.size(page_path(snap_dir, ref.digest))
        except FileNotFoundError:
            raise CorruptRecordError(
                f"snapshot page {ref.digest[:12]} is missing", segment=name
            ) from None
        if size != ref.size:
            raise CorruptRecordError(
                f"snapshot page {ref.digest[:12]} has the wrong size", segment=name
            )
        refs.append(ref)
    return refs


def _check_body(body: Any, name: str, task_id: str) -> None:
    if not isinstance(body, dict) or type(body.get("format")) is not int:
        raise CorruptRecordError("snapshot is missing fields", segment=name)
    if body["format"] != SNAPSHOT_FORMAT:
        error = (
            OutdatedSnapshotError if 0 < body["format"] < SNAPSHOT_FORMAT else CorruptRecordError
        )
        raise error(f"snapshot format {body['format']} is not {SNAPSHOT_FORMAT}", segment=name)
    fields = {"task_id": str, "seq": int, "segment": str, "offset": int, "end": int, "crc": int}
    fields |= {"pages": list, "state": dict}
    if any(type(body.get(k)) is not t for k, t in fields.items()):
        raise CorruptRecordError("snapshot is missing fields", segment=name)
    if type(body["state"].get("messages")) is not list:
        raise CorruptRecordError("snapshot state has no conversation", segment=name)
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
