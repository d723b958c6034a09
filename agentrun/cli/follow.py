"""``log --follow``: a task's events as they land, like ``tail -f``, read-only (rule 17).

The follower polls the log: it stats the last segment and reads only when its name or size
changed, or when the bytes where the next record goes are no longer zeros (the running writer
preallocates its segment, so appends need not change its size, rule 13). It reads on from the
last record it has seen (so a long log is not decoded again on every poll). A torn or
half-written record at the tail is simply the end for now (rule 5).

It ends when no run is open in the log (the last run stopped or the task finished) and no
process holds the claim (a resume may be about to start), or when a run is open but nobody
holds the claim any more (the process died: the task is interrupted). A queued task that
nothing runs yet is waited for, as ``tail -f`` waits. The claim is probed (rule 24) only at
those moments, at most once a second, so a follower does not race a starting ``resume``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from agentrun.core.events import Event, RunStarted
from agentrun.store.framing import RECORD_HEADER, Record, is_zeros
from agentrun.store.local import LocalTaskStore
from agentrun.store.log_reader import Position, iter_records
from agentrun.store.segments import list_segments

POLL_S = 0.1
PROBE_EVERY_S = 1.0
# Events after which no run is open in the log.
_RUN_ENDS = ("run_stopped", "task_finished", "task_squashed")


@dataclass(frozen=True, slots=True)
class FollowEnd:
    """Why following stopped: ``finished`` (no run open) or ``interrupted`` (the run died)."""

    reason: str


def follow(
    store: LocalTaskStore,
    task_id: str,
    *,
    from_seq: int = 1,
    poll_s: float = POLL_S,
    on_end: Callable[[FollowEnd], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Event]:
    """Yield the task's events from ``from_seq`` on, waiting for new ones until the run ends."""
    log_dir = os.path.join(store.task_dir(task_id), "log")
    position: Position | None = None
    mark: _Mark | None = None
    run_open = False
    last_probe = 0.0
    while True:
        with store.reading(task_id):
            current = _mark(store, log_dir, position)
        if current != mark or current.unread:
            mark, read_any = current, False
            for name, record in _records(store, task_id, log_dir, position):
                read_any = True
                event = record.event
                position = Position(name, record.offset, record.end, event.seq, record.crc)
                if isinstance(event, RunStarted):
                    run_open = True
                elif event.kind in _RUN_ENDS:
                    run_open = False
                if event.seq >= from_seq:
                    yield event
            if read_any:
                continue  # read again at once: more may have landed while we printed
        started = position is not None and position.seq > 1
        now = time.monotonic()
        if started and now - last_probe >= PROBE_EVERY_S:
            last_probe = now
            if not store.is_claimed(task_id):
                if on_end is not None:
                    on_end(FollowEnd("interrupted" if run_open else "finished"))
                return
        sleep(poll_s)


def _records(
    store: LocalTaskStore, task_id: str, log_dir: str, position: Position | None
) -> Iterator[tuple[str, Record]]:
    """The records after ``position``; damage names the task, as the store's reads do."""
    with store.reading(task_id):
        yield from iter_records(store.ops, log_dir, start=position)


@dataclass(frozen=True, slots=True)
class _Mark:
    """What the follower compares between polls: the last segment, its size, unread bytes."""

    path: str
    size: int
    unread: bool  # non-zero bytes where the record after ``position`` goes


def _mark(store: LocalTaskStore, log_dir: str, position: Position | None) -> _Mark:
    segments = list_segments(store.ops, log_dir)
    if not segments:
        return _Mark("", 0, False)
    path = segments[-1][1]
    size = store.ops.size(path)
    unread = False
    if position is not None and position.segment == os.path.basename(path) and size > position.end:
        head = store.ops.read_range(path, position.end, RECORD_HEADER)
        unread = not is_zeros(head, 0)
    return _Mark(path, size, unread)
