"""The event kinds of the log (design §4) as frozen typed records, with strict validation.

An event on disk is one msgpack map: ``seq``, ``ts``, ``kind`` and the kind's fields. Events hold
only what is new at their step (storage grows linearly). ``from_record`` validates a decoded map
against the kind's fields (rule 31): required fields present, types exact, ints within int64;
unknown fields are ignored so older readers tolerate additive changes. No I/O here.
"""

from __future__ import annotations

import types
import typing
from dataclasses import MISSING, dataclass, field, fields
from math import isfinite
from typing import Any, ClassVar, Union

from agentrun.core.errors import CorruptRecordError, UnsupportedVersionError

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True, slots=True)
class Event:
    """Fields every event has: ``seq`` (1, 2, 3, … without gaps) and ``ts`` (ISO-8601 UTC)."""

    kind: ClassVar[str] = ""
    seq: int
    ts: str


@dataclass(frozen=True, slots=True)
class TaskCreated(Event):
    """A task exists: its goal, the agent as resolved, workspace, and parent if forked.

    ``messages`` is the conversation the task starts from (empty unless forked).
    """

    kind: ClassVar[str] = "task_created"
    task_id: str
    goal: str
    agent: dict[str, Any]
    workspace: str | None = None
    parent: dict[str, Any] | None = None
    messages: list[Any] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RunStarted(Event):
    """A process claimed the task; ``recovery`` lists what opening the log repaired or noticed.

    ``budget`` holds limits raised or set for this and later runs (``resume --max-steps …``).
    """

    kind: ClassVar[str] = "run_started"
    pid: int
    host: str
    version: str
    attempt: int
    recovery: list[Any] = field(default_factory=list)
    budget: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ModelResponded(Event):
    """A model turn returned: the assistant message, usage, model name, latency and cost."""

    kind: ClassVar[str] = "model_responded"
    message: dict[str, Any]
    usage: dict[str, Any]
    model: str
    latency_s: float = 0.0
    cost_usd: float | None = None


@dataclass(frozen=True, slots=True)
class ToolIntended(Event):
    """A tool call is about to run; durable before it starts (rule 25)."""

    kind: ClassVar[str] = "tool_intended"
    call_id: str
    tool: str
    arguments: dict[str, Any]
    effect: str
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class ToolCompleted(Event):
    """A tool call returned or raised. ``output_blob`` names a blob when the output was large."""

    kind: ClassVar[str] = "tool_completed"
    call_id: str
    output: str
    is_error: bool = False
    duration_s: float = 0.0
    files: list[Any] = field(default_factory=list)
    output_blob: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ToolResolved(Event):
    """A person or a policy settled an approval or an in-doubt call.

    ``decision``: approved, denied, retried, skipped, result (then ``output`` is the result),
    or reconciled (a reconcile function found the call had happened).
    """

    kind: ClassVar[str] = "tool_resolved"
    call_id: str
    decision: str
    by: str
    output: str | None = None


@dataclass(frozen=True, slots=True)
class CancelRequested(Event):
    """Someone asked the task to stop; the runner stops at its next safe point."""

    kind: ClassVar[str] = "cancel_requested"
    by: str


@dataclass(frozen=True, slots=True)
class ContextCompacted(Event):
    """The context was shrunk to fit; ``replacements`` say what was replaced and by what."""

    kind: ClassVar[str] = "context_compacted"
    replacements: list[Any]
    tokens_before: int = 0
    tokens_after: int = 0
    usage: dict[str, Any] = field(default_factory=dict)  # of a summary request, if one was made
    cost_usd: float | None = None


@dataclass(frozen=True, slots=True)
class RunStopped(Event):
    """A run ended without finishing the task.

    ``reason``: signal, budget, time_limit, needs_attention, error or deadline. ``usage`` and
    ``cost_usd``: a model reply that was paid for and refused (cut off, too large to record).
    """

    kind: ClassVar[str] = "run_stopped"
    reason: str
    detail: str = ""
    exit_code: int = 0
    usage: dict[str, Any] = field(default_factory=dict)
    cost_usd: float | None = None


@dataclass(frozen=True, slots=True)
class TaskFinished(Event):
    """The task ended: ``outcome`` succeeded, failed or cancelled; the answer; the check result."""

    kind: ClassVar[str] = "task_finished"
    outcome: str
    answer: str = ""
    check: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class TaskSquashed(Event):
    """``prune --squash`` replaced a finished task's step log by its final ``state``.

    It is the first record of the task's only segment; the events before it are gone.
    """

    kind: ClassVar[str] = "task_squashed"
    state: dict[str, Any]
    events_dropped: int = 0
    bytes_before: int = 0


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        TaskCreated,
        RunStarted,
        ModelResponded,
        ToolIntended,
        ToolCompleted,
        ToolResolved,
        CancelRequested,
        ContextCompacted,
        RunStopped,
        TaskFinished,
        TaskSquashed,
    )
}
OUTCOMES = ("succeeded", "failed", "cancelled")


