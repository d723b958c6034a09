"""The ``summary`` file: a small derived record per task so ``ls`` need not fold logs.

A cache like snapshots: written atomically by the claim holder (rule 4) after the log is
synced, so it never claims more than the log holds; trusted by a reader only while the log
provably still ends where it did (``is_current``), otherwise the reader folds in memory and
never writes (rule 17). The file is ``crc32(payload) · payload`` (a little-endian u32, then
one msgpack array of the values in ``FIELDS`` order, the format first); a damaged, foreign or
older-format file is simply stale.
"""

from __future__ import annotations

import os
import struct
import zlib
from typing import Any

from agentrun.core.codec import decode_cache, encode_value
from agentrun.core.errors import CorruptRecordError
from agentrun.core.state import ROUNDED_SUMS, State
from agentrun.store.atomic import write_atomic
from agentrun.store.fileops import FileOps
from agentrun.store.segments import segment_name

# 2: a CRC in front, the values as an array (``ls`` decodes one per task: the keys cost more
# than the values), and the log mark ``[first seq of the last segment, its size]`` that a
# reader checks with two stats instead of listing ``log/``. Format 1 files read as stale.
SUMMARY_FORMAT = 2
FIELDS = (
    "format",
    "log_mark",
    "task_id",
    "goal",
    "agent_name",
    "status",
    "stop_reason",
    "outcome",
    "created_at",
    "updated_at",
    "last_seq",
    "steps",
    "tool_calls",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "attempts",
    "active_seconds",
    "run",
    "needed_person",
    "resolutions",
    "parent",
)
GOAL_EXCERPT = 200
_CRC = struct.Struct("<I")
_READ_AT_ONCE = 64 * 1024


def summarize(state: State, log_mark: list[int] | None) -> dict[str, Any]:
    """The summary of a state (the keys of ``FIELDS``); ``log_mark`` as ``LogWriter.mark`` gives."""
    return {
        "format": SUMMARY_FORMAT,
        "log_mark": log_mark,
        "task_id": state.task_id,
        "goal": state.goal[:GOAL_EXCERPT],
        "agent_name": state.agent.get("name", ""),
        "status": state.status,
        "stop_reason": state.stop_reason,
        "outcome": state.outcome,
        "created_at": state.created_at,
        "updated_at": state.updated_at,
        "last_seq": state.last_seq,
        "steps": state.steps,
        "tool_calls": state.tool_calls,
        "input_tokens": state.input_tokens,
        "output_tokens": state.output_tokens,
        "cost_usd": state.cost_usd,
        "attempts": state.attempts,
        "active_seconds": state.active_seconds,
        "run": state.run,
        "needed_person": state.needed_person,
        "resolutions": state.resolutions,
        "parent": state.parent,
    }


def current_summary(ops: FileOps, task_dir: str) -> dict[str, Any] | None:
    """The task's summary file if it is intact and ``is_current``, else ``None`` (then fold).

    ``task_dir`` is a validated task directory; its name must be the summary's task id.
    """
    cached = read_summary(ops, f"{task_dir}/summary")
    if cached is None or cached.get("task_id") != os.path.basename(task_dir):
        return None
    return cached if is_current(f"{task_dir}/log", cached) else None


def is_current(log_dir: str, summary: dict[str, Any]) -> bool:
    """Whether the log still ends exactly where ``summary`` was written (two stats, no listing).

    The summary was written when the log's last segment (``log_mark``) ended at the recorded
    size and its last record was ``last_seq``. While a writer runs, the segment is longer than
    its data (preallocated zeros, rule 13), so a running task's summary is never current.
    Afterwards, an append or a torn-tail repair changes that segment's size; a roll (segment
    full, ``prune --squash``) creates the segment of seq ``last_seq + 1`` first, and a squash
    removes the old one. So if the recorded segment still has its size and no segment
    ``last_seq + 1`` exists, the log holds exactly what the summary says (a segment that is
    itself ``last_seq + 1``, empty, is only ever replaced by an equal empty one). Sizes and
    names, unlike mtimes, have no clock granularity and survive a copy. Any doubt, a stat that
    fails included, answers ``False``: the caller folds instead.
    """
    mark, last_seq = summary.get("log_mark"), summary.get("last_seq")
    if type(mark) is not list or len(mark) != 2 or type(last_seq) is not int:
        return False
    first_seq, size = mark
    if type(first_seq) is not int or type(size) is not int or not 1 <= first_seq <= last_seq + 1:
        return False
    # Names come from ints only (rule 1: no path from what a file says). Paths are joined by
    # hand: ``ls`` asks this of every task, and ``os.path.join`` cost as much as a stat.
    name, following = segment_name(first_seq), segment_name(last_seq + 1)
    try:
        if os.stat(f"{log_dir}/{name}", follow_symlinks=False).st_size != size:
            return False
    except OSError:
        return False
    if following == name:
        return True
    try:
        os.stat(f"{log_dir}/{following}", follow_symlinks=False)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return False


def write_summary(ops: FileOps, path: str, summary: dict[str, Any]) -> None:
    """Replace the summary file atomically (rule 4)."""
    write_atomic(ops, path, encode_summary(summary), crash_prefix="summary")


def read_summary(ops: FileOps, path: str) -> dict[str, Any] | None:
    """The summary, or ``None`` if it is missing, damaged or of another format (then stale)."""
    try:
        # One read for the usual small file (``read_file`` reads until an empty read).
        data = ops.read_range(path, 0, _READ_AT_ONCE)
        if len(data) == _READ_AT_ONCE:
            data = ops.read_file(path)
    except OSError:
        return None
    return decode_summary(data)


def encode_summary(summary: dict[str, Any]) -> bytes:
    """The bytes of a summary file; raises ``UnencodableValueError`` for a lossy value."""
    payload = encode_value([summary[name] for name in FIELDS])
    return _CRC.pack(zlib.crc32(payload)) + payload


def decode_summary(data: bytes) -> dict[str, Any] | None:
    """The summary in ``data``, or ``None`` if it is damaged or of another format."""
    payload = data[_CRC.size :]
    if len(data) < _CRC.size or _CRC.unpack_from(data)[0] != zlib.crc32(payload):
        return None
    try:
        # CRC-checked and never trusted beyond is_current: the cache decode is strict enough.
        values = decode_cache(payload)
    except CorruptRecordError:
        return None
    if type(values) is not list or len(values) != len(FIELDS) or values[0] != SUMMARY_FORMAT:
        return None
    summary = dict(zip(FIELDS, values, strict=False))  # as many of each: checked above
    # Written by a version whose fold did not round these sums yet (core.state): the same
    # rounding gives what the fold gives now.
    for name, decimals in ROUNDED_SUMS.items():
        if type(summary[name]) is float:
            summary[name] = round(summary[name], decimals)
    return summary
