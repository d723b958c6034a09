"""``agentrun ls`` and ``agentrun show``: what tasks exist and what state one is in.

Readers only (rule 17): ``ls`` reads summaries (rebuilt in memory when missing or stale, never
written), ``show`` folds the log. Neither writes a byte under the home. ``ls`` itself lives in
``cli.listing``, which ``cli.dispatch`` also runs without building the typer app.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from agentrun.cli.settings import settings

# Views, rich and the store are imported by the commands that use them: every command's
# start-up pays for what this module imports at the top.

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
TaskArg = Annotated[str, typer.Argument(help="Task id or unambiguous prefix.")]


def ls(
    ctx: typer.Context,
    status: Annotated[
        str | None,
        typer.Option(
            "--status", metavar="STATUS", help="Only tasks in this status (e.g. needs_attention)."
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", metavar="N", help="At most this many tasks.")
    ] = None,
    as_json: JsonOpt = False,
) -> int:
    """List tasks, newest first: status, steps, tokens, cost, age and goal."""
    from agentrun.cli.listing import list_tasks

    return list_tasks(settings(ctx), status=status, limit=limit, as_json=as_json)


def show(
    ctx: typer.Context,
    task: TaskArg,
    at: Annotated[
        int | None, typer.Option("--at", metavar="SEQ", help="The state as of this event (seq).")
    ] = None,
    as_json: JsonOpt = False,
) -> int:
    """Show the state of a task, now or as of an event: status, conversation, calls, files."""
    from agentrun.cli.output import print_json, stdout
    from agentrun.cli.views import INTERRUPTED, task_view, to_json
    from agentrun.core.state import RUNNING

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
