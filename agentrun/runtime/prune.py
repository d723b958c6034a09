"""``prune``: delete or squash finished tasks, never one that is claimed or needs a person.

Deleting renames the task directory aside (the commit point, rule 5) before removing it;
squashing replaces the step log by the final state (``LocalTaskWriter.squash``). Both take the
task's claim first, so a running task is never touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from agentrun.core.errors import AgentrunError, ClaimedError
from agentrun.core.retention import select_for_prune
from agentrun.store.local import LocalTaskStore


@dataclass(slots=True)
class PruneReport:
    """What prune did (or would do, with ``dry_run``) and the bytes it freed."""

    dry_run: bool
    squash: bool
    tasks: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)

    @property
    def bytes_freed(self) -> int:
        """Bytes freed (or that would be, for a dry run of a delete)."""
        return sum(t["bytes"] for t in self.tasks)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "dry_run": self.dry_run,
            "action": "squash" if self.squash else "delete",
            "tasks": self.tasks,
            "skipped": self.skipped,
            "bytes_freed": self.bytes_freed,
        }


def plan_prune(
    store: LocalTaskStore,
    *,
    older_than_s: float | None,
    statuses: tuple[str, ...],
    keep: int,
    squash: bool = False,
) -> list[str]:
    """The ids prune would act on (reads summaries; to squash, leaves out squashed tasks)."""
    summaries = []
    for task_id in store.task_ids():
        try:
            summaries.append(store.summary(task_id))
        except AgentrunError:
            continue  # corrupt tasks are verify's business, not prune's
    chosen = select_for_prune(
        summaries,
        now=datetime.now(UTC),
        older_than_s=older_than_s,
        statuses=statuses,
        keep=keep,
    )
    if squash:
        # A squashed task still counts among the finished ones --keep keeps, but squashing
        # it again would change nothing.
        chosen = [task_id for task_id in chosen if not _is_squashed(store, task_id)]
    return chosen


def prune(store: LocalTaskStore, ids: list[str], *, squash: bool, dry_run: bool) -> PruneReport:
    """Delete (or squash) ``ids``; with ``dry_run`` change nothing and report sizes."""
    report = PruneReport(dry_run=dry_run, squash=squash)
    if not dry_run:
        store.remove_trash()
    for task_id in ids:
        if dry_run:
            report.tasks.append({"task_id": task_id, "bytes": store.task_bytes(task_id)})
            continue
        try:
            freed = _squash(store, task_id) if squash else store.delete(task_id)
        except ClaimedError as exc:
            report.skipped.append({"task_id": task_id, "reason": str(exc)})
            continue
        if freed is not None:
            report.tasks.append({"task_id": task_id, "bytes": freed})
    return report


def _squash(store: LocalTaskStore, task_id: str) -> int | None:
    """Squash one task and return the bytes freed; ``None`` if it is squashed already."""
    writer = store.open_writer(task_id)
    # Asked again under the claim: another prune may have squashed it since the plan.
    if _is_squashed(store, task_id):
        writer.abandon()  # nothing to change, not even the summary
        return None
    try:
        return writer.squash()
    finally:
        writer.close(snapshot=False)


def _is_squashed(store: LocalTaskStore, task_id: str) -> bool:
    try:
        return store.is_squashed(task_id)
    except AgentrunError:
        return False  # unreadable: squashing it reports the error as before
