"""What the read commands show, as plain frozen records: built here, drawn by ``renderers``.

One view, two renderers (style.md "Output"): a command builds a view from summaries, states or
events; ``renderers`` draws it with rich, ``to_json`` dumps it. Every computation (statuses,
ages, budgets, one-line summaries of events) happens here, none in a renderer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import datetime
from typing import Any

from agentrun.cli.wording import plural, status_words
from agentrun.core.events import (
    CancelRequested,
    ContextCompacted,
    Event,
    ModelResponded,
    RunStarted,
    RunStopped,
    TaskCreated,
    TaskFinished,
    ToolCompleted,
    ToolIntended,
    ToolResolved,
)
from agentrun.core.state import RUNNING, State

INTERRUPTED = "interrupted"
EXCERPT = 80


def to_json(view: Any) -> Any:
    """The JSON form of a view: its fields (``json_fields`` when it has one), recursively.

    Maps inside a view hold plain values from the log and are passed through as they are
    (``dataclasses.asdict`` would deep-copy them: a third of ``ls --json``'s time at 10^4 tasks).
    """
    kind = type(view)
    if kind in _PLAIN:
        return view
    if kind is list or kind is tuple:
        return [to_json(v) for v in view]
    names = _FIELD_NAMES.get(kind)
    if names is None:
        if not is_dataclass(view) or isinstance(view, type):
            return view
        names = _FIELD_NAMES[kind] = tuple(f.name for f in fields(view))
    if hasattr(view, "json_fields"):
        return view.json_fields()
    return {name: to_json(getattr(view, name)) for name in names}


_PLAIN = frozenset({str, int, float, bool, type(None), dict})
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def live_status(status: str, is_claimed: bool) -> str:
    """The status to show: a run the log calls running that no process holds is interrupted."""
    return INTERRUPTED if status == RUNNING and not is_claimed else status


# -- ls ----------------------------------------------------------------------------------------


# Unlike the other views, neither frozen nor slotted: ``ls`` builds a row per task, and a
# frozen dataclass sets each of these 22 fields through ``object.__setattr__``, which (with
# the slot reads that turned it into JSON) was a seventh of ``ls --json``'s time per task.
# Nothing changes a row after ``task_row`` built it.
@dataclass
class TaskRow:
    """One task in ``ls``: what its summary says, with the live status and its age."""

    task_id: str
    status: str
    stop_reason: str | None
    outcome: str | None
    goal: str
    agent_name: str
    created_at: str
    updated_at: str
    age_seconds: float
    last_seq: int
    steps: int
    tool_calls: int
    input_tokens: int
    output_tokens: int
    tokens: int
    cost_usd: float
    attempts: int
    active_seconds: float
    run: dict[str, Any] | None
    claimed: bool
    needed_person: bool
    parent: dict[str, Any] | None

    def json_fields(self) -> dict[str, Any]:
        """The row as JSON: its fields in order, each already a plain value.

        The row's own attribute map, not a copy (``ls`` encodes it at once): do not change it.
        """
        return vars(self)


def task_row(summary: dict[str, Any], *, is_claimed: bool, now: datetime) -> TaskRow:
    """The ``ls`` row of a summary (``store.summary``)."""
    created = summary.get("created_at") or ""
    age = (now - datetime.fromisoformat(created)).total_seconds() if created else 0.0
    tokens_in, tokens_out = summary.get("input_tokens", 0), summary.get("output_tokens", 0)
    return TaskRow(
        task_id=summary["task_id"],
        status=live_status(summary["status"], is_claimed),
        stop_reason=summary.get("stop_reason"),
        outcome=summary.get("outcome"),
        goal=summary.get("goal", ""),
        agent_name=summary.get("agent_name", ""),
        created_at=created,
        updated_at=summary.get("updated_at") or "",
        age_seconds=round(max(0.0, age), 3),
        last_seq=summary.get("last_seq", 0),
        steps=summary.get("steps", 0),
        tool_calls=summary.get("tool_calls", 0),
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        tokens=tokens_in + tokens_out,
        cost_usd=summary.get("cost_usd", 0.0),
        attempts=summary.get("attempts", 0),
        active_seconds=summary.get("active_seconds", 0.0),
        run=summary.get("run"),
        claimed=is_claimed,
        needed_person=bool(summary.get("needed_person")),
        parent=summary.get("parent"),
    )


# -- show --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BudgetUse:
    """One budget: its limit (``None``: unlimited) and how much of it the task used."""

    name: str
    limit: float | None
    used: float


@dataclass(frozen=True, slots=True)
class TaskView:
    """``show``: the folded state (as of ``at_seq``, or now) with what a person asks first.

    The JSON form is the state's own map (``State.to_dict``) plus these derived keys.
    """

    state: dict[str, Any]
    at_seq: int | None
    claimed: bool
    pending_calls: list[dict[str, Any]]
    in_doubt_calls: list[dict[str, Any]]
    budget: list[BudgetUse]
    files: list[dict[str, Any]] = field(default_factory=list)
    context: list[dict[str, Any]] = field(default_factory=list)  # as the model sees it

    def json_fields(self) -> dict[str, Any]:
        return {
            **self.state,
            "context": self.context,
            "context_tokens": sum(m.get("tokens", 0) for m in self.context),
            "at_seq": self.at_seq,
            "claimed": self.claimed,
            "pending_calls": self.pending_calls,
            "in_doubt_calls": self.in_doubt_calls,
            "budget": {b.name: {"limit": b.limit, "used": b.used} for b in self.budget},
            "changed_files": self.files,
        }


def task_view(state: State, *, at_seq: int | None, is_claimed: bool) -> TaskView:
    """The ``show`` view of a state; as of a past event the status is the log's, not live."""
    from agentrun.runtime.spec import DEFAULT_MAX_ATTEMPTS  # only `show` needs it: lazy

    data = state.to_plain_dict()
    if at_seq is None:
        data["status"] = live_status(state.status, is_claimed)
    limits = state.agent.get("budget") or {}
    used = {
        "max_steps": state.steps,
        "max_tokens": state.input_tokens + state.output_tokens,
        "max_cost_usd": state.cost_usd,
        "max_time": state.active_seconds,  # as the fold keeps it, so it equals active_seconds
        # The fold counts a crash when the next run starts; an interrupted run has crashed too.
        "max_attempts": state.crashes + (data["status"] == "interrupted"),
    }
    budget = [
        BudgetUse(
            name,
            limits.get(name, DEFAULT_MAX_ATTEMPTS if name == "max_attempts" else None),
            value,
        )
        for name, value in used.items()
    ]
    # A file whose content ended where it started did not change (as `diff` says).
    files = [
        {"path": path, **info}
        for path, info in sorted(state.files.items())
        if info.get("before") != info.get("after")
    ]
    return TaskView(
        state=data,
        at_seq=at_seq,
        claimed=is_claimed,
        pending_calls=state.pending_calls(),
        in_doubt_calls=state.in_doubt_calls(),
        budget=budget,
        files=files,
        context=state.context_messages(),
    )


# -- log ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventLine:
    """One event in ``log``: seq, time, kind, a one-line summary and a style hint."""

    seq: int
    ts: str
    kind: str
    summary: str
    tone: str  # ok, error, warn, info or plain: the renderer maps it to a colour
    task_id: str | None = None


class EventDescriber:
    """Builds ``EventLine``s, remembering which tool each call id of the current turn names.

    ``before`` is the state as of the event before the first one described (``log --from``):
    the calls it holds (the latest turn's, and any still open) name their tools, so a result
    reads the same whether or not the turn that asked for it is printed.
    """

    def __init__(self, before: State | None = None) -> None:
        self._tools: dict[str, str] = {}
        if before is not None:
            self._tools = {cid: c["tool"] for cid, c in before.calls.items() if c.get("tool")}

    def learn(self, event: Event) -> None:
        """Note the tool names of an event that is not shown (filtered out by ``--kind``)."""
        if isinstance(event, ModelResponded):
            self._tools = {c["id"]: c["name"] for c in event.message.get("tool_calls") or ()}
        elif isinstance(event, ToolIntended):
            self._tools[event.call_id] = event.tool

    def tool_of(self, call_id: str) -> str | None:
        """The tool a call id of the current turn names, if an event said so."""
        return self._tools.get(call_id)

    def line(self, event: Event, task_id: str | None = None) -> EventLine:
        if isinstance(event, ModelResponded):
            summary, tone = self._model_responded(event)
        elif isinstance(event, ToolIntended):
            self._tools[event.call_id] = event.tool
            summary, tone = (
                f"{format_call(event.tool, event.arguments)} · {event.effect} · {event.call_id}",
                "warn",
            )
        elif isinstance(event, ToolCompleted):
            summary, tone = self._tool_completed(event)
        else:
            describe = _DESCRIBE.get(event.kind)
            summary, tone = describe(event) if describe else ("", "plain")
        return EventLine(event.seq, event.ts, event.kind, summary, tone, task_id)

    def _model_responded(self, e: ModelResponded) -> tuple[str, str]:
        calls = e.message.get("tool_calls") or []
        self._tools = {c["id"]: c["name"] for c in calls}
        text = excerpt(e.message.get("content") or "", 60)
        parts = [f'"{text}"'] if text else []
        if calls:
            asked = ", ".join(format_call(c["name"], c.get("arguments")) for c in calls)
            parts.append(f"→ {asked}")
        elif not text:
            parts.append("answered")
        usage = f"{e.usage.get('input_tokens', 0)}+{e.usage.get('output_tokens', 0)} tokens"
        cost = f" · ${e.cost_usd:.4f}" if e.cost_usd else ""
        return f"{' '.join(parts)} · {usage}{cost} · {e.latency_s:.2f}s", "info"

    def _tool_completed(self, e: ToolCompleted) -> tuple[str, str]:
        head = f"{self._tools.get(e.call_id, '')} {e.call_id}".strip()
        output, verdict = e.output, ""
        # A failed tool's output starts "error: " itself (for the model): say it once.
        if e.is_error:
            output, verdict = (output or "").removeprefix("error: "), "error: "
        text = f'{head} → {verdict}"{excerpt(output, 60)}" · {e.duration_s:.2f}s'
        if e.files:
            text += f" · wrote {', '.join(str(f.get('path', '?')) for f in e.files)}"
        if e.output_blob:
            text += f" · whole output in blob {str(e.output_blob.get('sha256'))[:12]}"
        return text, "error" if e.is_error else "ok"


def _tool_resolved(e: Any) -> tuple[str, str]:
    output = f' "{excerpt(e.output, 60)}"' if e.output else ""
    return f"{e.call_id} {e.decision} by {e.by}{output}", "warn"


def _task_created(e: Any) -> tuple[str, str]:
    text = f'"{excerpt(e.goal, 60)}" · {e.agent.get("name") or "agent"} ({e.agent.get("model")})'
    if e.parent:
        text += f" · fork of {e.parent.get('task_id')} at event {e.parent.get('seq')}"
    return text, "plain"


def _run_started(e: Any) -> tuple[str, str]:
    text = f"attempt {e.attempt} · pid {e.pid} on {e.host} · agentrun {e.version}"
    if e.recovery:
        text += f" · {plural(len(e.recovery), 'recovery note')}"
    if e.budget:
        text += " · budget " + ", ".join(f"{k}={v}" for k, v in e.budget.items())
    return text, "plain"


def _task_finished(e: Any) -> tuple[str, str]:
    check = ""
    if e.check is not None:
        check = " · check " + ("passed" if e.check.get("passed") else "failed")
    return f'{e.outcome}: "{excerpt(e.answer, 80)}"{check}', (
        "ok" if e.outcome == "succeeded" else "error"
    )


_DESCRIBE: dict[str, Callable[[Any], tuple[str, str]]] = {
    ToolResolved.kind: _tool_resolved,
    TaskCreated.kind: _task_created,
    RunStarted.kind: _run_started,
    RunStopped.kind: lambda e: (
        f"{status_words(e.reason)}: {excerpt(e.detail, 100)} (exit {e.exit_code})",
        "warn",
    ),
    TaskFinished.kind: _task_finished,
    CancelRequested.kind: lambda e: (f"by {e.by}", "warn"),
    ContextCompacted.kind: lambda e: (
        f"{plural(len(e.replacements), 'message')} replaced · "
        f"{e.tokens_before} → {e.tokens_after} tokens",
        "plain",
    ),
    "task_squashed": lambda e: (
        f"squashed by prune: {plural(e.events_dropped, 'event')} replaced by the final state",
        "plain",
    ),
}


# -- text helpers (formatting only) ------------------------------------------------------------


def excerpt(text: str | None, limit: int = EXCERPT) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def format_call(name: str, arguments: dict[str, Any] | None, limit: int = 80) -> str:
    """``charge(amount=5, note="x")``, cut to ``limit`` characters."""
    args = ", ".join(
        f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in (arguments or {}).items()
    )
    return excerpt(f"{name}({args})", limit)
