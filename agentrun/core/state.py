"""``State = fold(events)``: everything known about a task, derived from its log (design §2).

The fold is pure: ``fold(events, base)`` never changes ``base``; it works on a private copy, so
folding 10^5 events stays linear. Snapshots are ``State.to_dict()`` and a cache only: folding from
a snapshot must give the same answer as folding from the start (tests/core/test_state.py).
No I/O and no clock here.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from agentrun.core.context import DEFAULT_TOOL_OUTPUT_TOKENS, cap_tool_output, context_view
from agentrun.core.events import (
    CancelRequested,
    ContextCompacted,
    Event,
    ModelResponded,
    RunStarted,
    RunStopped,
    TaskCreated,
    TaskFinished,
    TaskSquashed,
    ToolCompleted,
    ToolIntended,
    ToolResolved,
)
from agentrun.core.pages import PagedList, as_list
from agentrun.core.tokens import message_tokens

# Task statuses as the log defines them. ``running`` means a run started and has not ended in
# the log; whether a process still holds it is a question for the claim, not the fold.
QUEUED, RUNNING, PAUSED, NEEDS_ATTENTION = "queued", "running", "paused", "needs_attention"
SUCCEEDED, FAILED, CANCELLED = "succeeded", "failed", "cancelled"
FINAL_STATUSES = (SUCCEEDED, FAILED, CANCELLED)

# Sums of floats are kept rounded, so `0.1 + 0.2` shows as 0.3 and never as
# 0.30000000000000004: timestamps have microseconds, and prices with up to six decimals per
# million tokens make turn costs of at most twelve decimals (docs/decisions.md).
SECONDS_DECIMALS = 6
USD_DECIMALS = 12
ROUNDED_SUMS = {"active_seconds": SECONDS_DECIMALS, "cost_usd": USD_DECIMALS}

# Call statuses in ``State.calls``.
CALL_REQUESTED = "requested"  # the model asked; nothing durable has happened yet
CALL_APPROVED = "approved"  # a person said yes; intent not yet written
CALL_INTENDED = "intended"  # tool_intended is durable; the outcome is unknown until completed
CALL_DONE = "done"  # the result is recorded (completed, denied, skipped or result given)


@dataclass(slots=True)
class State:
    """The folded state of one task. Treat it as a value; only ``fold`` builds it."""

    task_id: str = ""
    goal: str = ""
    agent: dict[str, Any] = field(default_factory=dict)
    workspace: str | None = None
    parent: dict[str, Any] | None = None
    created_at: str = ""
    updated_at: str = ""
    last_seq: int = 0
    status: str = QUEUED
    stop_reason: str | None = None
    stop_detail: str = ""
    outcome: str | None = None
    answer: str = ""
    check: dict[str, Any] | None = None
    # A plain list, or a PagedList when the state came from a snapshot (``core.pages``).
    messages: list[dict[str, Any]] | PagedList = field(default_factory=list)
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    steps: int = 0
    tool_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    attempts: int = 0
    crashes: int = 0
    run: dict[str, Any] | None = None
    active_seconds: float = 0.0
    cancel_requested: bool = False
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    replayed_results: int = 0
    needed_person: bool = False
    compactions: list[dict[str, Any]] = field(default_factory=list)
    # Context edits by message index (as a string): a replacement message, or None if dropped.
    compacted: dict[str, Any] = field(default_factory=dict)
    # tool_resolved events counted by decision, then by who decided: {"retried": {"runtime": 2}}
    resolutions: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A map of the fields; ``from_dict`` inverts it.

        Shallow: the map shares the state's lists and dicts, so treat it as read-only (``fold``
        and ``from_dict`` copy what they keep). ``messages`` may be a ``PagedList``; use
        ``to_plain_dict`` for JSON or an event.
        """
        return {name: getattr(self, name) for name in _FIELD_NAMES}

    def to_plain_dict(self) -> dict[str, Any]:
        """``to_dict`` with the conversation as a plain list (reads every page)."""
        return {**self.to_dict(), "messages": as_list(self.messages)}

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, copy_values: bool = True) -> State:
        """Rebuild a state from ``to_dict`` output.

        Deep-copied, so the input stays untouched, unless ``copy_values`` is false: then the
        state takes ownership of ``data``'s values (for a freshly decoded snapshot, where a copy
        would only cost time).
        """
        known = set(_FIELD_NAMES)
        if not copy_values:
            state = cls(**{k: v for k, v in data.items() if k in known})
        else:
            state = cls(**{k: copy.deepcopy(v) for k, v in data.items() if k in known})
        # A snapshot or a squash written before the fold kept these sums rounded: the same
        # rounding gives what the fold gives now (docs/decisions.md).
        for name, decimals in ROUNDED_SUMS.items():
            setattr(state, name, round(getattr(state, name), decimals))
        return state

    @property
    def is_finished(self) -> bool:
        """Whether the task has ended for good (succeeded, failed or cancelled)."""
        return self.status in FINAL_STATUSES

    def context_messages(self) -> list[dict[str, Any]]:
        """The conversation as the model sees it, after compaction (``core.context``)."""
        return context_view(self.messages, self.compacted)

    def pending_calls(self) -> list[dict[str, Any]]:
        """Calls of the latest model turn whose result is not recorded, in the model's order."""
        return [c for c in self.calls.values() if c["status"] != CALL_DONE]

    def in_doubt_calls(self) -> list[dict[str, Any]]:
        """Calls whose intent is durable but whose outcome is unknown."""
        return [c for c in self.calls.values() if c["status"] == CALL_INTENDED]


