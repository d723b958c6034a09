"""What changed in a task between two points, and where two runs part ways (``agentrun diff``).

``diff_range`` folds a range of events onto the state before it and says what they changed:
status, messages, tool calls with their results, files, usage. ``run_steps`` turns a task's
events into steps (a model turn with the results of its calls) and ``compare_runs`` aligns two
tasks step by step and names the first divergence. Both read through the one fold
(``core.state``), so "the state at event N" means the same here as in ``show``.
Pure: no I/O and no clock here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from agentrun.core.events import (
    Event,
    ModelResponded,
    TaskCreated,
    ToolCompleted,
    ToolIntended,
    ToolResolved,
)
from agentrun.core.state import SECONDS_DECIMALS, USD_DECIMALS, State, apply, fold

# How a tool call in a range ended (``CallChange.outcome``).
COMPLETED, FAILED, PENDING, IN_DOUBT = "completed", "failed", "pending", "in_doubt"
_DECIDED = {
    "denied": "denied",
    "skipped": "skipped",
    "result": "result",
    "reconciled": "reconciled",
}

# What differs between two aligned steps (``Divergence.differences``).
ONLY_IN_A, ONLY_IN_B = "only_in_a", "only_in_b"
TEXT, TOOL_CALLS, RESULTS = "text", "tool_calls", "results"


@dataclass(frozen=True, slots=True)
class CallChange:
    """A tool call that happened (or was asked for) in a range, with how it ended.

    ``outcome``: completed, failed (the tool returned an error), denied, skipped, result (a
    person gave it), reconciled, pending (asked for, not started) or in_doubt (started, outcome
    not recorded). ``output`` is the recorded result, when there is one.
    """

    call_id: str
    tool: str
    arguments: dict[str, Any]
    effect: str | None
    outcome: str
    output: str | None
    seq: int
    resolutions: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class FileChange:
    """A file the task changed in the range: content hashes at both ends (``None``: absent)."""

    path: str
    before: str | None
    after: str | None
    change: str  # added, modified or deleted


@dataclass(frozen=True, slots=True)
class UsageDelta:
    """What the range cost: the difference of the usage counters at its two ends.

    Except ``tool_calls``: the calls the diff lists (asked for, run or settled in the range).
    The fold counts a call when the model asks for it, so a range that starts after the turn
    would list a call it ran while counting none.
    """

    steps: int
    tool_calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    active_seconds: float
    attempts: int


@dataclass(frozen=True, slots=True)
class StateDiff:
    """What the events after ``from_seq`` up to ``to_seq`` changed."""

    task_id: str
    from_seq: int
    to_seq: int
    events: int
    kinds: dict[str, int]
    status_before: str
    status_after: str
    outcome: str | None
    answer: str
    messages_added: list[dict[str, Any]]
    messages_replaced: list[int]
    calls: list[CallChange]
    files: list[FileChange]
    usage: UsageDelta


def diff_range(before: State, events: Iterable[Event]) -> StateDiff:
    """Apply ``events`` (in seq order, right after ``before``) to a copy and describe the change.

    ``before`` is left untouched; ``events`` is read once, so it may be a stream.
    """
    after = fold((), before)
    kinds: dict[str, int] = {}
    calls: dict[str, dict[str, Any]] = {}
    first_before: dict[str, str | None] = {}
    count = 0
    for event in events:
        apply(after, event)
        count += 1
        kinds[event.kind] = kinds.get(event.kind, 0) + 1
        _track_call(calls, event)
        if isinstance(event, ToolCompleted):
            for change in event.files:
                first_before.setdefault(change.get("path", ""), change.get("before"))
    return StateDiff(
        task_id=after.task_id,
        from_seq=before.last_seq,
        to_seq=after.last_seq,
        events=count,
        kinds=kinds,
        status_before=before.status,
        status_after=after.status,
        outcome=after.outcome if after.outcome != before.outcome else None,
        answer=after.answer if after.outcome != before.outcome else "",
        messages_added=after.messages[len(before.messages) :],
        messages_replaced=[
            i
            for i, (old, new) in enumerate(zip(before.messages, after.messages, strict=False))
            if old != new
        ],
        calls=[_frozen_call(c) for c in calls.values()],
        files=_file_changes(before, after, first_before),
        usage=UsageDelta(
            steps=after.steps - before.steps,
            tool_calls=len(calls),
            input_tokens=after.input_tokens - before.input_tokens,
            output_tokens=after.output_tokens - before.output_tokens,
            cost_usd=round(after.cost_usd - before.cost_usd, USD_DECIMALS),
            active_seconds=round(after.active_seconds - before.active_seconds, SECONDS_DECIMALS),
            attempts=after.attempts - before.attempts,
        ),
    )


def _track_call(calls: dict[str, dict[str, Any]], event: Event) -> None:
    if isinstance(event, ModelResponded):
        for call in event.message.get("tool_calls") or ():
            calls[call["id"]] = {
                "call_id": call["id"],
                "tool": call["name"],
                "arguments": call.get("arguments") or {},
                "effect": None,
                "outcome": PENDING,
                "output": None,
                "seq": event.seq,
                "resolutions": [],
            }
        return
    call_id = getattr(event, "call_id", None)
    if call_id is None:
        return
    call = calls.setdefault(
        call_id,
        {
            "call_id": call_id,
            "tool": getattr(event, "tool", ""),
            "arguments": getattr(event, "arguments", {}),
            "effect": None,
            "outcome": PENDING,
            "output": None,
            "seq": event.seq,
            "resolutions": [],
        },
    )
    if isinstance(event, ToolIntended):
        call["effect"], call["outcome"] = event.effect, IN_DOUBT
    elif isinstance(event, ToolCompleted):
        call["outcome"] = FAILED if event.is_error else COMPLETED
        call["output"] = event.output
    elif isinstance(event, ToolResolved):
        call["resolutions"].append({"decision": event.decision, "by": event.by, "seq": event.seq})
        if event.decision in _DECIDED:
            call["outcome"] = _DECIDED[event.decision]
            call["output"] = event.output
        elif event.decision == "retried":
            call["outcome"] = PENDING  # it will run again under the same idempotency key


def _frozen_call(call: dict[str, Any]) -> CallChange:
    return CallChange(**{**call, "resolutions": tuple(call["resolutions"])})


def _file_changes(
    before: State, after: State, first_before: dict[str, str | None]
) -> list[FileChange]:
    changes = []
    for path, info in sorted(after.files.items()):
        old = before.files.get(path)
        if old == info:
            continue
        start = old.get("after") if old is not None else first_before.get(path, info.get("before"))
        end = info.get("after")
        if start == end:
            continue  # changed and changed back: nothing differs between the two points
        kind = "added" if start is None else "deleted" if end is None else "modified"
        changes.append(FileChange(path=path, before=start, after=end, change=kind))
    return changes


# -- two runs, step by step -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepCall:
    """A tool call of a step and the result the model was given (``None``: none yet)."""

    name: str
    arguments: dict[str, Any]
    output: str | None


@dataclass(frozen=True, slots=True)
class Step:
    """One model turn and the results of its calls.

    ``seq`` is the turn's ``model_responded`` in this task; ``None`` when the task inherited the
    turn from its parent (a fork) or the event is gone (a squashed task).
    """

    number: int
    seq: int | None
    inherited: bool
    text: str
    calls: tuple[StepCall, ...]

    def differences(self, other: Step) -> tuple[str, ...]:
        """Codes of what differs from ``other``: text, tool_calls, results.

        Each is checked on its own: calls with other arguments may also have other results.
        """
        found = []
        if self.text != other.text:
            found.append(TEXT)
        if [(c.name, c.arguments) for c in self.calls] != [
            (c.name, c.arguments) for c in other.calls
        ]:
            found.append(TOOL_CALLS)
        if [c.output for c in self.calls] != [c.output for c in other.calls]:
            found.append(RESULTS)
        return tuple(found)


@dataclass(frozen=True, slots=True)
class Run:
    """A task as ``compare_runs`` sees it: its final state and its steps."""

    task_id: str
    state: State
    steps: list[Step]


def run_steps(events: Iterable[Event]) -> Run:
    """Fold a task's events and cut its conversation into steps, with the seq of each turn."""
    seqs: list[int] = []
    inherited: list[int] = [0]

    def tap(stream: Iterable[Event]) -> Iterator[Event]:
        for event in stream:
            if isinstance(event, ModelResponded):
                seqs.append(event.seq)
            elif isinstance(event, TaskCreated):
                inherited[0] = sum(1 for m in event.messages if m.get("role") == "assistant")
            yield event

    state = fold(tap(events))
    steps: list[Step] = []
    for message, results in _turns(state.messages):
        index = len(steps)
        own = index - inherited[0]
        is_inherited = own < 0
        seq = seqs[own] if not is_inherited and own < len(seqs) else None
        calls = tuple(
            StepCall(c["name"], c.get("arguments") or {}, results.get(c["id"]))
            for c in message.get("tool_calls") or ()
        )
        steps.append(Step(index + 1, seq, is_inherited, message.get("content") or "", calls))
    return Run(state.task_id, state, steps)


