"""``fork``: a new task that starts from another task's state at an event (design §8).

The fork's ``task_created`` carries ``parent = {task_id, seq, steps}``, the parent's goal, its
conversation at ``seq`` (``messages``, each naming the parent's event it came from as
``origin``; the goal is not part of it: ``build_messages`` adds it), and the agent: the
parent's as it was at ``seq``, or a changed one. The fold counts the parent's ``steps`` as the
fork's own, so a scripted model continues its script where the parent was. Calls that are not
settled at ``seq`` (asked for, awaiting approval, or in doubt) are refused unless the caller
drops them, which moves the fork point to just before the model turn that asked for them. A
fork is a new task, so its idempotency keys (which name the task, rule 26) differ from the
parent's. Forking only reads the parent (rule 17).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agentrun.core.codec import encode_event
from agentrun.core.errors import UsageError
from agentrun.core.events import TaskCreated
from agentrun.core.state import CALL_INTENDED, State, apply, fold
from agentrun.runtime.runner import FINISH_TOOL, now_iso
from agentrun.runtime.spec import AgentSpec, SpecOverrides, check_approve, load_spec
from agentrun.runtime.spec import _apply as apply_overrides
from agentrun.store.framing import MAX_RECORD
from agentrun.store.local import LocalTaskStore


@dataclass(frozen=True, slots=True)
class ForkResult:
    """What ``fork_task`` created: the new id and where it came from."""

    task_id: str
    parent: str
    seq: int
    steps: int
    messages: int
    agent_changed: bool
    dropped_calls: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def state_at(store: LocalTaskStore, task_id: str, seq: int) -> State:
    """The fold of the task's events up to and including ``seq``.

    Raises ``UsageError`` when ``seq`` is below 1, past the last event, or among events a
    ``prune --squash`` removed.
    """
    if seq < 1:
        raise UsageError(f"event numbers start at 1; got {seq}")
    events = store.events(task_id)
    first = next(events, None)
    if first is None:
        raise UsageError(f"task {task_id} has no events")
    if first.seq > seq:
        raise UsageError(
            f"task {task_id} was squashed by prune: events before {first.seq} are gone and "
            f"only its final state (event {first.seq}) remains"
        )
    # From the newest snapshot at or before ``seq``: looking back need not fold the whole log.
    state = store.load(task_id, upto=seq).state
    if state.last_seq < seq:
        raise UsageError(
            f"task {task_id} has {state.last_seq} events; choose an event from 1 to "
            f"{state.last_seq}"
        )
    return state


def fork_task(
    store: LocalTaskStore,
    parent_id: str,
    seq: int,
    *,
    agent_file: Path | None = None,
    overrides: SpecOverrides | None = None,
    cwd: Path | None = None,
    drop_pending: bool = False,
    task_id: str | None = None,
) -> ForkResult:
    """Create a queued fork of ``parent_id`` at ``seq``; durable before the id is returned.

    The agent is the parent's as of ``seq``; ``agent_file`` replaces it (resolved as ``start``
    does, ``overrides`` on top) and ``overrides`` alone change fields of the parent's. A changed
    agent's tools are loaded now, so a broken tools file fails here. Raises ``UsageError``
    naming the unsettled calls at ``seq`` unless ``drop_pending``, ``SpecError`` for a bad
    agent, and ``UsageError`` for a conversation too large for one record.
    """
    state = state_at(store, parent_id, seq)
    dropped: list[dict[str, Any]] = []
    while state.pending_calls():
        pending = state.pending_calls()
        if not drop_pending:
            raise UsageError(_unsettled_message(store, parent_id, seq, state, pending))
        turn_seqs = [c["turn_seq"] for c in pending if isinstance(c.get("turn_seq"), int)]
        if len(turn_seqs) != len(pending):
            raise UsageError(
                f"cannot tell which model turn asked for {pending[0]['call_id']} at event "
                f"{state.last_seq}; fork at an earlier event"
            )
        dropped += [_call_brief(c) for c in pending]
        state = state_at(store, parent_id, min(turn_seqs) - 1)
    spec = _changed_spec(state, agent_file, overrides or SpecOverrides(), cwd or Path.cwd())
    agent, workspace = _agent(state, spec)
    if not Path(workspace).is_dir():
        raise UsageError(f"workspace {workspace} is not a directory; create it or pass --workspace")
    fork_seq = state.last_seq
    parent = {"task_id": parent_id, "seq": fork_seq, "steps": state.steps}

    def created(new_id: str) -> TaskCreated:
        event = TaskCreated(
            seq=1,
            ts=now_iso(),
            task_id=new_id,
            goal=state.goal,
            agent=agent,
            workspace=workspace,
            parent=parent,
            messages=[_inherited(m, parent_id) for m in state.messages],
        )
        size = len(encode_event(event))
        if size > MAX_RECORD:
            raise UsageError(
                f"the conversation at event {fork_seq} takes {size // 1024} KiB; a fork carries it "
                f"in one record of at most {MAX_RECORD // 1024} KiB: fork at an earlier event"
            )
        return event

    new_id = store.create(created, now=datetime.now(UTC), task_id=task_id)
    return ForkResult(
        task_id=new_id,
        parent=parent_id,
        seq=fork_seq,
        steps=state.steps,
        messages=len(state.messages),
        agent_changed=spec is not None,
        dropped_calls=dropped,
        warnings=_warnings(store, parent_id, state),
    )


def _inherited(message: dict[str, Any], parent_id: str) -> dict[str, Any]:
    """A parent's message as the fork holds it: ``seq`` named the parent's event, not the fork's.

    It becomes ``origin = {task_id, seq}``, so nothing in the fork (``recall``) takes it for an
    event of the fork's own log. A message the parent itself inherited keeps its origin.
    """
    if "seq" not in message:
        return message
    kept = {k: v for k, v in message.items() if k != "seq"}
    kept["origin"] = {"task_id": parent_id, "seq": message["seq"]}
    return kept


def _changed_spec(
    state: State, agent_file: Path | None, overrides: SpecOverrides, cwd: Path
) -> AgentSpec | None:
    """The fork's new agent, or ``None`` when it keeps the parent's unchanged."""
    if agent_file is not None:
        return load_spec(agent_file, overrides, cwd=cwd)
    if overrides == SpecOverrides():
        return None
    # Relative paths in the parent's agent (tools, a scripted model) stay relative to the
    # parent's agent directory (``base_dir``); --workspace is relative to ``cwd``, as in start.
    return apply_overrides(AgentSpec.from_dict(state.agent), overrides, cwd)


def _agent(state: State, spec: AgentSpec | None) -> tuple[dict[str, Any], str]:
    if spec is None:
        return state.agent, state.workspace or state.agent.get("workspace", ".")
    from agentrun.models.registry import check_model
    from agentrun.tools.loader import load_toolbox

    toolbox = load_toolbox(spec.tools, base_dir=Path(spec.base_dir))
    check_approve(spec, [tool.name for tool in toolbox.tools()])
    check_model(spec.model, base_dir=Path(spec.base_dir))
    return {**spec.to_dict(), "manifest": toolbox.manifest()}, spec.workspace


def _call_brief(call: dict[str, Any]) -> dict[str, Any]:
    return {
        "call_id": call["call_id"],
        "tool": call["tool"],
        "status": call["status"],
        "turn_seq": call.get("turn_seq"),
    }


def _unsettled_message(
    store: LocalTaskStore, task_id: str, seq: int, state: State, pending: list[dict[str, Any]]
) -> str:
    names = ", ".join(
        f"{c['call_id']} ({c['tool']}, "
        f"{'in doubt' if c['status'] == CALL_INTENDED else 'not run yet'})"
        for c in pending
    )
    turn_seqs = [c["turn_seq"] for c in pending if isinstance(c.get("turn_seq"), int)]
    options = []
    if turn_seqs and min(turn_seqs) > 1:
        options.append(f"fork at event {min(turn_seqs) - 1} (before the turn that asked)")
    settled = _settled_after(store, task_id, seq, state)
    if settled is not None:
        options.append(f"at event {settled} (after their results)")
    options.append("or pass --drop-pending to start before that turn")
    return (
        f"task {task_id} has unsettled calls at event {seq}: {names}; a fork must start where "
        f"every call has a result: {', '.join(options)}"
    )


def _settled_after(store: LocalTaskStore, task_id: str, seq: int, base: State) -> int | None:
    """The first event after ``seq`` at which no call is pending, if the log has one."""
    state = fold((), base)
    for event in store.events(task_id, from_seq=seq + 1):
        apply(state, event)
        if not state.pending_calls():
            return event.seq
    return None


def _warnings(store: LocalTaskStore, parent_id: str, state: State) -> list[str]:
    warnings = []
    later = [
        path
        for path, info in sorted(store.load(parent_id).state.files.items())
        if info.get("seq", 0) > state.last_seq
    ]
    if later:
        shown = ", ".join(later[:5]) + (" …" if len(later) > 5 else "")
        warnings.append(
            f"the parent changed {shown} after event {state.last_seq}; the workspace holds "
            "those later versions (agentrun does not roll files back)"
        )
    if _ends_the_task(state.messages):
        warnings.append(
            f"the conversation at event {state.last_seq} already ends with a final answer, so "
            "the fork will finish at once; fork at an earlier event to let the agent work"
        )
    return warnings


def _ends_the_task(messages: list[dict[str, Any]]) -> bool:
    for message in reversed(messages):
        if message.get("role") == "assistant":
            calls = message.get("tool_calls") or []
            return not calls or any(c.get("name") == FINISH_TOOL for c in calls)
    return False
