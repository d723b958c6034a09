"""Event records: round trip through the codec and strict validation (rules 31-32).

Every kind survives ``encode_event``/``decode_event`` and ``to_record``/``from_record`` unchanged
(rule 32). ``from_record`` refuses anything that is not a well-typed event of a known kind with a
positive int64 ``seq`` and a string ``ts``, always as ``CorruptRecordError`` (rule 31), except a
kind from a newer format (``v`` > 1), which asks for an upgrade.
"""

from __future__ import annotations

from dataclasses import MISSING, fields
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentrun.core.codec import decode_event, encode_event
from agentrun.core.errors import CorruptRecordError, UnsupportedVersionError
from agentrun.core.events import (
    EVENT_TYPES,
    INT64_MAX,
    CancelRequested,
    Event,
    ModelResponded,
    from_record,
    to_record,
)
from tests.core.strategies import ANY_EVENT, any_event, seeded

EXAMPLES_PER_KIND = 60


def _fields_of(cls: type[Event]) -> list[Any]:
    return [f for f in fields(cls) if f.name not in ("seq", "ts")]


def _required_of(cls: type[Event]) -> set[str]:
    return {
        f.name for f in _fields_of(cls) if f.default is MISSING and f.default_factory is MISSING
    }


# A value of the right type for each annotation the events use, and one of a wrong type.
RIGHT_FOR = {
    "str": "x",
    "int": 1,
    "float": 1.5,
    "bool": False,
    "dict[str, Any]": {},
    "list[Any]": [],
    "str | None": None,
    "dict[str, Any] | None": None,
    "float | None": None,
}
WRONG_FOR = {
    "str": 5,
    "int": "5",
    "float": "1.5",
    "bool": 1,
    "dict[str, Any]": [],
    "list[Any]": {},
    "str | None": 5,
    "dict[str, Any] | None": "x",
    "float | None": "x",
}


# The smallest valid record of every kind: its required fields only.
VALID: dict[str, dict[str, Any]] = {
    kind: {f.name: RIGHT_FOR[str(f.type)] for f in _fields_of(cls) if f.name in _required_of(cls)}
    for kind, cls in EVENT_TYPES.items()
}


def _record(kind: str, **changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"seq": 3, "ts": "2026-01-01T00:00:00+00:00", "kind": kind}
    record.update(VALID[kind])
    record.update(changes)
    return record


def _fields(kind: str) -> list[Any]:
    return _fields_of(EVENT_TYPES[kind])


def test_the_table_of_valid_records_covers_every_kind() -> None:
    assert set(VALID) == set(EVENT_TYPES) == set(ANY_EVENT)


@pytest.mark.parametrize("kind", sorted(EVENT_TYPES))
def test_a_minimal_record_of_every_kind_is_accepted(kind: str) -> None:
    event = from_record(_record(kind))
    assert type(event) is EVENT_TYPES[kind] and event.seq == 3


@pytest.mark.parametrize("kind", sorted(ANY_EVENT))
@seeded
@settings(max_examples=EXAMPLES_PER_KIND, deadline=None)
@given(data=st.data())
def test_every_kind_round_trips_through_encode_and_decode(kind: str, data: st.DataObject) -> None:
    event = data.draw(ANY_EVENT[kind])
    assert decode_event(encode_event(event)) == event
    assert from_record(to_record(event)) == event


@seeded
@settings(max_examples=200, deadline=None)
@given(event=any_event)
def test_the_record_map_lists_seq_ts_kind_first_then_every_field(event: Event) -> None:
    record = to_record(event)
    assert list(record)[:3] == ["seq", "ts", "kind"]
    assert record["kind"] == event.kind
    assert set(record) == {"seq", "ts", "kind"} | {f.name for f in _fields(event.kind)}


@pytest.mark.parametrize(
    ("kind", "name"),
    [(k, name) for k in sorted(VALID) for name in VALID[k]],
)
def test_a_missing_required_field_is_corrupt(kind: str, name: str) -> None:
    record = _record(kind)
    del record[name]
    with pytest.raises(CorruptRecordError, match=f"missing field '{name}'"):
        from_record(record)


@pytest.mark.parametrize(
    ("kind", "name", "annotation"),
    [(k, f.name, str(f.type)) for k in sorted(EVENT_TYPES) for f in _fields(k)],
)
def test_a_field_of_the_wrong_type_is_corrupt(kind: str, name: str, annotation: str) -> None:
    with pytest.raises(CorruptRecordError, match=f"field '{name}' has the wrong type"):
        from_record(_record(kind, **{name: WRONG_FOR[annotation]}))


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), -float("inf"), 2**63, -(2**63) - 1, True]
)
def test_a_float_field_refuses_non_finite_values_big_ints_and_bools(value: Any) -> None:
    with pytest.raises(CorruptRecordError):
        from_record(_record("model_responded", latency_s=value))


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, True, 1.0])
def test_an_int_field_refuses_values_outside_int64_bools_and_floats(value: Any) -> None:
    with pytest.raises(CorruptRecordError):
        from_record(_record("run_started", pid=value))


