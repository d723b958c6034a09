"""Creating tasks and settling calls from outside a run (``start``, ``submit``, ``resolve``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agentrun.core.errors import RecordTooLargeError, UsageError
from agentrun.core.events import TaskCreated, ToolResolved
from agentrun.core.state import CALL_DONE, CALL_INTENDED
from agentrun.runtime.runner import now_iso
from agentrun.runtime.spec import AgentSpec, check_approve
from agentrun.store.local import LocalTaskStore

RESOLUTIONS = ("approve", "deny", "retry", "skip", "result")


def create_task(
    store: LocalTaskStore, spec: AgentSpec, goal: str, *, task_id: str | None = None
) -> str:
    """Create a queued task for ``goal``; durable before the id is returned (rule 3).

    The tools are loaded and the model spec checked once here, so a broken tools file or model
    script fails now, not at 3 a.m. in cron; the tools' manifest (names, schemas, effects) is
    recorded with the agent.
    """
    from agentrun.models.registry import check_model
    from agentrun.tools.loader import load_toolbox

    if not goal.strip():
        raise UsageError("the goal is empty; say what the agent should do")
    workspace = Path(spec.workspace)
    if not workspace.is_dir():
        raise UsageError(f"workspace {workspace} is not a directory; create it or fix `workspace`")
    toolbox = load_toolbox(spec.tools, base_dir=Path(spec.base_dir))
    check_approve(spec, [tool.name for tool in toolbox.tools()])
    check_model(spec.model, base_dir=Path(spec.base_dir))
    agent: dict[str, Any] = {**spec.to_dict(), "manifest": toolbox.manifest()}

    def created(new_id: str) -> TaskCreated:
        return TaskCreated(
            seq=1, ts=now_iso(), task_id=new_id, goal=goal, agent=agent, workspace=str(workspace)
        )

    try:
        return store.create(created, now=datetime.now(UTC), task_id=task_id)
    except RecordTooLargeError as exc:
        raise UsageError(
            f"the goal and the agent take {exc.size:,} bytes, more than the {exc.limit:,} a log "
            "record holds; shorten the goal (put long material in a file in the workspace)"
        ) from None


def resolve_call(
    store: LocalTaskStore, task_id: str, call_id: str, decision: str, result: str | None = None
) -> str:
    """Record a person's decision on a pending call under the claim; returns what was done.

    ``decision`` is one of ``RESOLUTIONS``. Raises ``UsageError`` if the call is not pending or the
    decision does not fit it (approving an in-doubt call, retrying one that awaits approval).
    """
    if decision not in RESOLUTIONS:
        raise UsageError(f"unknown decision {decision!r}; use one of {', '.join(RESOLUTIONS)}")
    writer = store.open_writer(task_id)
    try:
        state = writer.state
        if state.is_finished:
            raise UsageError(
                f"task {task_id} is {state.status}; it runs no more calls, so there is nothing "
                "to resolve"
            )
        call = state.calls.get(call_id)
        if call is None or call["status"] == CALL_DONE:
            pending = ", ".join(c["call_id"] for c in state.pending_calls()) or "none"
            raise UsageError(f"task {task_id} has no pending call {call_id!r}; pending: {pending}")
        in_doubt = call["status"] == CALL_INTENDED
        if decision in ("approve", "deny") and in_doubt:
            raise UsageError(
                f"call {call_id} already started; its outcome is unknown: use --retry, --skip "
                "or --result"
            )
        if decision in ("retry", "skip", "result") and not in_doubt:
            raise UsageError(f"call {call_id} has not started; use --approve or --deny")
        output = None
        if decision == "result":
            output = _result_text(result)
        names = {"approve": "approved", "deny": "denied", "retry": "retried", "skip": "skipped"}
        event = ToolResolved(
            seq=writer.next_seq,
            ts=now_iso(),
            call_id=call_id,
            decision=names.get(decision, "result"),
            by="user",
            output=output,
        )
        writer.append([event], sync=True)
    finally:
        writer.close(snapshot=False)
    said = "result recorded" if event.decision == "result" else event.decision
    return f"call {call_id}: {said}; `agentrun resume {task_id}` continues the task"


def _result_text(result: str | None) -> str:
    if result is None:
        raise UsageError("--result needs the call's result as JSON (a string or any value)")
    try:
        value = json.loads(result)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"--result is not valid JSON ({exc}); quote a text result twice, e.g. "
            "--result '\"charged\"'"
        ) from None
    return value if isinstance(value, str) else json.dumps(value)
