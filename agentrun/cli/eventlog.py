"""``agentrun log``: a task's events, one a line, as text or as JSON lines.

Readers only (rule 17). Events are streamed segment by segment (``store.events``), so memory
does not grow with the log; ``--json`` lines are ``to_record(event)``, the same map the log
holds, printed from ``store.event_records`` a batch of records at a time without building
events.
No typer here: ``dispatch`` runs ``print_log`` straight from the command line, and the typer
command (``commands.history``) calls it too. rich and the renderers are imported only for
lines meant for people.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from agentrun.cli.bulk import json_encoder, no_cycle_collection
from agentrun.cli.wording import naming_task
from agentrun.core.errors import AgentrunError, InvalidIdError, TaskNotFoundError, UsageError
from agentrun.core.events import EVENT_TYPES, Event, to_record

if TYPE_CHECKING:
    from agentrun.cli.follow import FollowEnd
    from agentrun.cli.settings import Settings
    from agentrun.core.state import State
    from agentrun.store.local import LocalTaskStore

_encode = json_encoder()
_LINES_PER_WRITE = 2048


def print_log(
    settings: Settings,
    task: str | None,
    *,
    kind: list[str] | None = None,
    from_seq: int | None = None,
    to_seq: int | None = None,
    grep: str | None = None,
    full: bool = False,
    follow_log: bool = False,
    as_json: bool = False,
) -> int:
    """Print the events of ``task`` (or search every task) as ``agentrun log`` does.

    The options are the command's. Returns the exit code (130 when Ctrl-C ends a follow);
    raises ``UsageError`` for options that do not fit together and the store's errors.
    """
    kinds = _kinds(kind)
    store = settings.store()
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
        print_records(store, task_id, kinds, needle, first=from_seq or 1, last=to_seq)
        return 0
    first = from_seq or 1
    before = None
    if follow_log:
        from agentrun.cli.follow import follow

        # The follower reads the log from its start anyway: the events before --from go to
        # ``emit`` unshown, so it learns the tools their turns named.
        events: Iterable[Event] = follow(store, task_id, on_end=_report_end(task_id))
    else:
        events = store.events(task_id, from_seq=first)
        if first > 1 and not as_json:
            # A result in the range may answer a turn before it: name its tool all the same.
            before = store.load(task_id, upto=first - 1).state
    emit = _emitter(store, as_json=as_json, full=full, flush=follow_log, before=before)
    try:
        for event in events:
            if to_seq is not None and event.seq > to_seq:
                break
            emit(task_id, event, None, event.seq >= first and _shown(event, kinds, needle))
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
    store: LocalTaskStore, *, as_json: bool, full: bool, flush: bool, before: State | None = None
) -> Callable[[str, Event, str | None, bool], None]:
    """How one event is printed: a JSON line, a summary line, or a line and the whole event.

    ``before`` is the state as of the event before the first one printed (``--from``).
    """
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

    out, describer = stdout(), EventDescriber(before)

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


def print_records(
    store: LocalTaskStore,
    task_id: str,
    kinds: set[str],
    needle: str | None,
    *,
    first: int = 1,
    last: int | None = None,
    prefix: str | None = None,
) -> None:
    """``log --json`` without ``--follow``: the lines ``_emitter`` prints, a batch a write."""
    with no_cycle_collection():
        print_batches(store.event_records(task_id, from_seq=first), kinds, needle, last, prefix)


def print_batches(
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
            # Every event of the batch, as it is; a few thousand lines a write at most keeps
            # the text in memory small beside the decoded maps.
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
                print_records(store, task_id, kinds, needle, prefix=task_id)
                continue
            for event in store.events(task_id):
                emit(task_id, event, task_id, _shown(event, kinds, needle))
        except TaskNotFoundError:
            continue  # deleted while we searched, or a plain file: no task, as `ls` has it
        except InvalidIdError:
            from agentrun.cli.listing import warn_if_stray_directory

            warn_if_stray_directory(store, task_id)
        except AgentrunError as exc:
            warn(naming_task(task_id, exc, "skipped"))
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
