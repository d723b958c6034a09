"""The codec writes only what reads back unchanged and reads only what it could write (rules 31-32).

Encoding refuses NaN/Inf, ints outside int64, non-string map keys, nesting deeper than
``MAX_DEPTH`` and types msgpack would stringify or lose; tuples become lists. Decoding is strict:
duplicate or non-string keys, ext types and Timestamps are corrupt (rule 31).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgpack
import pytest

from agentrun.core.codec import (
    MAX_DEPTH,
    UnencodableValueError,
    decode_value,
    encode_value,
)
from agentrun.core.errors import CorruptRecordError


def nest(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        float("inf"),
        {"a": [1, float("-inf")]},
        2**63,
        -(2**63) - 1,
        {"a": 2**64},
        {1: "int key"},
        {b"k": "bytes key"},
        {None: "nil key"},
        {"a": {2.5: "float key"}},
        {1, 2},
        datetime(2026, 1, 1, tzinfo=UTC),
        Decimal("1.5"),
        object(),
        bytearray(b"x"),
        msgpack.Timestamp(1, 0),
        nest(MAX_DEPTH + 1),
    ],
    ids=lambda v: "object()" if type(v) is object else repr(v)[:40],
)
def test_values_that_would_not_round_trip_are_refused_before_writing(value: Any) -> None:
    with pytest.raises(UnencodableValueError):
        encode_value(value)


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        0,
        2**63 - 1,
        -(2**63),
        1.5,
        -0.0,
        "",
        "naïve ✓",
        b"\x00\xff",
        [],
        {},
        {"a": [1, "b", None, {"c": b"d"}]},
        nest(MAX_DEPTH),
    ],
    ids=lambda v: "object()" if type(v) is object else repr(v)[:40],
)
def test_storable_values_round_trip_unchanged(value: Any) -> None:
    assert decode_value(encode_value(value)) == value


def test_tuples_come_back_as_lists() -> None:
    assert decode_value(encode_value({"a": (1, (2, 3))})) == {"a": [1, [2, 3]]}


def test_strings_and_bytes_stay_distinct() -> None:
    assert decode_value(encode_value(["x", b"x"])) == ["x", b"x"]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\x82\xa1a\x01\xa1a\x02", "duplicate keys"),
        (b"\x81\x01\x02", "undecodable"),
        (b"\x81\xc4\x01k\x01", "not allowed"),
        (b"\xd4\x05\x00", "extension type 5"),
        (b"\x81\xa1a\xd4\x07\x00", "extension type 7"),
        (b"\xc1", "undecodable"),
        (b"\x91" * 100_000, "undecodable"),
        (b"\xa2\xff\xfe", "undecodable"),
        (b"\x81\xa1a", "undecodable"),
        (b"\xc0\xc0", "undecodable"),
    ],
    ids=repr,
)
def test_decoding_is_strict_and_only_raises_corrupt_record(payload: bytes, reason: str) -> None:
    with pytest.raises(CorruptRecordError, match=reason):
        decode_value(payload)