@pytest.mark.parametrize("seq", [0, -1, 2**63, 1.0, True, False, "1", None, b"\x01", [1]], ids=repr)
def test_a_seq_that_is_not_a_positive_int64_is_corrupt(seq: Any) -> None:
    with pytest.raises(CorruptRecordError, match="seq must be a positive int64"):
        from_record(_record("cancel_requested", seq=seq))


def test_the_largest_int64_seq_is_accepted() -> None:
    assert from_record(_record("cancel_requested", seq=INT64_MAX)).seq == INT64_MAX


@pytest.mark.parametrize("ts", [None, 5, b"2026", ["2026"]], ids=repr)
def test_a_ts_that_is_not_a_string_is_corrupt(ts: Any) -> None:
    with pytest.raises(CorruptRecordError, match="ts must be a string"):
        from_record(_record("cancel_requested", ts=ts))


@pytest.mark.parametrize("missing", ["seq", "ts", "kind"])
def test_a_record_without_seq_ts_or_kind_is_corrupt(missing: str) -> None:
    record = _record("cancel_requested")
    del record[missing]
    with pytest.raises(CorruptRecordError):
        from_record(record)


@pytest.mark.parametrize("kind", [None, 7, b"cancel_requested", ["cancel_requested"]], ids=repr)
def test_a_kind_that_is_not_a_string_is_corrupt(kind: Any) -> None:
    with pytest.raises(CorruptRecordError, match="event has no kind"):
        from_record({"seq": 1, "ts": "t", "kind": kind})


@pytest.mark.parametrize("kind", ["", "Cancel_Requested", "tool_started", "kind"])
def test_an_unknown_kind_is_corrupt(kind: str) -> None:
    with pytest.raises(CorruptRecordError, match="unknown event kind"):
        from_record({"seq": 1, "ts": "t", "kind": kind})


@pytest.mark.parametrize("version", [2, 99])
def test_an_unknown_kind_from_a_newer_format_asks_for_an_upgrade(version: int) -> None:
    with pytest.raises(UnsupportedVersionError, match="upgrade agentrun"):
        from_record({"seq": 1, "ts": "t", "kind": "tool_streamed", "v": version})


@pytest.mark.parametrize("version", ["2", None, 2.5, [2], {"v": 2}, b"\x02"], ids=repr)
def test_an_unknown_kind_with_a_malformed_version_is_corrupt_not_a_crash(version: Any) -> None:
    """Regression: ``v`` was compared with ``>`` unchecked, so a string raised TypeError."""
    with pytest.raises(CorruptRecordError, match="unknown event kind"):
        from_record({"seq": 1, "ts": "t", "kind": "tool_streamed", "v": version})


@pytest.mark.parametrize("record", [[], "x", 5, None, b"\x80", [("kind", "x")]], ids=repr)
def test_a_record_that_is_not_a_map_is_corrupt(record: Any) -> None:
    with pytest.raises(CorruptRecordError, match="not a map"):
        from_record(record)


def test_unknown_fields_are_ignored_so_older_readers_tolerate_additions() -> None:
    event = from_record(_record("cancel_requested", note="added in a later version"))
    assert event == CancelRequested(seq=3, ts="2026-01-01T00:00:00+00:00", by="x")


def test_missing_optional_fields_take_their_defaults() -> None:
    event = from_record(_record("model_responded"))
    assert isinstance(event, ModelResponded)
    assert (event.latency_s, event.cost_usd) == (0.0, None)


def test_events_are_frozen() -> None:
    event = from_record(_record("cancel_requested"))
    with pytest.raises(AttributeError):
        event.seq = 4  # type: ignore[misc]


@pytest.mark.parametrize("kind", sorted(EVENT_TYPES))
def test_an_event_takes_its_fields_as_a_dataclass_would(kind: str) -> None:
    cls = EVENT_TYPES[kind]
    required = {"seq": 3, "ts": "t", **VALID[kind]}
    by_name, by_position = cls(**required), cls(*required.values())
    assert by_name == by_position
    for f in _fields_of(cls):
        if f.default is not MISSING:
            assert getattr(by_name, f.name) == f.default
        elif f.default_factory is not MISSING:
            assert getattr(by_name, f.name) == f.default_factory()
            assert getattr(by_name, f.name) is not getattr(by_position, f.name)  # not shared
    with pytest.raises(TypeError):
        cls(**required, unknown=1)
    with pytest.raises(TypeError):
        cls(seq=3)
