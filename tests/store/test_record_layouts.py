"""The log reader's maps (``decode_record``) accept, refuse and order fields as events do.

A record written as an event is taken by the check of its whole row of value types at once;
this proves the shortcut accepts exactly what ``check_record`` accepts and returns the map
``to_record(decode_event(payload))`` gives, for every kind and for the records it must not
take (wrong types, seq 0, keys out of order, extra or missing fields).
"""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

from agentrun.core.codec import decode_event, decode_record, encode_event
from agentrun.core.errors import CorruptRecordError
from agentrun.core.events import (
    EVENT_TYPES,
    CancelRequested,
    ContextCompacted,
    RunStopped,
    TaskFinished,
    TaskSquashed,
    ToolResolved,
    to_record,
)
from tests.store.builders import event_at, make_created, run_started


def _pack(record: dict[str, Any]) -> bytes:
    return msgpack.packb(record, use_bin_type=True)


def _same_as_events(payload: bytes) -> None:
    try:
        expected: Any = to_record(decode_event(payload))
    except CorruptRecordError as exc:
        expected = ("refused", str(exc))
    try:
        found: Any = decode_record(payload)
    except CorruptRecordError as exc:
        found = ("refused", str(exc))
    assert found == expected
    if isinstance(found, dict):
        assert list(found) == list(expected)


def _events() -> list[Any]:
    import random

    rng = random.Random(7)
    ts = "2026-11-26T08:00:00+00:00"
    return [
        make_created("t"),
        run_started(2),
        *(event_at(seq, rng) for seq in range(3, 60)),
        ToolResolved(seq=60, ts=ts, call_id="c", decision="result", by="me", output="x"),
        CancelRequested(seq=61, ts=ts, by="me"),
        ContextCompacted(seq=62, ts=ts, replacements=[{"a": 1}], cost_usd=0.5),
        RunStopped(seq=63, ts=ts, reason="budget", detail="steps", exit_code=4),
        TaskFinished(seq=64, ts=ts, outcome="succeeded", check={"passed": True}),
        TaskSquashed(seq=65, ts=ts, state={"status": "succeeded"}, events_dropped=3),
    ]


def test_every_written_event_reads_back_as_its_record() -> None:
    events = _events()
    assert {e.kind for e in events} >= {"task_created", "model_responded", "tool_completed"}
    for event in events:
        payload = encode_event(event)
        assert decode_record(payload) == to_record(event)
        _same_as_events(payload)


def _variants(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The record with each value replaced by values of other types, and other changes."""
    others: list[Any] = [None, True, 0, 1, 2.5, "s", [], {}, -1, 2**63 - 1]
    variants = []
    for key in record:
        for other in others:
            variants.append({**record, key: other})
    keys = list(record)
    variants.append(dict(reversed(list(record.items()))))
    variants.append({**record, "extra": 1})
    variants.append({k: record[k] for k in keys[:-1]})
    variants.append({k: record[k] for k in keys if k != "seq"})
    variants.append({**record, "seq": 0})
    variants.append({**record, "kind": "no_such_kind"})
    return variants


@pytest.mark.parametrize("kind", sorted(EVENT_TYPES))
def test_a_record_of_any_shape_is_accepted_or_refused_as_events_are(kind: str) -> None:
    written = [to_record(e) for e in _events() if e.kind == kind]
    for record in _variants(written[0]):
        _same_as_events(_pack(record))
