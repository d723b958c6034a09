"""``agentrun batch``, ``cancel`` and ``prune``: queued work from cron; keeping the home small."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from agentrun.cli.output import print_json
from agentrun.cli.settings import settings
from agentrun.cli.wording import format_bytes, outcome_line, plural
from agentrun.core.errors import EXIT_OK, UsageError


def batch(
    ctx: typer.Context,
    max_time: Annotated[
        str | None,
        typer.Option(
            "--max-time", metavar="DURATION", help="Wall time for the whole batch, e.g. 55m."
        ),
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-j", metavar="N", help="Tasks at once.")
    ] = 1,
    limit: Annotated[
        int | None, typer.Option("--limit", metavar="N", help="Tasks at most.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the summary.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> int:
    """Run queued and interrupted tasks until none is left or time is up (for cron)."""
    from agentrun.core.durations import parse_duration
    from agentrun.runtime.batch import BatchOptions, run_batch
    from agentrun.runtime.signals import StopFlag, stop_on_signals

    if concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    if limit is not None and limit < 1:
        raise UsageError("--limit must be at least 1")
    options = BatchOptions(
        max_time_s=parse_duration(max_time) if max_time else None,
        concurrency=concurrency,
        limit=limit,
    )

    def progress(entry: dict[str, object]) -> None:
        # On stderr, with --json too: stdout stays one document, and a batch cut short by
        # cron's timeout has still named each task it finished (docs/cron.md).
        if not quiet:
            message = entry.get("message")
            line = outcome_line(str(entry["task_id"]), str(entry["status"]), str(message or ""))
            print(line, file=sys.stderr)

    flag = StopFlag()
    with stop_on_signals(flag):
        report = run_batch(settings(ctx).store(), options, flag, on_task_done=progress)
    summary = report.to_dict()
    if as_json:
        print_json(summary)
    else:
        print(
            f"batch: {summary['succeeded']} succeeded, {summary['failed']} failed, "
            f"{summary['paused']} paused, "
            f"{plural(summary['needs_attention'], 'needs attention', 'need attention')}, "
            f"{summary['cancelled']} cancelled, {summary['skipped_claimed']} skipped (claimed "
            f"elsewhere), {summary['not_started']} not started"
        )
    if report.stopped_by is not None:
        return flag.exit_code
    return report.exit_code


def cancel(
    ctx: typer.Context,
    task: Annotated[str, typer.Argument(help="Task id or prefix.")],
) -> int:
    """Stop a task: queued or paused ones at once, a running one at its next safe point."""
    import getpass
    import socket

    from agentrun.runtime.cancel import cancel_task

    store = settings(ctx).store()
    task_id = store.resolve(task)
    who = f"{getpass.getuser()}@{socket.gethostname()} (pid {os.getpid()})"
    print(cancel_task(store, task_id, who), file=sys.stderr)
    return EXIT_OK


def prune(
    ctx: typer.Context,
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than", metavar="DURATION", help="Only tasks finished longer ago, e.g. 30d."
        ),
    ] = None,
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            metavar="STATUS",
            help="succeeded, failed or cancelled (repeat; default all).",
        ),
    ] = None,
    keep: Annotated[
        int, typer.Option("--keep", metavar="N", help="Keep the N newest finished tasks.")
    ] = 0,
    squash: Annotated[
        bool, typer.Option("--squash", help="Keep final state and stats, drop the step log.")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Change nothing; report.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON document.")] = False,
) -> int:
    """Delete or squash finished tasks by age and status; report the bytes freed."""
    from agentrun.core.durations import parse_duration
    from agentrun.runtime.prune import plan_prune
    from agentrun.runtime.prune import prune as run_prune

    older_than_s = parse_duration(older_than) if older_than else None
    store = settings(ctx).store()
    ids = plan_prune(
        store, older_than_s=older_than_s, statuses=tuple(status or ()), keep=keep, squash=squash
    )
    if ids and not dry_run and not yes:
        tasks = plural(len(ids), "task")
        if not sys.stdin.isatty():
            raise UsageError(
                f"prune would {'squash' if squash else 'delete'} {tasks}; pass --yes "
                "to confirm (or --dry-run to see which)"
            )
        if not typer.confirm(f"{'Squash' if squash else 'Delete'} {tasks}?"):
            return EXIT_OK
    report = run_prune(store, ids, squash=squash, dry_run=dry_run)
    if as_json:
        print_json(report.to_dict())
        return EXIT_OK
    verb = (
        ("would squash" if squash else "would delete")
        if dry_run
        else ("squashed" if squash else "deleted")
    )
    for task in report.tasks:
        print(f"{verb} {task['task_id']} ({format_bytes(task['bytes'])})")
    for skipped in report.skipped:
        print(f"skipped {skipped['task_id']}: {skipped['reason']}", file=sys.stderr)
    print(
        f"{verb} {plural(len(report.tasks), 'task')}, {format_bytes(report.bytes_freed)}",
        file=sys.stderr,
    )
    return EXIT_OK


def register(app: typer.Typer) -> None:
    """Add the commands to ``app``."""
    app.command()(batch)
    app.command()(cancel)
    app.command()(prune)
