"""``agentrun ls``: every task's row, newest first, as a table or as JSON.

Readers only (rule 17): summaries are read (rebuilt in memory when missing or stale, never
written). No typer here: ``dispatch`` runs ``list_tasks`` straight from the command line, and
the typer command (``commands.inspect``) calls it too. rich (the table, warnings) and the stats
module are imported where used: ``ls`` over many tasks is start-up plus a read and two stats per
task, and start-up is much of it.
"""

from __future__ import annotations

import os
import shlex
import sys
from datetime import UTC, datetime
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from agentrun.cli.bulk import json_encoder, no_cycle_collection
from agentrun.cli.views import TaskRow, task_row, to_json
from agentrun.cli.wording import naming_task
from agentrun.core.errors import AgentrunError, InvalidIdError, TaskNotFoundError, UsageError
from agentrun.core.state import RUNNING

if TYPE_CHECKING:
    from agentrun.cli.settings import Settings
    from agentrun.store.local import LocalTaskStore


def list_tasks(
    settings: Settings,
    *,
    status: str | None = None,
    limit: int | None = None,
    as_json: bool = False,
) -> int:
    """Print the rows of ``ls`` (``--status``, ``--limit``, ``--json`` as given); exit code 0.

    Raises ``UsageError`` for an unknown status or a limit below 1.
    """
    wanted = status.replace(" ", "_").replace("-", "_").lower() if status else None
    if wanted is not None:
        from agentrun.core.stats import STATUSES

        if wanted not in STATUSES:
            raise UsageError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
    if limit is not None and limit < 1:
        raise UsageError("--limit must be 1 or more")
    with no_cycle_collection():
        rows = list_rows(settings.store(), datetime.now(UTC))
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
            continue  # deleted (pruned) while we listed, or a plain file: no task
        except InvalidIdError:
            warn_if_stray_directory(store, task_id)
            continue
        except AgentrunError as exc:
            from agentrun.cli.output import warn

            line = naming_task(task_id, exc)
            hint = f"`agentrun verify {shlex.quote(task_id)}` says more"
            warn(line if "agentrun verify" in line else f"{line}; {hint}")
            continue
        # Rule 24: only a task whose log says running can be held; probe nothing else.
        claimed = summary["status"] == RUNNING and store.is_claimed(task_id)
        rows.append(task_row(summary, is_claimed=claimed, now=now))
    rows.sort(key=attrgetter("created_at", "task_id"), reverse=True)
    return rows


def warn_if_stray_directory(store: LocalTaskStore, name: str) -> None:
    """Say that ``tasks/<name>``, whose name is no task id, is ignored, if it is a directory.

    Commands over every task go on past it; a plain file there is no task either, and not
    worth a word (``verify --all`` names both).
    """
    path = store.entry_path(name)
    if os.path.isdir(path):
        from agentrun.cli.output import warn

        warn(f"{shlex.quote(path)} is not a task directory (its name is not a task id); ignored")


def print_json_rows(rows: list[dict[str, Any]]) -> None:
    """A JSON array with one row a line: one document, and fast (the C encoder, no indent)."""
    if not rows:
        sys.stdout.write("[]\n")
        return
    write = sys.stdout.write
    write("[\n")
    write(",\n".join(map(json_encoder(), rows)))
    write("\n]\n")
