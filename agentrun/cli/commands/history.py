"""``agentrun log``, ``diff`` and ``export``: a task's events, what changed, the whole log.

Readers only (rule 17). Events are streamed segment by segment (``store.events``), so memory
does not grow with the log; ``--json`` lines are ``to_record(event)``, the same map the log
holds, printed from ``store.event_records`` a segment at a time without building events.
``diff`` reads through the one fold (``core.diff``).
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Callable, Iterable
from itertools import takewhile
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agentrun.cli.bulk import json_encoder, no_cycle_collection
from agentrun.cli.settings import settings
from agentrun.core.errors import AgentrunError, UsageError
from agentrun.core.events import EVENT_TYPES, Event, to_record

if TYPE_CHECKING:
    from agentrun.cli.follow import FollowEnd
    from agentrun.store.local import LocalTaskStore

# Heavier modules (rich and the renderers, the fold's diff, the runtime) are imported by the
# commands that use them: every command's start-up pays for what this module imports at the top.

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (lines for event streams).")]
_encode = json_encoder()
_LINES_PER_WRITE = 2048


def log(
    ctx: typer.Context,
    task: Annotated[
        str | None, typer.Argument(help="Task id or prefix; omit to search all with --grep.")
    ] = None,
    kind: Annotated[
        list[str] | None, typer.Option("--kind", "-k", help="Only events of this kind (repeat).")
    ] = None,
    from_seq: Annotated[int | None, typer.Option("--from", help="First event (seq).")] = None,
    to_seq: Annotated[int | None, typer.Option("--to", help="Last event (seq).")] = None,
    grep: Annotated[
        str | None, typer.Option("--grep", "-g", help="Only events whose JSON contains TEXT.")
    ] = None,
    full: Annotated[bool, typer.Option("--full", help="Every event whole, as JSON.")] = False,
    follow_log: Annotated[
        bool, typer.Option("--follow", "-f", help="Wait for new events until the run ends.")
    ] = False,
    as_json: JsonOpt = False,
) -> int:
    """The events of a task, one a line; --grep without a task searches every task."""
    kinds = _kinds(kind)
    store = settings(ctx).store()
    needle = grep.casefold() if grep else None
    if task is None:
        if needle is None:
            raise UsageError("name a task, or search every task with --grep TEXT")
        if follow_log or from_seq is not None or to_seq is not None:
            raise UsageError("--follow, --from and --to need a task")
        return _search_all(store, needle, kinds, as_json=as_json, full=full)
    task_id = store.resolve(task)
    _check_range(store, task_id, from_seq, to_seq, open_end=follow_log)
    if as_json and not follow_log:
        _print_records(store, task_id, kinds, needle, first=from_seq or 1, last=to_seq)
        return 0
    if follow_log:
        from agentrun.cli.follow import follow

        events: Iterable[Event] = follow(
            store, task_id, from_seq=from_seq or 1, on_end=_report_end(task_id)
        )
    else:
        events = store.events(task_id, from_seq=from_seq or 1)
    emit = _emitter(store, as_json=as_json, full=full, flush=follow_log)
    try:
        for event in events:
            if to_seq is not None and event.seq > to_seq:
                break
            emit(task_id, event, None, _shown(event, kinds, needle))
            if event.seq == to_seq:
                break  # a follower does not wait for an event past --to
    except KeyboardInterrupt:
        if follow_log:
            return 130  # Ctrl-C ends a follow, as it ends `tail -f`
        raise
    return 0


def _kinds(kind: list[str] | None) -> set[str]:
    kinds = set(kind or ())
    unknown = sorted(kinds - set(EVENT_TYPES))
    if unknown:
        raise UsageError(f"unknown event kind {unknown[0]!r}; kinds: {', '.join(EVENT_TYPES)}")
    return kinds


def _check_range(
    store: LocalTaskStore, task_id: str, first: int | None, last: int | None, *, open_end: bool
) -> None:
    for name, value in (("--from", first), ("--to", last)):
        if value is not None and value < 1:
            raise UsageError(f"{name} {value}: event numbers start at 1")
    if first is not None and last is not None and first > last:
        raise UsageError(f"--from {first} is after --to {last}")
    if open_end or (first is None and last is None):
        return  # nothing to check: streaming the log must not fold the whole task first
    end = store.summary(task_id)["last_seq"]
    for name, value in (("--from", first), ("--to", last)):
        if value is not None and value > end:
            raise UsageError(f"{name} {value} is past the end: task {task_id} has {end} events")


def _shown(event: Event, kinds: set[str], needle: str | None) -> bool:
    """Whether ``--kind`` and ``--grep`` (case-insensitive, over the event's JSON) keep it."""
    if kinds and event.kind not in kinds:
        return False
    return needle is None or needle in _encode(to_record(event)).casefold()


def _emitter(
    store: LocalTaskStore, *, as_json: bool, full: bool, flush: bool
) -> Callable[[str, Event, str | None, bool], None]:
    """How one event is printed: a JSON line, a summary line, or a line and the whole event."""
    if as_json:
        write = sys.stdout.write

        def emit_json(task_id: str, event: Event, prefix: str | None, shown: bool) -> None:
            if not shown:
                return
            record = to_record(event)
            if prefix is not None:
                record = {"task_id": prefix, **record}
            write(_encode(record) + "\n")
            if flush:
                sys.stdout.flush()

        return emit_json
    from agentrun.cli.output import stdout
    from agentrun.cli.renderers import render_event, render_event_full
    from agentrun.cli.views import EventDescriber

    out, describer = stdout(), EventDescriber()

    def emit_human(task_id: str, event: Event, prefix: str | None, shown: bool) -> None:
        if not shown:
            describer.learn(event)  # a later line may name this turn's tools
            return
        line = describer.line(event, prefix)
        if full:
            render_event_full(out, line, _whole(store, task_id, to_record(event)))
        else:
            render_event(out, line)

    return emit_human


def _whole(store: LocalTaskStore, task_id: str, record: dict[str, Any]) -> dict[str, Any]:
    """The record with a large output read back whole from its blob (``--full``)."""
    blob = record.get("output_blob")
    if not blob or not blob.get("sha256"):
        return record
    data = store.get_blob(task_id, blob["sha256"])
    return {**record, "output": data.decode("utf-8", "replace")}


def _print_records(
    store: LocalTaskStore,
    task_id: str,
    kinds: set[str],
    needle: str | None,
    *,
    first: int = 1,
    last: int | None = None,
    prefix: str | None = None,
) -> None:
    """``log --json`` without ``--follow``: the lines ``_emitter`` prints, a segment a write."""
    with no_cycle_collection():
        _print_batches(store.event_records(task_id, from_seq=first), kinds, needle, last, prefix)


def _print_batches(
    batches: Iterable[list[dict[str, Any]]],
    kinds: set[str],
    needle: str | None,
    last: int | None,
    prefix: str | None,
) -> None:
    """Print the JSON lines of the records ``--kind``/``--grep``/``--to`` keep.

    Each line is encoded once, for ``--grep`` and for printing (the grep looks at the event's
    own map, without the ``task_id`` prefix of a search over every task).
    """
    write = sys.stdout.write
    for batch in batches:
        ends = last is not None and bool(batch) and batch[-1]["seq"] >= last
        if not (kinds or needle or prefix or ends):
            # Every event of the segment, as it is; a few thousand lines a write keeps the
            # text in memory small beside the decoded segment.
            for start in range(0, len(batch), _LINES_PER_WRITE):
                chunk = batch[start : start + _LINES_PER_WRITE]
                write("\n".join(map(_encode, chunk)) + "\n")
            continue
        lines = []
        for record in batch:
            if last is not None and record["seq"] > last:
                break
            if kinds and record["kind"] not in kinds:
                continue
            line = _encode(record)
            if needle is not None and needle not in line.casefold():
                continue
            lines.append(line if prefix is None else _encode({"task_id": prefix, **record}))
        if lines:
            lines.append("")
            write("\n".join(lines))
        if ends:
            return


def _search_all(
    store: LocalTaskStore, needle: str, kinds: set[str], *, as_json: bool, full: bool
) -> int:
    from agentrun.cli.output import warn

    emit = None if as_json else _emitter(store, as_json=False, full=full, flush=False)
    for task_id in store.task_ids():
        try:
            if emit is None:
                _print_records(store, task_id, kinds, needle, prefix=task_id)
                continue
            for event in store.events(task_id):
                emit(task_id, event, task_id, _shown(event, kinds, needle))
        except AgentrunError as exc:
            warn(f"task {task_id} skipped: {exc}")
    return 0


def _report_end(task_id: str) -> Callable[[FollowEnd], None]:
    from agentrun.cli.output import warn

    def report(end: FollowEnd) -> None:
        if end.reason == "interrupted":
            warn(
                f"the run of task {task_id} ended without a word (killed or crashed); "
                f"`agentrun resume {task_id}` continues it"
            )

    return report


def diff(
    ctx: typer.Context,
    task: Annotated[str, typer.Argument(help="Task id or prefix.")],
    other: Annotated[
        str | None, typer.Argument(help="A second task: align the two runs step by step.")
    ] = None,
    from_seq: Annotated[
        int | None, typer.Option("--from", help="From the state after this event (0: start).")
    ] = None,
    to_seq: Annotated[
        int | None, typer.Option("--to", help="To the state after this event (default: last).")
    ] = None,
    as_json: JsonOpt = False,
) -> int:
    """What changed between two events of a task, or where two runs part ways."""
    from agentrun.cli.output import print_json, stdout
    from agentrun.cli.renderers import render_comparison, render_state_diff
    from agentrun.cli.views import to_json
    from agentrun.core.diff import compare_runs, diff_range, run_steps
    from agentrun.core.state import State
    from agentrun.runtime.fork import state_at

    store = settings(ctx).store()
    task_id = store.resolve(task)
    if other is not None:
        if from_seq is not None or to_seq is not None:
            raise UsageError("--from/--to compare two points of one task; drop them for two tasks")
        other_id = store.resolve(other)
        comparison = compare_runs(
            run_steps(store.events(task_id)), run_steps(store.events(other_id))
        )
        if as_json:
            print_json(to_json(comparison))
        else:
            render_comparison(stdout(), comparison)
        return 0
    end = store.summary(task_id)["last_seq"]
    first = 0 if from_seq is None else from_seq
    last = end if to_seq is None else to_seq
    if first < 0:
        raise UsageError(f"--from {first}: use 0 (before the first event) or an event number")
    if last < 1 or last > end or first > end:
        raise UsageError(f"task {task_id} has {end} events; choose --from/--to from 0 to {end}")
    if first > last:
        raise UsageError(f"--from {first} is after --to {last}")
    before = state_at(store, task_id, first) if first > 0 else State()
    result = diff_range(
        before, takewhile(lambda e: e.seq <= last, store.events(task_id, from_seq=first + 1))
    )
    if as_json:
        print_json(to_json(result))
    else:
        render_state_diff(stdout(), result)
    return 0


def export(
    ctx: typer.Context,
    task: Annotated[str, typer.Argument(help="Task id or prefix.")],
    inline_blobs: Annotated[
        bool, typer.Option("--inline-blobs", help="Embed blobs as base64 instead of naming them.")
    ] = False,
) -> int:
    """The whole log of a task as JSON lines (blobs named by sha256, or embedded)."""
    store = settings(ctx).store()
    task_id = store.resolve(task)
    if inline_blobs:
        batches: Iterable[list[dict[str, Any]]] = (
            [_inline(store, task_id, record) for record in batch]
            for batch in store.event_records(task_id)
        )
    else:
        batches = store.event_records(task_id)
    with no_cycle_collection():
        _print_batches(batches, set(), None, None, None)
    return 0


def _inline(store: LocalTaskStore, task_id: str, record: dict[str, Any]) -> dict[str, Any]:
    """Add ``data_base64`` to ``output_blob`` and ``blob_base64`` to each file change."""

    def b64(digest: str) -> str:
        return base64.b64encode(store.get_blob(task_id, digest)).decode("ascii")

    blob = record.get("output_blob")
    if blob and blob.get("sha256"):
        record = {**record, "output_blob": {**blob, "data_base64": b64(blob["sha256"])}}
    files = record.get("files")
    if files:
        record = {
            **record,
            "files": [{**f, "blob_base64": b64(f["blob"])} if f.get("blob") else f for f in files],
        }
    return record


def register(app: typer.Typer) -> None:
    """Add the commands to ``app``."""
    app.command()(log)
    app.command()(diff)
    app.command()(export)
