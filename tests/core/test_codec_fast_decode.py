"""The fast strict decode (``decode_event``, ``decode_record``) decides exactly as the strict path.

The strict path of rules 31-32 is ``codec.decode_event_strictly``: decode with the
duplicate-key hook, validate the schema, refuse what ``check_encodable`` refuses. Whatever the
bytes, valid or hostile, the fast functions must give the same event (or map), or the same error
with the same words. Duplicate keys and non-canonical encodings are the cases the fast path
proves by packing the value again; NaN, huge ints, bytes keys, Timestamps and deep nesting are
the ones its byte scan must send back to the strict path.
"""

from __future__ import annotations

import random
import struct
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentrun.core.codec import (
    MAX_DEPTH,
    _decode_exact,
    decode_event,
    decode_event_strictly,
    decode_record,
    encode_event,
)
from agentrun.core.errors import CorruptRecordError, UnsupportedVersionError
from agentrun.core.events import Event, to_record
from tests.core.strategies import any_event, apply_edit, seeded
from tests.store.builders import event_at

TS = "2026-01-01T00:00:00+00:00"


def outcome(decode: Any, payload: bytes) -> tuple[str, Any]:
    try:
        return "ok", decode(payload)
    except (CorruptRecordError, UnsupportedVersionError) as exc:
        return type(exc).__name__, str(exc)


def assert_same_as_strict(payload: bytes) -> tuple[str, Any]:
    expected = outcome(decode_event_strictly, payload)
    assert outcome(decode_event, payload) == expected
    record = outcome(decode_record, payload)
    if expected[0] == "ok":
        assert record == ("ok", to_record(expected[1]))
        assert list(record[1]) == list(to_record(expected[1]))  # key order too
    else:
        assert record == expected
    return expected


def pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def entries(record: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    return [(pack(k), pack(v)) for k, v in record.items()]


def raw_map(*pairs: tuple[bytes, bytes]) -> bytes:
    """A msgpack fixmap of already-encoded ``(key, value)`` pairs, duplicates and all."""
    assert len(pairs) < 16
    return bytes([0x80 | len(pairs)]) + b"".join(k + v for k, v in pairs)


def intended(arguments_raw: bytes) -> bytes:
    """A ``tool_intended`` whose ``arguments`` value is the raw msgpack given."""
    head = {"seq": 1, "ts": TS, "kind": "tool_intended", "call_id": "c", "tool": "t"}
    tail = {"effect": "read", "idempotency_key": "k"}
    return raw_map(*entries(head), (pack("arguments"), arguments_raw), *entries(tail))


def cancel(**fields: Any) -> dict[str, Any]:
    return {"seq": 1, "ts": TS, "kind": "cancel_requested", "by": "person", **fields}


def without(record: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != name}


def nested_maps(depth: int, leaf: bytes = b"\xc0") -> bytes:
    """``depth`` maps inside each other around ``leaf``."""
    return b"\x81\xa1a" * depth + leaf


MODEL = {"seq": 1, "ts": TS, "kind": "model_responded", "message": {}, "usage": {}, "model": "m"}
OK, CORRUPT, UPGRADE = "ok", "CorruptRecordError", "UnsupportedVersionError"

# (id, payload, what the strict path says). In ``intended`` the arguments map is at depth 1,
# so ``nested_maps(MAX_DEPTH - 1)`` puts its leaf at depth MAX_DEPTH, the deepest allowed.
CASES = [
    ("canonical", pack(cancel()), OK),
    ("duplicate-top-level-key", raw_map(*entries(cancel()), (pack("by"), pack("x"))), CORRUPT),
    (
        "duplicate-key-same-value",
        raw_map(*entries(cancel()), (pack("by"), pack("person"))),
        CORRUPT,
    ),
    ("duplicate-key-nested", intended(b"\x82\xa1a\x01\xa1a\x02"), CORRUPT),
    ("duplicate-key-nested-same-value", intended(b"\x82\xa1a\x01\xa1a\x01"), CORRUPT),
    (
        "int-as-int64",
        raw_map((pack("seq"), b"\xd3" + struct.pack(">q", 1)), *entries(without(cancel(), "seq"))),
        OK,
    ),
    (
        "short-str-as-str8",
        raw_map(*entries(without(cancel(), "by")), (pack("by"), b"\xd9\x01p")),
        OK,
    ),
    ("small-map-as-map16", b"\xde\x00\x04" + pack(cancel())[1:], OK),
    (
        "float32-in-float-field",
        raw_map(*entries(MODEL), (pack("latency_s"), b"\xca\x3f\x00\x00\x00")),
        OK,
    ),
    ("nan-nested", intended(b"\x81\xa1a\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00"), CORRUPT),
    ("minus-inf-nested", intended(pack({"a": [1, float("-inf")]})), CORRUPT),
    ("nan-in-float-field", pack({**MODEL, "latency_s": float("nan")}), CORRUPT),
    ("huge-finite-float-nested", intended(pack({"a": 1e308})), OK),
    ("uint64-max-nested", intended(pack({"a": 2**64 - 1})), CORRUPT),
    ("int64-max-nested", intended(pack({"a": 2**63 - 1})), OK),
    ("int64-min-nested", intended(pack({"a": -(2**63)})), OK),
    ("bytes-key-nested", intended(b"\x81\xc4\x01a\x01"), CORRUPT),
    ("bytes-value-nested", intended(pack({"a": b"\x00\xcf\xff"})), OK),
    ("timestamp-nested", intended(b"\x81\xa1a\xd6\xff\x00\x00\x00\x01"), CORRUPT),
    ("ext-nested", intended(b"\x81\xa1a\xd4\x05\x00"), CORRUPT),
    ("deepest-allowed", intended(nested_maps(MAX_DEPTH - 1)), OK),
    ("one-level-too-deep", intended(nested_maps(MAX_DEPTH)), CORRUPT),
    ("empty-map-at-the-deepest-level", intended(nested_maps(MAX_DEPTH - 1, b"\x80")), OK),
    ("empty-map-one-level-too-deep", intended(nested_maps(MAX_DEPTH, b"\x80")), CORRUPT),
    ("greek-text", pack(cancel(by="πολύ καλό ϊ ϋ ό ώ")), OK),
    ("polish-text", pack(cancel(by="zażółć gęślą jaźń")), OK),
    ("cjk-text", pack(cancel(by="日本語のテキスト" * 30)), OK),
    ("seq-holding-cb-7f", pack(cancel(seq=0xCB7F)), OK),
    ("seq-beyond-uint32", pack(cancel(seq=2**40)), OK),
    ("unknown-kind-newer-format", pack(cancel(kind="tool_streamed", v=2)), UPGRADE),
    ("schema-error", pack(cancel(by=5)), CORRUPT),
    ("schema-error-before-nan", pack({**MODEL, "usage": {"x": float("nan")}, "model": 5}), CORRUPT),
    ("top-level-list", pack([1, 2]), CORRUPT),
    ("trailing-bytes", pack(cancel()) + b"\xc0", CORRUPT),
    ("bigger-than-the-fast-path-takes", pack(cancel(by="x" * 100_000)), OK),
    ("unknown-field-dropped", pack(cancel(note="ignored")), OK),
    ("fields-out-of-order", pack(dict(reversed(list(cancel().items())))), OK),
    (
        "default-field-missing",
        pack({"seq": 1, "ts": TS, "kind": "task_finished", "outcome": "succeeded"}),
        OK,
    ),
]


@pytest.mark.parametrize(("payload", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_fast_decoding_decides_and_words_every_case_as_the_strict_path(
    payload: bytes, expected: str
) -> None:
    assert assert_same_as_strict(payload)[0] == expected


def test_duplicate_keys_are_refused_in_the_strict_path_s_words() -> None:
    payload = intended(b"\x82\xa1a\x01\xa1a\x01")
    with pytest.raises(CorruptRecordError, match="map has duplicate keys"):
        decode_event(payload)
    with pytest.raises(CorruptRecordError, match="map has duplicate keys"):
        decode_record(payload)


def test_a_record_this_version_wrote_comes_back_as_the_same_map_in_the_same_order() -> None:
    rng = random.Random(7)
    for seq in range(1, 300):
        event = event_at(seq, rng)
        record = decode_record(encode_event(event))
        assert record == to_record(event) and list(record) == list(to_record(event))
        assert decode_event(encode_event(event)) == event


@seeded
@settings(max_examples=300)
@given(event=any_event)
def test_every_storable_event_decodes_to_itself(event: Event) -> None:
    payload = encode_event(event)
    assert assert_same_as_strict(payload) == ("ok", event)


@seeded
@settings(max_examples=600)
@given(
    event=any_event,
    edits=st.lists(
        st.tuples(
            st.sampled_from(["flip", "insert", "delete", "set"]),
            st.integers(0, 1 << 16),
            st.integers(0, 255),
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_mutated_payloads_get_the_strict_path_s_answer(
    event: Event, edits: list[tuple[str, int, int]]
) -> None:
    data = bytearray(encode_event(event))
    for op, where, byte in edits:
        apply_edit(data, op, where, byte)
    assert_same_as_strict(bytes(data))


def test_records_as_this_version_writes_them_take_the_fast_path() -> None:
    """Else the equivalence tests above would only ever compare the strict path with itself."""
    rng = random.Random(11)
    payloads = [encode_event(event_at(seq, rng)) for seq in range(1, 301)]
    fast = sum(_decode_exact(payload) is not None for payload in payloads)
    assert fast >= 0.9 * len(payloads)


@pytest.mark.parametrize(
    "case",
    [
        "duplicate-key-nested-same-value",
        "nan-nested",
        "uint64-max-nested",
        "bytes-key-nested",
        "timestamp-nested",
        "one-level-too-deep",
        "float32-in-float-field",
        "int-as-int64",
    ],
)
def test_what_the_strict_path_must_judge_never_takes_the_fast_path(case: str) -> None:
    (payload,) = [c[1] for c in CASES if c[0] == case]
    assert _decode_exact(payload) is None
