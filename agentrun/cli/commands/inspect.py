"""``agentrun ls`` and ``agentrun show``: what tasks exist and what state one is in.

Readers only (rule 17): ``ls`` reads summaries (rebuilt in memory when missing or stale, never
written), ``show`` folds the log. Neither writes a byte under the home.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from operator import attrgetter
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agentrun.cli.bulk import json_encoder, no_cycle_collection
from agentrun.cli.settings import settings
from agentrun.cli.views import INTERRUPTED, TaskRow, task_row, task_view, to_json
from agentrun.core.errors import AgentrunError, TaskNotFoundError, UsageError
from agentrun.core.state import RUNNING

if TYPE_CHECKING:
    from agentrun.store.local import LocalTaskStore

# rich (the table, warnings) and the stats module are imported where used: `ls --json` over
# many tasks is start-up plus a read and two stats per task, and start-up is most of it.

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
TaskArg = Annotated[str, typer.Argument(help="Task id or unambiguous prefix.")]


def ls(
    ctx: typer.Context,
    status: Annotated[
        str | None,
        typer.Option("--status", help="Only tasks in this status (e.g. needs_attention)."),
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many tasks.")] = None,
    as_json: JsonOpt = False,
) -> int:
    """List tasks, newest first: status, steps, tokens, cost, age and goal."""
    wanted = status.replace(" ", "_").replace("-", "_").lower() if status else None
    if wanted is not None:
        from agentrun.core.stats import STATUSES

        if wanted not in STATUSES:
            raise UsageError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
    if limit is not None and limit < 1:
        raise UsageError("--limit must be 1 or more")
    with no_cycle_collection():
        rows = list_rows(settings(ctx).store(), datetime.now(UTC))
    if wanted is not None:
        rows = [r for r in rows if r.status == wanted]
    rows = rows[:limit] if limit is not None else rows
    if as_json:
        print_json_rows(to_json(rows))
    else:
        from agentrun.cli.output import stdout
        from agentrun.cli.renderers import render_rows

        render_rows(stdout(), rows)
    return 0


def list_rows(store: LocalTaskStore, now: datetime) -> list[TaskRow]:
    """Every task's ``ls`` row, newest first; a task whose log is corrupt is named on stderr."""
    rows = []
    for task_id in store.task_ids():
        try:
            summary = store.summary(task_id)
        except TaskNotFoundError:
            continue  # deleted (pruned) while we listed
        except AgentrunError as exc:
            from agentrun.cli.output import warn

            warn(f"task {task_id}: {exc}; `agentrun verify {task_id}` says more")
            continue
        # Rule 24: only a task whose log says running can be held; probe nothing else.
        claimed = summary["status"] == RUNNING and store.is_claimed(task_id)
        rows.append(task_row(summary, is_claimed=claimed, now=now))
    rows.sort(key=attrgetter("created_at", "task_id"), reverse=True)
    return rows


def print_json_rows(rows: list[dict[str, Any]]) -> None:
    """A JSON array with one row a line: one document, and fast (the C encoder, no indent)."""
    if not rows:
        sys.stdout.write("[]\n")
        return
    write = sys.stdout.write
    write("[\n")
    write(",\n".join(map(json_encoder(), rows)))
    write("\n]\n")


def show(
    ctx: typer.Context,
    task: TaskArg,
    at: Annotated[
        int | None, typer.Option("--at", help="The state as of this event (seq).")
    ] = None,
    as_json: JsonOpt = False,
) -> int:
    """Show the state of a task, now or as of an event: status, conversation, calls, files."""
    from agentrun.cli.output import print_json, stdout

    store = settings(ctx).store()
    task_id = store.resolve(task)
    if at is None:
        state = store.load(task_id).state
        claimed = state.status == RUNNING and store.is_claimed(task_id)
    else:
        from agentrun.runtime.fork import state_at

        state = state_at(store, task_id, at)
        claimed = False
    view = task_view(state, at_seq=at, is_claimed=claimed)
    if as_json:
        print_json(to_json(view))
    else:
        from agentrun.cli.renderers import render_task

        render_task(stdout(), view)
    if view.state["status"] == INTERRUPTED:
        print(f"the run stopped without a word; `agentrun resume {task_id}`", file=sys.stderr)
    return 0


def register(app: typer.Typer) -> None:
    """Add the commands to ``app``."""
    app.command()(ls)
    app.command()(show)
