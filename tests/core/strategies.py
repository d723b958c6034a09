"""Hypothesis strategies for events and realistic event sequences (shared by core and store tests).

Values are what the codec promises to round-trip (rule 32): strings, bytes, bools, None, int64,
finite floats, lists and string-keyed maps, nested a few levels. Sequences are shaped like real
runs (tool calls reference ids the model asked for; timestamps are ISO-8601 UTC) so the fold's
handlers see well-formed input; hostile input is the business of T4,
``tests/reliability/test_t04_hostile_msgpack.py``.
"""

from __future__ import annotations

import os
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from agentrun.core.events import (
    EVENT_TYPES,
    INT64_MAX,
    INT64_MIN,
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

BASE = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

int64 = st.integers(INT64_MIN, INT64_MAX)
finite = st.floats(allow_nan=False, allow_infinity=False)
short_text = st.text(max_size=30)
scalars = st.one_of(st.none(), st.booleans(), int64, finite, short_text, st.binary(max_size=20))
json_values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(short_text, inner, max_size=4)
    ),
    max_leaves=12,
)
json_maps = st.dictionaries(short_text, json_values, max_size=5)
json_lists = st.lists(json_values, max_size=4)
timestamps = st.builds(
    lambda s, us: (BASE + timedelta(seconds=s, microseconds=us)).isoformat(),
    st.integers(0, 10**7),
    st.integers(0, 999_999),
)
ts_strings = st.one_of(timestamps, short_text)


# A strategy for every field annotation events use; a new annotation fails loudly here.
BY_ANNOTATION: dict[str, st.SearchStrategy[Any]] = {
    "str": st.text(max_size=60),
    "int": int64,
    "float": finite | int64,
    "bool": st.booleans(),
    "dict[str, Any]": json_maps,
    "list[Any]": json_lists,
    "str | None": st.none() | st.text(max_size=60),
    "dict[str, Any] | None": st.none() | json_maps,
    "float | None": st.none() | finite,
}


def _any_of_kind(cls: type[Event]) -> st.SearchStrategy[Event]:
    own = {f.name: BY_ANNOTATION[str(f.type)] for f in fields(cls) if f.name not in ("seq", "ts")}
    return st.builds(cls, seq=st.integers(1, INT64_MAX), ts=ts_strings, **own)


# Every kind, including ones added later: built from the dataclass fields.
ANY_EVENT: dict[str, st.SearchStrategy[Event]] = {
    kind: _any_of_kind(cls) for kind, cls in sorted(EVENT_TYPES.items())
}
any_event = st.one_of(*ANY_EVENT.values())

CALL_IDS = ("call_a", "call_b", "call_c", "call_d")
small_count = st.integers(0, 5000)
# Cheap arguments for sequences: generating deep values for 30 events per example is slow.
# Tool-call arguments come from a model's JSON, so no bytes here.
json_scalars = st.one_of(st.none(), st.booleans(), int64, finite, short_text)
arguments = st.dictionaries(st.sampled_from(("path", "n", "q")), json_scalars, max_size=2)


@st.composite
def event_sequences(draw: st.DrawFn, max_events: int = 30) -> list[Event]:
    """A realistic log: ``task_created`` first, seqs 1..n, kinds in any order, sane references."""
    n = draw(st.integers(1, max_events))
    clock = draw(st.integers(0, 10**6))

    def ts() -> str:
        nonlocal clock
        # Mostly forward, sometimes equal or backwards (clock steps), rarely unparseable.
        clock += draw(st.integers(-5, 120))
        if draw(st.integers(0, 40)) == 0:
            return "not a timestamp"
        return (BASE + timedelta(seconds=max(clock, 0))).isoformat()

    events: list[Event] = [
        TaskCreated(
            seq=1,
            ts=ts(),
            task_id="task-1",
            goal=draw(short_text),
            agent={"name": "a", "model": "m"},
            messages=draw(st.lists(st.fixed_dictionaries({"role": st.just("user")}), max_size=2)),
        )
    ]
    for seq in range(2, n + 1):
        kind = draw(st.sampled_from(SEQUENCE_KINDS))
        events.append(_sequence_event(draw, kind, seq, ts()))
    return events