def _turns(messages: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, str]]]:
    """``(assistant message, {call id: result})`` for each model turn of a conversation."""
    current: tuple[dict[str, Any], dict[str, str]] | None = None
    for message in messages:
        role = message.get("role")
        if role == "assistant":
            if current is not None:
                yield current
            current = (message, {})
        elif role == "tool" and current is not None:
            current[1][message.get("tool_call_id") or ""] = message.get("content") or ""
    if current is not None:
        yield current


@dataclass(frozen=True, slots=True)
class ForkLink:
    """One task is a fork of the other: ``child`` started from ``parent``'s state at ``seq``.

    ``step`` is the first step the child ran itself (its earlier steps are the parent's).
    """

    parent: str
    child: str
    seq: int
    step: int


@dataclass(frozen=True, slots=True)
class StepPair:
    """Step ``number`` of both runs (``None`` where a run has no such step) and what differs."""

    number: int
    a: Step | None
    b: Step | None
    differences: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RunComparison:
    """Two runs aligned step by step.

    ``common_steps`` leading steps are the same; ``first_divergence`` is the first that is not
    (``None``: the runs took the same steps); ``after`` holds every step pair from it on.
    ``at_fork_point`` says the divergence is the first step a fork ran itself.
    """

    task_a: str
    task_b: str
    steps_a: int
    steps_b: int
    common_steps: int
    first_divergence: StepPair | None
    at_fork_point: bool
    fork: ForkLink | None
    after: list[StepPair] = field(default_factory=list)