_FIELD_NAMES = tuple(f.name for f in fields(State))


def fold(events: Any, base: State | None = None) -> State:
    """Apply ``events`` (an iterable, in seq order) to a copy of ``base`` (or an empty state)."""
    state = State.from_dict(base.to_dict()) if base is not None else State()
    for event in events:
        apply(state, event)
    return state


def apply(state: State, event: Event) -> None:
    """Apply one event to ``state`` in place; ``fold`` is the only public caller."""
    previous_ts = state.updated_at
    state.last_seq = event.seq
    state.updated_at = event.ts
    # The gap before a run_started is downtime (a crash, a kill, a reboot), not work.
    if state.status == RUNNING and previous_ts and type(event) is not RunStarted:
        gap = max(0.0, _seconds_between(previous_ts, event.ts))
        state.active_seconds = round(state.active_seconds + gap, SECONDS_DECIMALS)
    handler = _HANDLERS.get(type(event))
    if handler is not None:
        handler(state, event)


def _task_created(state: State, e: TaskCreated) -> None:
    state.task_id, state.goal, state.agent = e.task_id, e.goal, e.agent
    state.workspace, state.parent, state.created_at = e.workspace, e.parent, e.ts
    state.messages = list(e.messages)
    # A fork starts from its parent's conversation and counts the parent's model turns as its
    # own steps, so a scripted model continues its script and max_steps covers the whole
    # conversation; tokens, cost and time count only what this task spends (docs/cli.md).
    inherited = (e.parent or {}).get("steps")
    state.steps = inherited if type(inherited) is int and inherited > 0 else 0


def _run_started(state: State, e: RunStarted) -> None:
    if state.status == RUNNING:
        state.crashes += 1  # the previous run ended without a word: it crashed or was killed
    if e.budget:
        state.agent = {**state.agent, "budget": {**state.agent.get("budget", {}), **e.budget}}
    state.status = RUNNING
    state.stop_reason, state.stop_detail = None, ""
    state.attempts = max(state.attempts, e.attempt)
    state.run = {"pid": e.pid, "host": e.host, "since": e.ts, "attempt": e.attempt}


def _paid(state: State, usage: dict[str, Any], cost_usd: float | None) -> None:
    """Count what a model request cost: a turn, a summary, or a reply that was refused."""
    state.input_tokens += int(usage.get("input_tokens", 0))
    state.output_tokens += int(usage.get("output_tokens", 0))
    state.cost_usd = add_usd(state.cost_usd, cost_usd)


def _model_responded(state: State, e: ModelResponded) -> None:
    state.steps += 1
    _paid(state, e.usage, e.cost_usd)
    state.messages.append({**e.message, "seq": e.seq, "tokens": message_tokens(e.message)})
    # A new turn replaces the finished calls of the previous one.
    state.calls = {k: c for k, c in state.calls.items() if c["status"] != CALL_DONE}
    for index, call in enumerate(e.message.get("tool_calls") or ()):
        if not isinstance(call, dict):
            continue  # not a call: nothing can be run or answered
        state.tool_calls += 1
        call_id = call.get("id") or f"call-{e.seq}-{index}"
        state.calls[call_id] = {
            "call_id": call_id,
            "tool": call.get("name", ""),
            "arguments": call.get("arguments") or {},
            "status": CALL_REQUESTED,
            "turn_seq": e.seq,
            "intent_seq": None,
            "effect": None,
            "idempotency_key": None,
            "approved": False,
        }


def _tool_intended(state: State, e: ToolIntended) -> None:
    call = _call(state, e.call_id, e.tool, e.arguments)
    call["status"] = CALL_INTENDED
    call["effect"], call["idempotency_key"] = e.effect, e.idempotency_key
    if call["intent_seq"] is None:
        call["intent_seq"] = e.seq


