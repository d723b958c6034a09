"""Which finished tasks ``prune`` may remove: a pure selection over task summaries.

Only finished tasks (succeeded, failed, cancelled) are ever selected; a task that is queued,
running, paused or needs a person never is. ``now`` is a parameter; no clock here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from agentrun.core.errors import UsageError
from agentrun.core.state import FINAL_STATUSES


def select_for_prune(
    summaries: Iterable[dict[str, Any]],
    *,
    now: datetime,
    older_than_s: float | None,
    statuses: Iterable[str] = (),
    keep: int = 0,
) -> list[str]:
    """Ids to prune: finished, of the given statuses, older than the cutoff, beyond the N newest.

    Raises ``UsageError`` for a status that is not a finished one.
    """
    wanted = set(statuses) or set(FINAL_STATUSES)
    bad = wanted - set(FINAL_STATUSES)
    if bad:
        raise UsageError(
            f"prune only removes finished tasks; --status must be one of "
            f"{', '.join(FINAL_STATUSES)}, not {', '.join(sorted(bad))}"
        )
    if keep < 0:
        raise UsageError("--keep must be zero or more")
    finished = sorted(
        (s for s in summaries if s["status"] in wanted),
        key=lambda s: s["updated_at"],
        reverse=True,
    )
    chosen = []
    for summary in finished[keep:]:
        if older_than_s is not None:
            age = (now - datetime.fromisoformat(summary["updated_at"])).total_seconds()
            if age < older_than_s:
                continue
        chosen.append(summary["task_id"])
    return chosen