def compare_runs(a: Run, b: Run) -> RunComparison:
    """Align ``a`` and ``b`` by step number and find where they first differ."""
    pairs = []
    for index in range(max(len(a.steps), len(b.steps))):
        sa = a.steps[index] if index < len(a.steps) else None
        sb = b.steps[index] if index < len(b.steps) else None
        if sa is None:
            diffs: tuple[str, ...] = (ONLY_IN_B,)
        elif sb is None:
            diffs = (ONLY_IN_A,)
        else:
            diffs = sa.differences(sb)
        pairs.append(StepPair(index + 1, sa, sb, diffs))
    first = next((i for i, p in enumerate(pairs) if p.differences), None)
    link = fork_link(a, b)
    divergence = pairs[first] if first is not None else None
    return RunComparison(
        task_a=a.task_id,
        task_b=b.task_id,
        steps_a=len(a.steps),
        steps_b=len(b.steps),
        common_steps=first if first is not None else len(pairs),
        first_divergence=divergence,
        at_fork_point=bool(link and divergence and divergence.number == link.step),
        fork=link,
        after=pairs[first:] if first is not None else [],
    )


def fork_link(a: Run, b: Run) -> ForkLink | None:
    """How ``a`` and ``b`` are related by a fork, if one is the other's direct child."""
    for parent, child in ((a, b), (b, a)):
        info = child.state.parent or {}
        if info.get("task_id") == parent.task_id and isinstance(info.get("seq"), int):
            steps = info.get("steps")
            first_own = (steps if isinstance(steps, int) else 0) + 1
            return ForkLink(parent.task_id, child.task_id, info["seq"], first_own)
    return None
