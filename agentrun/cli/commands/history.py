"""``agentrun log``, ``diff`` and ``export``: a task's events, what changed, the whole log.

Readers only (rule 17). ``log`` lives in ``cli.eventlog`` (which ``cli.dispatch`` also runs
without building the typer app); ``export`` prints through it; ``diff`` reads through the one
fold (``core.diff``).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from itertools import takewhile
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agentrun.cli.settings import settings
from agentrun.core.errors import UsageError

if TYPE_CHECKING:
    from agentrun.store.local import LocalTaskStore

# Heavier modules (events, rich and the renderers, the fold's diff, the runtime) are imported
# by the commands that use them: every command's start-up pays for what this module imports at
# the top, ``--help`` included.

LogJsonOpt = Annotated[bool, typer.Option("--json", help="Print each event as a JSON line.")]
DiffJsonOpt = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print the changes (for two tasks: the step-by-step comparison) as one JSON document.",
    ),
]


def log(
    ctx: typer.Context,
    task: Annotated[
        str | None, typer.Argument(help="Task id or prefix; omit to search all with --grep.")
    ] = None,
    kind: Annotated[
        list[str] | None,
        typer.Option("--kind", "-k", metavar="KIND", help="Only events of this kind (repeat)."),
    ] = None,
    from_seq: Annotated[
        int | None, typer.Option("--from", metavar="SEQ", help="First event (seq).")
    ] = None,
    to_seq: Annotated[
        int | None, typer.Option("--to", metavar="SEQ", help="Last event (seq).")
    ] = None,
    grep: Annotated[
        str | None,
        typer.Option("--grep", "-g", metavar="TEXT", help="Only events whose JSON contains TEXT."),
    ] = None,
    full: Annotated[bool, typer.Option("--full", help="Every event whole, as JSON.")] = False,
    follow_log: Annotated[
        bool, typer.Option("--follow", "-f", help="Wait for new events until the run ends.")
    ] = False,
    as_json: LogJsonOpt = False,
) -> int:
    """The events of a task, one a line; --grep without a task searches every task."""
    from agentrun.cli.eventlog import print_log

    return print_log(
        settings(ctx),
        task,
        kind=kind,
        from_seq=from_seq,
        to_seq=to_seq,
        grep=grep,
        full=full,
        follow_log=follow_log,
        as_json=as_json,
    )


def diff(
    ctx: typer.Context,
    task: Annotated[str, typer.Argument(help="Task id or prefix.")],
    other: Annotated[
        str | None, typer.Argument(help="A second task: align the two runs step by step.")
    ] = None,
    from_seq: Annotated[
        int | None,
        typer.Option("--from", metavar="SEQ", help="From the state after this event (0: start)."),
    ] = None,
    to_seq: Annotated[
        int | None,
        typer.Option("--to", metavar="SEQ", help="To the state after this event (default: last)."),
    ] = None,
    as_json: DiffJsonOpt = False,
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
    # --from may be 0, the state before the first event; --to names an event (docs/cli.md).
    if not 0 <= first <= end:
        raise UsageError(
            f"--from {first}: task {task_id} has {end} events; choose --from from 0 "
            f"(before the first event) to {end}"
        )
    if not 1 <= last <= end:
        raise UsageError(
            f"--to {last}: task {task_id} has {end} events; choose --to from 1 to {end}"
        )
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
    from agentrun.cli.bulk import no_cycle_collection
    from agentrun.cli.eventlog import print_batches

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
        print_batches(batches, set(), None, None, None)
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
