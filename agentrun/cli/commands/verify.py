"""``agentrun verify [TASK | --all] [--json]``: check logs and snapshots; exit 1 on corruption."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from agentrun.cli.output import print_json, stdout
from agentrun.cli.settings import settings
from agentrun.cli.wording import plural
from agentrun.core.errors import EXIT_FAILED, EXIT_OK, UsageError


def verify(
    ctx: typer.Context,
    task: Annotated[str | None, typer.Argument(help="Task id or unambiguous prefix.")] = None,
    all_tasks: Annotated[bool, typer.Option("--all", help="Verify every task.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON document.")] = False,
) -> int:
    """Check every segment, record and snapshot; name the segment and byte of any corruption."""
    from agentrun.store.verify import verify_task

    store = settings(ctx).store()
    if task is None and not all_tasks:
        raise UsageError("name a task or pass --all")
    ids = store.task_ids() if all_tasks else [store.resolve(task or "")]
    # Every name under tasks/, a task id or not: verify_task says what a stray entry is.
    reports = [verify_task(store.ops, store.entry_path(i), i) for i in ids]
    if as_json:
        print_json(
            [
                {
                    "task_id": r.task_id,
                    "ok": r.is_ok,
                    "events": r.events,
                    "segments": r.segments,
                    "snapshots": r.snapshots,
                    "torn_tail_bytes": r.torn_tail_bytes,
                    "problems": [asdict(p) for p in r.problems],
                }
                for r in reports
            ]
        )
    else:
        out = stdout()
        for r in reports:
            verdict = "[green]ok[/]" if r.is_ok else "[red]CORRUPT[/]"
            extra = (
                f", torn tail of {plural(r.torn_tail_bytes, 'byte')}" if r.torn_tail_bytes else ""
            )
            out.print(
                f"{r.task_id}  {verdict}  {plural(r.events, 'event')} in "
                f"{plural(r.segments, 'segment')}, {plural(r.snapshots, 'snapshot')}{extra}"
            )
            for p in r.problems:
                where = f" at byte {p.offset}" if p.offset is not None else ""
                after = (
                    f"; next valid record at byte {p.next_valid_offset}"
                    if p.next_valid_offset is not None
                    else ""
                )
                out.print(f"  {p.file}{where}: {p.reason}{after}", markup=False)
        if not reports:
            out.print("no tasks")
    return EXIT_OK if all(r.is_ok for r in reports) else EXIT_FAILED


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""
    app.command()(verify)
