"""``cancel``: a queued or paused task becomes cancelled at once; a running one at a safe point."""

from __future__ import annotations

from agentrun.core.errors import ClaimedError, UsageError
from agentrun.core.events import CancelRequested, TaskFinished
from agentrun.runtime.runner import now_iso
from agentrun.store.local import LocalTaskStore


def cancel_task(store: LocalTaskStore, task_id: str, by: str) -> str:
    """Cancel ``task_id``; returns a line saying what happened.

    If another process runs the task, a request is left for it and it stops between steps
    (the runner records ``cancel_requested`` and ``task_finished``).
    """
    state = store.load(task_id).state
    if state.is_finished:
        raise UsageError(f"task {task_id} already {state.status}; nothing to cancel")
    try:
        writer = store.open_writer(task_id)
    except ClaimedError:
        store.request_cancel(task_id, by)
        try:  # the run may have ended between the two looks; then cancel here
            writer = store.open_writer(task_id)
        except ClaimedError:
            return f"task {task_id}: cancel requested; the running process stops at its next step"
    try:
        if writer.state.is_finished:
            return f"task {task_id} already {writer.state.status}"
        seq = writer.next_seq
        writer.append(
            [
                CancelRequested(seq=seq, ts=now_iso(), by=by),
                TaskFinished(seq=seq + 1, ts=now_iso(), outcome="cancelled", answer="cancelled"),
            ],
            sync=True,
        )
        writer.take_cancel_request()
        writer.forget_cancel_request()
    finally:
        writer.close()
    return f"task {task_id}: cancelled"
