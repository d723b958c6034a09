"""``agentrun ls`` and ``agentrun show``: what tasks exist and what state one is in."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from agentrun.cli.output import print_json, stdout
from agentrun.cli.settings import settings

STATUS_STYLE = {
    "succeeded": "green",
    "failed": "red",
    "cancelled": "dim",
    "needs_attention": "yellow",
    "paused": "cyan",
    "running": "bold blue",
    "interrupted": "magenta",
    "queued": "white",
}


def live_status(summary: dict[str, Any], is_claimed: bool) -> str:
    """The status to show: a run the log calls running that nobody holds is interrupted."""
    status = summary["status"]
    if status == "running" and not is_claimed:
        return "interrupted"
    return status


def ls(
    ctx: typer.Context,
    status: Annotated[
        str | None, typer.Option("--status", help="Only tasks in this status.")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many tasks.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON document.")] = False,
) -> int:
    """List tasks, newest first, with status, steps, tokens and goal."""
    store = settings(ctx).store()
    rows = []
    for task_id in reversed(store.task_ids()):
        summary = store.summary(task_id)
        claimed = summary["status"] == "running" and store.is_claimed(task_id)
        shown = live_status(summary, claimed)
        if status and shown != status:
            continue
        rows.append({**summary, "status": shown, "claimed": claimed})
        if limit is not None and len(rows) >= limit:
            break
    if as_json:
        print_json([_public(r) for r in rows])
        return 0
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("id", "status", "steps", "tokens", "updated", "goal"):
        table.add_column(column, no_wrap=column != "goal", overflow="ellipsis")
    for r in rows:
        style = STATUS_STYLE.get(r["status"], "")
        table.add_row(
            r["task_id"],
            f"[{style}]{r['status']}[/]" if style else r["status"],
            str(r["steps"]),
            str(r["input_tokens"] + r["output_tokens"]),
            r["updated_at"][:19].replace("T", " "),
            r["goal"].splitlines()[0] if r["goal"] else "",
        )
    stdout().print(table if rows else "no tasks")
    return 0


def show(
    ctx: typer.Context,
    task: Annotated[str, typer.Argument(help="Task id or unambiguous prefix.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON document.")] = False,
) -> int:
    """Show the state of a task: status, conversation, pending calls, usage."""
    store = settings(ctx).store()
    task_id = store.resolve(task)
    state = store.load(task_id).state
    claimed = state.status == "running" and store.is_claimed(task_id)
    data = state.to_dict()
    data["status"] = live_status({"status": state.status}, claimed)
    if as_json:
        print_json(data)
        return 0
    out = stdout()
    out.print(f"[bold]{task_id}[/]  {data['status']}", highlight=False)
    out.print(f"goal: {state.goal}", markup=False)
    out.print(
        f"steps {state.steps} · tool calls {state.tool_calls} · tokens "
        f"{state.input_tokens}+{state.output_tokens} · attempts {state.attempts} · "
        f"last event {state.last_seq}"
    )
    if state.stop_reason:
        out.print(f"stopped: {state.stop_reason} {state.stop_detail}", markup=False)
    if state.answer:
        out.print(f"answer: {state.answer}", markup=False)
    for call in state.pending_calls():
        out.print(
            f"pending call {call['call_id']}: {call['tool']} "
            f"{json.dumps(call['arguments'])[:120]} ({call['status']})",
            markup=False,
        )
    for path, change in sorted(state.files.items()):
        out.print(f"changed {path}: {str(change['after'])[:12]}", markup=False)
    return 0


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in ("format", "log_mark")}


def register(app: typer.Typer) -> None:
    """Add the commands to ``app``."""
    app.command()(ls)
    app.command()(show)