def _tool_completed(state: State, e: ToolCompleted) -> None:
    call = _call(state, e.call_id, "", {})
    _record_result(state, call, e.output, e.is_error, e.seq)
    for change in e.files:
        earlier = state.files.get(change["path"])
        state.files[change["path"]] = {
            # the content before the task first changed the file, so show/diff say "created"
            "before": earlier["before"] if earlier is not None else change.get("before"),
            "after": change.get("after"),
            "seq": e.seq,
        }


def _tool_resolved(state: State, e: ToolResolved) -> None:
    call = _call(state, e.call_id, "", {})
    call.setdefault("resolutions", []).append({"decision": e.decision, "by": e.by, "seq": e.seq})
    by_whom = state.resolutions.setdefault(e.decision, {})
    by_whom[e.by] = by_whom.get(e.by, 0) + 1
    if e.by == "user":
        state.needed_person = True
    if e.decision == "approved":
        call["approved"] = True
        call["status"] = CALL_APPROVED if call["status"] == CALL_REQUESTED else call["status"]
    elif e.decision == "retried":
        call["status"] = CALL_APPROVED  # run again with the same idempotency key
    elif e.decision == "denied":
        _record_result(state, call, "denied: a person refused this call", True, e.seq)
    elif e.decision == "skipped":
        _record_result(state, call, "skipped: the outcome of this call is unknown", True, e.seq)
    elif e.decision in ("result", "reconciled"):
        _record_result(state, call, e.output or "", False, e.seq)
    if state.status == NEEDS_ATTENTION and not any(
        c["status"] == CALL_INTENDED for c in state.calls.values()
    ):
        state.status = PAUSED


def _cancel_requested(state: State, e: CancelRequested) -> None:
    state.cancel_requested = True


def _context_compacted(state: State, e: ContextCompacted) -> None:
    _paid(state, e.usage, e.cost_usd)
    state.compactions.append(
        {"seq": e.seq, "tokens_before": e.tokens_before, "tokens_after": e.tokens_after}
    )
    for item in e.replacements:  # the originals stay in state.messages (and in the log)
        index = item.get("index")
        if isinstance(index, int) and 0 <= index < len(state.messages):
            state.compacted[str(index)] = item.get("message")


def _run_stopped(state: State, e: RunStopped) -> None:
    _paid(state, e.usage, e.cost_usd)
    state.status = NEEDS_ATTENTION if e.reason == "needs_attention" else PAUSED
    state.stop_reason, state.stop_detail = e.reason, e.detail
    if e.reason == "needs_attention":
        state.needed_person = True


def _task_finished(state: State, e: TaskFinished) -> None:
    state.status = e.outcome
    state.outcome, state.answer, state.check = e.outcome, e.answer, e.check
    state.stop_reason = None


def _task_squashed(state: State, e: TaskSquashed) -> None:
    squashed = State.from_dict(e.state)
    for name in State.__slots__:  # type: ignore[attr-defined]
        setattr(state, name, getattr(squashed, name))
    state.last_seq, state.updated_at = e.seq, e.ts


def _call(state: State, call_id: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    call = state.calls.get(call_id)
    if call is None:
        call = state.calls[call_id] = {
            "call_id": call_id,
            "tool": tool,
            "arguments": arguments,
            "status": CALL_REQUESTED,
            "turn_seq": None,
            "intent_seq": None,
            "effect": None,
            "idempotency_key": None,
            "approved": False,
        }
    return call


def _record_result(
    state: State, call: dict[str, Any], output: str, is_error: bool, seq: int
) -> None:
    call["status"], call["result_seq"], call["is_error"] = CALL_DONE, seq, is_error
    cap = (state.agent.get("context") or {}).get("tool_output_tokens", DEFAULT_TOOL_OUTPUT_TOKENS)
    message = {
        "role": "tool",
        "content": cap_tool_output(output, len(state.messages) + 1, cap),
        "tool_call_id": call["call_id"],
        "name": call["tool"],
        "seq": seq,
    }
    message["tokens"] = message_tokens(message)
    state.messages.append(message)


def add_usd(total: float, cost: float | None) -> float:
    """``total + cost`` (``None`` counts as nothing), rounded to ``USD_DECIMALS``."""
    return round(total + (cost or 0.0), USD_DECIMALS)


def _seconds_between(start: str, end: str) -> float:
    try:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except (ValueError, TypeError):  # unparsable, or one with and one without a UTC offset
        return 0.0


_HANDLERS: dict[type[Event], Any] = {
    TaskCreated: _task_created,
    RunStarted: _run_started,
    ModelResponded: _model_responded,
    ToolIntended: _tool_intended,
    ToolCompleted: _tool_completed,
    ToolResolved: _tool_resolved,
    CancelRequested: _cancel_requested,
    ContextCompacted: _context_compacted,
    RunStopped: _run_stopped,
    TaskFinished: _task_finished,
    TaskSquashed: _task_squashed,
}