SEQUENCE_KINDS = (
    "run_started",
    "model_responded",
    "model_responded",
    "tool_intended",
    "tool_completed",
    "tool_completed",
    "tool_resolved",
    "cancel_requested",
    "context_compacted",
    "run_stopped",
    "task_finished",
)


def _sequence_event(draw: st.DrawFn, kind: str, seq: int, ts: str) -> Event:
    call_id = draw(st.sampled_from(CALL_IDS))
    if kind == "run_started":
        return RunStarted(
            seq=seq,
            ts=ts,
            pid=draw(st.integers(1, 2**22)),
            host="h",
            version="0.1.0",
            attempt=draw(st.integers(1, 6)),
        )
    if kind == "model_responded":
        calls = draw(st.lists(st.sampled_from(CALL_IDS), max_size=3, unique=True))
        return ModelResponded(
            seq=seq,
            ts=ts,
            message={
                "role": "assistant",
                "content": draw(short_text),
                "tool_calls": [
                    {"id": c, "name": "tool_" + c[-1], "arguments": draw(arguments)} for c in calls
                ],
            },
            usage=draw(
                st.fixed_dictionaries(
                    {}, optional={"input_tokens": small_count, "output_tokens": small_count}
                )
            ),
            model="m",
            latency_s=draw(st.floats(0, 60)),
            cost_usd=draw(st.none() | st.floats(0, 1)),
        )
    if kind == "tool_intended":
        return ToolIntended(
            seq=seq,
            ts=ts,
            call_id=call_id,
            tool="tool_" + call_id[-1],
            arguments=draw(arguments),
            effect=draw(st.sampled_from(("read", "idempotent", "side_effect"))),
            idempotency_key=f"agentrun-task-1-{call_id}-{seq}",
        )
    if kind == "tool_completed":
        files = draw(
            st.lists(
                st.fixed_dictionaries(
                    {"path": st.sampled_from(("a.txt", "b/c.py"))},
                    optional={"before": st.none() | short_text, "after": st.none() | short_text},
                ),
                max_size=2,
            )
        )
        return ToolCompleted(
            seq=seq,
            ts=ts,
            call_id=call_id,
            output=draw(short_text),
            is_error=draw(st.booleans()),
            files=files,
        )
    if kind == "tool_resolved":
        decision = draw(
            st.sampled_from(
                ("approved", "denied", "retried", "skipped", "result", "reconciled", "odd")
            )
        )
        return ToolResolved(
            seq=seq,
            ts=ts,
            call_id=call_id,
            decision=decision,
            by=draw(st.sampled_from(("policy", "person"))),
            output=draw(st.none() | short_text),
        )
    if kind == "cancel_requested":
        return CancelRequested(seq=seq, ts=ts, by="person")
    if kind == "context_compacted":
        replacements = draw(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "index": st.integers(-1, 6),
                        "message": st.fixed_dictionaries({"role": st.just("user")}),
                    }
                ),
                max_size=2,
            )
        )
        return ContextCompacted(
            seq=seq, ts=ts, replacements=replacements, tokens_before=100, tokens_after=10
        )
    if kind == "run_stopped":
        reason = draw(st.sampled_from(("signal", "budget", "needs_attention", "error")))
        return RunStopped(seq=seq, ts=ts, reason=reason, detail="d", exit_code=3)
    outcome = draw(st.sampled_from(("succeeded", "failed", "cancelled")))
    return TaskFinished(seq=seq, ts=ts, outcome=outcome, answer=draw(short_text))


def seeded(test: Any) -> Any:
    """Pin Hypothesis's seed to ``$AGENTRUN_SEED`` when it is set (reruns a CI failure).

    Without it Hypothesis draws a fresh seed and, on failure, prints the falsifying example and a
    ``@reproduce_failure`` blob; its example database replays the failure on the next run.
    """
    value = os.environ.get("AGENTRUN_SEED")
    return hypothesis_seed(int(value))(test) if value else test


def apply_edit(data: bytearray, op: str, where: int, byte: int) -> None:
    """Mutate an encoded payload in place: insert, delete, flip a bit of or overwrite a byte."""
    at = where % (len(data) + 1)
    if op == "insert":
        data[at:at] = bytes([byte])
    elif data and at < len(data):
        if op == "delete":
            del data[at]
        elif op == "flip":
            data[at] ^= 1 << (byte % 8)
        else:
            data[at] = byte
