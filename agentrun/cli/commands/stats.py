"""``agentrun stats``: outcome SLOs (completion and success rates, steps, time, tokens, people).

Reads summaries only, like ``ls`` (rule 17); the computation is ``core.stats``. A summary
written before it counted ``resolutions`` is completed from the task's folded state.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agentrun.cli.settings import settings
from agentrun.cli.wording import naming_task
from agentrun.core.errors import AgentrunError, InvalidIdError, TaskNotFoundError

if TYPE_CHECKING:
    from agentrun.store.local import LocalTaskStore

# Views (and the events and fold they import) are imported by the command: every command's
# start-up, ``--help`` included, pays for what this module imports at the top.


def stats(
    ctx: typer.Context,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", metavar="DURATION", help="Only tasks created in this window, e.g. 7d."
        ),
    ] = None,
    agent: Annotated[
        str | None, typer.Option("--agent", metavar="NAME", help="Only this agent's tasks.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON document.")] = False,
) -> int:
    """Outcome SLOs: completion and success rates, time and steps per task, tokens, cost."""
    from agentrun.cli.output import print_json, stdout
    from agentrun.cli.views import to_json
    from agentrun.core.durations import parse_duration
    from agentrun.core.stats import compute_stats

    since_s = parse_duration(since) if since is not None else None
    store = settings(ctx).store()
    report = compute_stats(
        _summaries(store), now=datetime.now(UTC), since_s=since_s, agent=agent or None
    )
    if as_json:
        print_json(to_json(report))
    else:
        from agentrun.cli.renderers import render_stats

        render_stats(stdout(), report)
    return 0


def _summaries(store: LocalTaskStore) -> list[dict[str, Any]]:
    from agentrun.cli.output import warn
    from agentrun.cli.views import live_status
    from agentrun.core.state import RUNNING

    found = []
    for task_id in store.task_ids():
        try:
            summary = dict(store.summary(task_id))
            if "resolutions" not in summary:
                summary["resolutions"] = store.load(task_id).state.resolutions
        except TaskNotFoundError:
            continue
        except InvalidIdError:
            from agentrun.cli.listing import warn_if_stray_directory

            warn_if_stray_directory(store, task_id)
            continue
        except AgentrunError as exc:
            warn(naming_task(task_id, exc, "left out"))
            continue
        claimed = summary["status"] == RUNNING and store.is_claimed(task_id)
        summary["status"] = live_status(summary["status"], claimed)
        found.append(summary)
    return found


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""
    app.command()(stats)