def _fast_init(cls: type[Event]) -> None:
    """Give ``cls`` the ``__init__`` its dataclass has, storing each slot directly.

    A frozen dataclass's ``__init__`` stores every field through ``object.__setattr__``, at
    twice the cost of building the event otherwise; the runner builds three events a step.
    Same parameters, defaults and factories; assignment after construction still raises.
    """
    namespace: dict[str, Any] = {"_MISSING": MISSING}
    params, body = [], []
    for f in fields(cls):
        owner = next(klass for klass in cls.__mro__ if f.name in vars(klass))
        namespace[f"_set_{f.name}"] = vars(owner)[f.name].__set__  # the slot's descriptor
        value = f.name
        if f.default is not MISSING:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        elif f.default_factory is not MISSING:
            namespace[f"_factory_{f.name}"] = f.default_factory
            params.append(f"{f.name}=_MISSING")
            value = f"_factory_{f.name}() if {f.name} is _MISSING else {f.name}"
        else:
            params.append(f.name)
        body.append(f"    _set_{f.name}(self, {value})")
    source = f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body)
    exec(compile(source, f"<{cls.__name__}.__init__>", "exec"), namespace)
    init = namespace["__init__"]
    init.__qualname__, init.__doc__ = f"{cls.__name__}.__init__", cls.__init__.__doc__
    cls.__init__ = init  # type: ignore[misc]


for _cls in EVENT_TYPES.values():
    _fast_init(_cls)


def to_record(event: Event) -> dict[str, Any]:
    """The msgpack-ready map of an event: ``seq``, ``ts``, ``kind`` first, then its fields."""
    record: dict[str, Any] = {"seq": event.seq, "ts": event.ts, "kind": event.kind}
    for f in _FIELDS[type(event)]:
        record[f.name] = getattr(event, f.name)
    return record


def from_record(record: Any) -> Event:
    """Validate a decoded map and build its event; raises ``CorruptRecordError`` saying why."""
    cls = check_record(record)
    values = {"seq": record["seq"], "ts": record["ts"]}
    for name, _allowed, _required in _SCHEMAS[cls]:
        if name in record:
            values[name] = record[name]
    return cls(**values)


def check_record(record: Any) -> type[Event]:
    """Validate a decoded map as ``from_record`` does, without building the event.

    Returns the event class of its kind. Raises ``CorruptRecordError`` saying why, or
    ``UnsupportedVersionError`` for a kind from a newer format (rule 31).
    """
    if not isinstance(record, dict):
        raise CorruptRecordError(f"event is not a map (got {type(record).__name__})")
    kind = record.get("kind")
    if not isinstance(kind, str):
        raise CorruptRecordError("event has no kind")
    cls = EVENT_TYPES.get(kind)
    if cls is None:
        version = record.get("v", 1)
        if type(version) is int and version > 1:
            raise UnsupportedVersionError(
                f"event kind {kind!r} comes from a newer agentrun; upgrade agentrun to read it"
            )
        raise CorruptRecordError(f"unknown event kind {kind!r}")
    seq, ts = record.get("seq"), record.get("ts")
    if type(seq) is not int or not 1 <= seq <= INT64_MAX:
        raise CorruptRecordError(f"{kind}: seq must be a positive int64, got {seq!r}")
    if type(ts) is not str:
        raise CorruptRecordError(f"{kind}: ts must be a string")
    for name, allowed, required in _SCHEMAS[cls]:
        value = record.get(name, _ABSENT)
        if value is _ABSENT:
            if required:
                raise CorruptRecordError(f"{kind}: missing field {name!r}")
            continue
        # Types by set membership, not a call per field: this runs for every event read.
        value_type = type(value)
        if (
            value_type not in allowed
            or (value_type is int and not INT64_MIN <= value <= INT64_MAX)
            or (value_type is float and not isfinite(value))
        ):
            raise CorruptRecordError(f"{kind}: field {name!r} has the wrong type")
    return cls


def canonical_record(record: dict[str, Any], cls: type[Event]) -> dict[str, Any]:
    """``to_record(from_record(record))`` of a record ``check_record`` accepted as ``cls``.

    A record that lists exactly ``seq``, ``ts``, ``kind`` and every field, in that order (as
    every record this version writes does), is returned as it is: it is already that map.
    """
    if tuple(record) == _RECORD_KEYS[cls]:
        return record
    return to_record(from_record(record))


def _has_default(f: Any) -> bool:
    from dataclasses import MISSING

    return f.default is not MISSING or f.default_factory is not MISSING


def _allowed_types(annotation: Any) -> frozenset[type]:
    """The value types a field accepts; an int must also fit int64 and a float be finite."""
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        return frozenset().union(*(_allowed_types(a) for a in typing.get_args(annotation)))
    if annotation is float:
        return frozenset({float, int})
    if annotation in (int, bool, str, type(None)):
        return frozenset({annotation})
    if origin is dict or annotation is dict:
        return frozenset({dict})
    if origin is list or annotation is list:
        return frozenset({list})
    raise TypeError(f"no checker for {annotation!r}")


_EVENT_BASE_FIELDS = {"seq", "ts"}
_FIELDS = {
    cls: tuple(f for f in fields(cls) if f.name not in _EVENT_BASE_FIELDS)
    for cls in EVENT_TYPES.values()
}
_ABSENT = object()
# Per kind, in field order: (name, the value types it accepts, whether a record must hold it).
_SCHEMAS = {
    cls: tuple((f.name, _allowed_types(hints[f.name]), not _has_default(f)) for f in _FIELDS[cls])
    for cls, hints in ((cls, typing.get_type_hints(cls)) for cls in EVENT_TYPES.values())
}
_RECORD_KEYS = {
    cls: ("seq", "ts", "kind", *(f.name for f in _FIELDS[cls])) for cls in EVENT_TYPES.values()
}
