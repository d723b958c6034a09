"""``batch``: claim and run queued and interrupted tasks until none is left or time is up (cron).

Each task is claimed by exactly one process: the claim (a held flock) decides, so overlapping
cron runs only skip each other's tasks. Tasks run N at a time in threads of this process, oldest
first, unattended (approvals and in-doubt calls follow the agent's ``[policy]``). A new task is
started only while the remaining time can hold a typical task of this batch; at the deadline
running tasks stop at a safe point, paused and resumable.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from agentrun.core.errors import (
    EXIT_FAILED,
    EXIT_NEEDS_ATTENTION,
    EXIT_OK,
    EXIT_PAUSED,
    AgentrunError,
    ClaimedError,
)
from agentrun.runtime.reporter import SilentReporter
from agentrun.runtime.runner import Runner, RunOptions
from agentrun.runtime.signals import StopFlag
from agentrun.store.local import LocalTaskStore

# Paused runs that the next batch should pick up by itself; a budget stop needs a person.
RESUMABLE_STOPS = ("deadline", "signal", "error")


@dataclass(frozen=True, slots=True)
class BatchOptions:
    """Limits of one batch: seconds of wall time, tasks at once, tasks in all."""

    max_time_s: float | None = None
    concurrency: int = 1
    limit: int | None = None


@dataclass(slots=True)
class BatchReport:
    """What a batch did, task by task, and the counts cron cares about."""

    tasks: list[dict[str, Any]] = field(default_factory=list)
    skipped_claimed: list[str] = field(default_factory=list)
    not_started: list[str] = field(default_factory=list)
    stopped_by: str | None = None

    def count(self, status: str) -> int:
        """How many tasks ended this batch with ``status``."""
        return sum(1 for t in self.tasks if t["status"] == status)

    @property
    def exit_code(self) -> int:
        """Worst first: failed (1), needs attention (3), work left (4), else 0."""
        statuses = {t["status"] for t in self.tasks}
        if statuses & {"failed", "error"}:
            return EXIT_FAILED
        if "needs_attention" in statuses:
            return EXIT_NEEDS_ATTENTION
        if "paused" in statuses or self.not_started:
            return EXIT_PAUSED
        return EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of the report."""
        return {
            "succeeded": self.count("succeeded"),
            "failed": self.count("failed") + self.count("error"),
            "cancelled": self.count("cancelled"),
            "paused": self.count("paused"),
            "needs_attention": self.count("needs_attention"),
            "skipped_claimed": len(self.skipped_claimed),
            "not_started": len(self.not_started),
            "stopped_by": self.stopped_by,
            "exit_code": self.exit_code,
            "tasks": self.tasks,
        }


def is_batch_candidate(summary: dict[str, Any]) -> bool:
    """Queued, interrupted (running in the log, nobody holds it) or paused by time or signal."""
    status = summary["status"]
    if status in ("queued", "running"):
        return True
    return status == "paused" and summary.get("stop_reason") in RESUMABLE_STOPS


def candidates(store: LocalTaskStore) -> list[str]:
    """Task ids a batch may run, oldest first (claimed ones are found out when claiming)."""
    found = []
    for task_id in store.task_ids():
        try:
            summary = store.summary(task_id)
        except AgentrunError:
            continue  # a corrupt task never runs; `agentrun verify` reports it
        if is_batch_candidate(summary):
            found.append((summary["created_at"], task_id))
    return [task_id for _created, task_id in sorted(found)]


def run_batch(
    store: LocalTaskStore,
    options: BatchOptions,
    stop: StopFlag,
    *,
    on_task_done: Callable[[dict[str, Any]], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> BatchReport:
    """Run candidates until none is left, the limit is reached, time is up, or a signal came."""
    report = BatchReport()
    started = clock()
    deadline = started + options.max_time_s if options.max_time_s is not None else None
    queue = candidates(store)
    if options.limit is not None:
        queue = queue[: options.limit]
    durations: list[float] = []
    lock = threading.Lock()

    def run_one(task_id: str) -> None:
        began = clock()
        entry: dict[str, Any] = {"task_id": task_id}
        try:
            result = Runner(
                store, task_id, SilentReporter(), RunOptions(deadline=deadline), stop
            ).run()
            if not result.ran:
                raise ClaimedError("finished by another process since this batch looked")
            entry |= {"status": result.status, "exit_code": result.exit_code}
            entry["message"] = result.message
        except ClaimedError:
            with lock:
                report.skipped_claimed.append(task_id)
            return
        except AgentrunError as exc:
            entry |= {"status": "error", "exit_code": exc.exit_code, "message": str(exc)}
        entry["seconds"] = round(clock() - began, 3)
        with lock:
            report.tasks.append(entry)
            if entry["status"] in ("succeeded", "failed", "cancelled"):
                durations.append(entry["seconds"])
        if on_task_done is not None:
            on_task_done(entry)

    with ThreadPoolExecutor(max_workers=max(1, options.concurrency)) as pool:
        running: set[Future[None]] = set()
        while queue or running:
            while queue and len(running) < max(1, options.concurrency):
                if stop.is_set:
                    break
                if deadline is not None and not _time_holds(deadline - clock(), durations):
                    report.not_started.extend(queue)
                    queue.clear()
                    break
                running.add(pool.submit(run_one, queue.pop(0)))
            if stop.is_set and not running:
                break
            if not running:
                continue
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                future.result()
    if stop.is_set:
        report.stopped_by = stop.name
        report.not_started.extend(queue)
    return report


def _time_holds(remaining: float, durations: list[float]) -> bool:
    """Whether ``remaining`` seconds can hold a typical task of this batch (median so far)."""
    if remaining <= 0:
        return False
    return not durations or remaining >= statistics.median(durations)
