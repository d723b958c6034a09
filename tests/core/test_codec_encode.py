"""The encode side of the codec refuses exactly what would not read back (rule 32), quickly.

``check_encodable`` is checked against a plain reference walk on random values, hostile ones
included, so the faster walk is never weaker. ``encode_event`` writes the very bytes of
``to_record`` packed by msgpack, and refuses a field of a type ``from_record`` would call
corrupt, so a writer never writes a record it cannot read back.
"""

from __future__ import annotations

import math
import threading
from decimal import Decimal
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentrun.core.codec import (
    MAX_DEPTH,
    UnencodableValueError,
    check_encodable,
    decode_event,
    encode_event,
    encode_value,
)
from agentrun.core.events import (
    INT64_MAX,
    INT64_MIN,
    Event,
    ModelResponded,
    RunStarted,
    RunStopped,
    TaskFinished,
    ToolCompleted,
    to_record,
)
from tests.core.strategies import any_event, seeded

TS = "2026-03-01T12:00:00.000000+00:00"


def reference_refuses(value: Any, depth: int = 0) -> bool:
    """The rule as first written: a plain recursive walk over every value."""
    if depth > MAX_DEPTH:
        return True
    kind = type(value)
    if kind in (str, bool, bytes, type(None)):
        return False
    if kind is int:
        return not INT64_MIN <= value <= INT64_MAX
    if kind is float:
        return not math.isfinite(value)
    if kind is dict:
        return any(type(k) is not str or reference_refuses(v, depth + 1) for k, v in value.items())
    if kind in (list, tuple):
        return any(reference_refuses(v, depth + 1) for v in value)
    return True


def nest(depth: int, leaf: Any) -> Any:
    value = leaf
    for level in range(depth):
        value = {"a": value} if level % 2 else [value]
    return value


hostile_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # unbounded: some beyond int64
    st.integers(INT64_MAX - 2, INT64_MAX + 2) | st.integers(INT64_MIN - 2, INT64_MIN + 2),
    st.floats(),  # NaN and ±Inf included
    st.text(max_size=5),
    st.binary(max_size=5),
    st.sampled_from([Decimal("1.5"), frozenset({1}), object(), bytearray(b"x")]),
)
hostile_keys = st.one_of(st.text(max_size=3), st.integers(), st.none(), st.binary(max_size=2))
hostile_values: st.SearchStrategy[Any] = st.recursive(
    hostile_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(hostile_keys, inner, max_size=4),
    ),
    max_leaves=12,
)


@seeded
@settings(max_examples=300, deadline=None)
@given(value=hostile_values, depth=st.integers(0, MAX_DEPTH + 1))
def test_the_walk_refuses_exactly_what_the_reference_refuses(value: Any, depth: int) -> None:
    refused = reference_refuses(value, depth)
    if refused:
        with pytest.raises(UnencodableValueError):
            check_encodable(value, depth)
    else:
        check_encodable(value, depth)


@pytest.mark.parametrize("depth", [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, MAX_DEPTH + 2])
@pytest.mark.parametrize("leaf", ["x", [], {}, 2**63, 1])
def test_nesting_is_refused_at_the_same_depth_as_the_reference(depth: int, leaf: Any) -> None:
    value = nest(depth, leaf)
    if reference_refuses(value):
        with pytest.raises(UnencodableValueError):
            check_encodable(value)
    else:
        check_encodable(value)


@seeded
@settings(max_examples=100, deadline=None)
@given(event=any_event)
def test_an_event_is_written_as_its_record_packed_by_msgpack(event: Event) -> None:
    assert encode_event(event) == msgpack.packb(to_record(event), use_bin_type=True)


def completed(**fields: Any) -> ToolCompleted:
    return ToolCompleted(**{"seq": 3, "ts": TS, "call_id": "c", "output": "o", **fields})


@pytest.mark.parametrize(
    ("event", "complaint"),
    [
        (completed(output=5), "'output' cannot hold a value of type int"),
        (completed(is_error=1), "'is_error'"),
        (completed(duration_s=True), "'duration_s'"),
        (completed(files={}), "'files'"),
        (completed(duration_s=math.nan), "finite"),
        (completed(seq=3.0), "seq"),
        (completed(seq=0), "seq"),
        (completed(ts=None), "ts"),
        (RunStopped(seq=3, ts=TS, reason="x", exit_code=True), "'exit_code'"),
        (RunStopped(seq=3, ts=TS, reason="x", exit_code=2**63), "64 bits"),
        (RunStarted(seq=3, ts=TS, pid=1, host="h", version="v", attempt=1.0), "'attempt'"),  # type: ignore[arg-type]
        (TaskFinished(seq=3, ts=TS, outcome="failed", check=[]), "'check'"),  # type: ignore[arg-type]
        (ModelResponded(seq=3, ts=TS, message={1: "x"}, usage={}, model="m"), "map key"),
        (ModelResponded(seq=3, ts=TS, message={}, usage={"in": math.inf}, model="m"), "finite"),
    ],
    ids=lambda v: v if isinstance(v, str) else type(v).__name__,
)
def test_a_field_the_reader_would_refuse_is_refused_before_writing(
    event: Event, complaint: str
) -> None:
    with pytest.raises(UnencodableValueError, match=complaint):
        encode_event(event)


def test_a_list_field_may_be_a_tuple_and_reads_back_as_a_list() -> None:
    event = completed(files=({"path": "a"},))
    assert decode_event(encode_event(event)).files == [{"path": "a"}]


def test_an_event_of_an_unknown_class_is_refused() -> None:
    with pytest.raises(UnencodableValueError, match="cannot store an event"):
        encode_event(Event(seq=1, ts=TS))


def test_a_failed_pack_leaves_nothing_behind_for_the_next_one() -> None:
    with pytest.raises(UnicodeEncodeError):
        encode_value({"a": "x" * 1000, "b": "\udc80"})
    assert encode_value({"a": 1}) == msgpack.packb({"a": 1})


def test_a_big_value_is_packed_whole_and_later_ones_still_right() -> None:
    big = ["y" * 1000] * 3000  # past the size of buffer the packer keeps
    assert encode_value(big) == msgpack.packb(big)
    assert encode_value([1, 2]) == msgpack.packb([1, 2])


def test_threads_encoding_at_once_each_get_their_own_bytes() -> None:
    values = [{"n": n, "text": "z" * n} for n in range(200)]
    expected = [msgpack.packb(v) for v in values]
    results: dict[int, list[bytes]] = {}

    def work(worker: int) -> None:
        results[worker] = [encode_value(v) for v in values for _ in range(5)][::5]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(result == expected for result in results.values())
