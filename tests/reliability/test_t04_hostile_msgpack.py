"""T4: adversarial msgpack inside a valid frame (rules 11, 31, 32; INV-BOUNDED).

Every payload here is framed with a *correct* length and CRC, so it reaches the decoder (the
lesson of dbsqlfuzz). Each must give either a valid event, one that encodes back to an equal
event (rule 32), or ``CorruptRecordError``, or, for a kind from a newer format,
``UnsupportedVersionError``; never another exception. Each case takes under 1 s and under 64 MiB
of extra peak memory (tracemalloc). Frame lengths of 0, 2^32-1, above ``MAX_RECORD`` or beyond
the bytes present are refused before the payload is read (rule 11). Then Hypothesis mutates
valid events and re-frames them with a recomputed CRC.
"""

from __future__ import annotations

import struct
import time
import tracemalloc
import zlib
from collections.abc import Callable
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentrun.core.codec import decode_event, encode_event
from agentrun.core.errors import CorruptRecordError, UnsupportedVersionError
from agentrun.core.events import EVENT_TYPES, Event
from agentrun.store.framing import MAX_RECORD, RECORD_HEADER, encode_record, read_record
from tests.core.strategies import seeded
from tests.trials import trials

MIB = 1024 * 1024
TIME_LIMIT_S = 1.0
MEMORY_LIMIT = 64 * MIB
MUTATION_EXAMPLES = trials(2_000, 1_000_000)

EVENT, CORRUPT, UPGRADE = "event", "corrupt", "upgrade"
TS = "2026-01-01T00:00:00+00:00"


def pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def base(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"seq": 1, "ts": TS, "kind": "cancel_requested", "by": "person"}
    record.update(changes)
    return record


def raw_map(*pairs: tuple[bytes, bytes]) -> bytes:
    """A msgpack fixmap of already-encoded ``(key, value)`` pairs, duplicates and all."""
    assert len(pairs) < 16
    return bytes([0x80 | len(pairs)]) + b"".join(k + v for k, v in pairs)


def entries(record: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    return [(pack(k), pack(v)) for k, v in record.items()]


def with_raw_value(key: Any, raw: bytes) -> bytes:
    """``base()`` plus one more entry: the key (packed) with a raw msgpack value."""
    return raw_map(*entries(base()), (pack(key), raw))


def intended(arguments_raw: bytes) -> bytes:
    """A ``tool_intended`` whose ``arguments`` value is the raw msgpack given."""
    head = {"seq": 1, "ts": TS, "kind": "tool_intended", "call_id": "c", "tool": "t"}
    tail = {"effect": "read", "idempotency_key": "k"}
    return raw_map(*entries(head), (pack("arguments"), arguments_raw), *entries(tail))


MODEL_RESPONDED = {"seq": 1, "ts": TS, "kind": "model_responded", "message": {}, "usage": {}}
RUN_STARTED = {"seq": 1, "ts": TS, "kind": "run_started", "host": "h", "version": "v"}


def model_responded(**changes: Any) -> bytes:
    return pack({**MODEL_RESPONDED, "model": "m", **changes})


def nested_arrays(depth: int) -> bytes:
    return b"\x91" * depth + b"\xc0"


def nested_maps(depth: int) -> bytes:
    return b"\x81\xa1a" * depth + b"\xc0"


def timestamp_ext(size: int) -> bytes:
    if size == 4:
        return b"\xd6\xff" + struct.pack(">I", 1_700_000_000)
    if size == 8:
        return b"\xd7\xff" + struct.pack(">Q", 1_700_000_000)
    return b"\xc7\x0c\xff" + struct.pack(">Iq", 0, 1_700_000_000)


TEN_MB = 10 * 1000 * 1000

# (id, payload factory, expected outcome). Factories keep collection cheap.
CASES: list[tuple[str, Callable[[], bytes], str]] = [
    ("control-valid-event", lambda: pack(base()), EVENT),
    ("str32-claims-4G", lambda: b"\xdb\xff\xff\xff\xff", CORRUPT),
    ("bin32-claims-4G", lambda: b"\xc6\xff\xff\xff\xff", CORRUPT),
    ("array32-claims-4G", lambda: b"\xdd\xff\xff\xff\xff", CORRUPT),
    ("map32-claims-4G", lambda: b"\xdf\xff\xff\xff\xff", CORRUPT),
    ("ext32-claims-4G", lambda: b"\xc9\xff\xff\xff\xff\x01", CORRUPT),
    ("str32-claims-4G-as-value", lambda: with_raw_value("x", b"\xdb\xff\xff\xff\xff"), CORRUPT),
    ("array32-claims-4G-as-value", lambda: with_raw_value("x", b"\xdd\xff\xff\xff\xff"), CORRUPT),
    ("map32-claims-2G-as-value", lambda: with_raw_value("x", b"\xdf\x80\x00\x00\x00"), CORRUPT),
    ("str16-claims-64K-has-3", lambda: with_raw_value("x", b"\xda\xff\xffabc"), CORRUPT),
    ("array-nested-100K", lambda: nested_arrays(100_000), CORRUPT),
    ("map-nested-100K", lambda: nested_maps(100_000), CORRUPT),
    ("array-nested-100K-in-arguments", lambda: intended(nested_arrays(100_000)), CORRUPT),
    ("map-nested-1000-in-arguments", lambda: intended(nested_maps(1000)), CORRUPT),
    ("map-nested-200-in-arguments", lambda: intended(nested_maps(200)), CORRUPT),
    ("map-nested-40-in-arguments", lambda: intended(nested_maps(40)), EVENT),
    ("byte-0xC1-alone", lambda: b"\xc1", CORRUPT),
    ("byte-0xC1-as-value", lambda: with_raw_value("x", b"\xc1"), CORRUPT),
    ("ext-top-level", lambda: b"\xd4\x05\x00", CORRUPT),
    ("ext-in-arguments", lambda: intended(b"\x81\xa1a\xd5\x07\x00\x00"), CORRUPT),
    ("ext-as-ignored-field", lambda: with_raw_value("x", b"\xd4\x05\x00"), CORRUPT),
    ("timestamp32-top-level", lambda: timestamp_ext(4), CORRUPT),
    ("timestamp64-in-arguments", lambda: intended(b"\x81\xa1a" + timestamp_ext(8)), CORRUPT),
    (
        "timestamp96-as-ts",
        lambda: raw_map(
            (pack("seq"), pack(1)),
            (pack("ts"), timestamp_ext(12)),
            (pack("kind"), pack("cancel_requested")),
            (pack("by"), pack("person")),
        ),
        CORRUPT,
    ),
    ("timestamp-in-list-field", lambda: with_raw_value("x", b"\x91" + timestamp_ext(4)), CORRUPT),
    ("timestamp-wrong-length", lambda: with_raw_value("x", b"\xc7\x03\xff\x00\x00\x00"), CORRUPT),
    ("top-level-nil", lambda: pack(None), CORRUPT),
    ("top-level-true", lambda: pack(True), CORRUPT),
    ("top-level-int", lambda: pack(5), CORRUPT),
    ("top-level-float", lambda: pack(1.5), CORRUPT),
    ("top-level-str", lambda: pack("cancel_requested"), CORRUPT),
    ("top-level-bin", lambda: pack(b"\x84"), CORRUPT),
    ("top-level-array-of-pairs", lambda: pack(list(base().items())), CORRUPT),
    ("int-key-top-level", lambda: with_raw_value(1, pack("x")), CORRUPT),
    ("bytes-key-top-level", lambda: with_raw_value(b"kind", pack("x")), CORRUPT),
    ("int-key-in-arguments", lambda: intended(b"\x81\x01\xa1x"), CORRUPT),
    ("nil-key-in-arguments", lambda: intended(b"\x81\xc0\xa1x"), CORRUPT),
    ("float-key-in-arguments", lambda: intended(b"\x81" + pack(1.0) + b"\x01"), CORRUPT),
    ("bool-key-in-arguments", lambda: intended(b"\x81\xc3\x01"), CORRUPT),
    ("list-key-in-arguments", lambda: intended(b"\x81\x91\x01\x01"), CORRUPT),
    ("map-key-in-arguments", lambda: intended(b"\x81\x81\xa1a\x01\x01"), CORRUPT),
    ("duplicate-seq", lambda: with_raw_value("seq", pack(2)), CORRUPT),
    ("duplicate-kind", lambda: with_raw_value("kind", pack("run_stopped")), CORRUPT),
    ("duplicate-key-in-arguments", lambda: intended(b"\x82\xa1a\x01\xa1a\x02"), CORRUPT),
    ("invalid-utf8-value", lambda: with_raw_value("x", b"\xa2\xff\xfe"), CORRUPT),
    ("invalid-utf8-key", lambda: raw_map(*entries(base()), (b"\xa2\xc3\x28", pack(1))), CORRUPT),
    ("utf8-encoded-surrogate", lambda: with_raw_value("x", b"\xa3\xed\xa0\x80"), CORRUPT),
    ("overlong-utf8", lambda: with_raw_value("x", b"\xa2\xc0\xaf"), CORRUPT),
    ("nan-float-field", lambda: model_responded(latency_s=float("nan")), CORRUPT),
    ("inf-float-field", lambda: model_responded(cost_usd=float("inf")), CORRUPT),
    (
        "float32-nan-field",
        lambda: raw_map(*entries(MODEL_RESPONDED), (pack("latency_s"), b"\xca\x7f\xc0\x00\x00")),
        CORRUPT,
    ),
    (
        "nan-in-arguments",
        lambda: intended(b"\x81\xa1a\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00"),
        CORRUPT,
    ),
    ("inf-in-arguments", lambda: intended(pack({"a": float("-inf")})), CORRUPT),
    ("uint64-max-in-arguments", lambda: intended(pack({"a": 2**64 - 1})), CORRUPT),
    ("int64-min-in-arguments", lambda: intended(pack({"a": -(2**63)})), EVENT),
    ("seq-2^63", lambda: pack(base(seq=2**63)), CORRUPT),
    ("seq-2^64-1", lambda: pack(base(seq=2**64 - 1)), CORRUPT),
    ("pid-2^63", lambda: pack({**RUN_STARTED, "pid": 2**63, "attempt": 1}), CORRUPT),
    ("attempt-2^64-1", lambda: pack({**RUN_STARTED, "pid": 1, "attempt": 2**64 - 1}), CORRUPT),
    ("seq-negative", lambda: pack(base(seq=-1)), CORRUPT),
    ("seq-zero", lambda: pack(base(seq=0)), CORRUPT),
    ("seq-float", lambda: pack(base(seq=1.0)), CORRUPT),
    ("seq-string", lambda: pack(base(seq="1")), CORRUPT),
    ("seq-true", lambda: pack(base(seq=True)), CORRUPT),
    ("unknown-kind", lambda: pack(base(kind="tool_streamed")), CORRUPT),
    ("unknown-kind-newer-format", lambda: pack(base(kind="tool_streamed", v=2)), UPGRADE),
    ("unknown-kind-string-version", lambda: pack(base(kind="tool_streamed", v="2")), CORRUPT),
    ("missing-seq", lambda: pack({k: v for k, v in base().items() if k != "seq"}), CORRUPT),
    ("missing-ts", lambda: pack({k: v for k, v in base().items() if k != "ts"}), CORRUPT),
    ("missing-kind", lambda: pack({k: v for k, v in base().items() if k != "kind"}), CORRUPT),
    ("empty-map", lambda: pack({}), CORRUPT),
    ("mistyped-field", lambda: pack(base(by=5)), CORRUPT),
    ("trailing-bytes", lambda: pack(base()) + b"\xc0", CORRUPT),
    ("truncated-map", lambda: pack(base())[:-1], CORRUPT),
    ("ten-mb-string-field", lambda: pack(base(by="x" * TEN_MB)), EVENT),
    ("ten-mb-string-ignored-field", lambda: pack(base(note="y" * TEN_MB)), EVENT),
    ("ten-mb-bin-in-arguments", lambda: intended(pack({"blob": b"\x00" * TEN_MB})), EVENT),
    ("ten-mb-string-wrong-type", lambda: pack(base(seq="9" * TEN_MB)), CORRUPT),
    (
        "million-item-list",
        lambda: with_raw_value("x", b"\xdd" + struct.pack(">I", MIB) + b"\xc0" * MIB),
        EVENT,
    ),
]


def outcome_of(payload: bytes) -> tuple[str, Event | None]:
    """Decode ``payload`` through a correctly framed record, as the store would."""
    frame = encode_record(payload)
    try:
        record = read_record(frame, 0, None)
    except CorruptRecordError:
        return CORRUPT, None
    except UnsupportedVersionError:
        return UPGRADE, None
    return EVENT, record.event


def assert_valid_event(event: Event) -> None:
    """A decoded event is well-formed: a known type that encodes back unchanged (rule 32)."""
    assert type(event) in EVENT_TYPES.values()
    assert decode_event(encode_event(event)) == event


def test_there_are_about_sixty_handcrafted_cases() -> None:
    assert len(CASES) >= 60
    assert len({name for name, _f, _e in CASES}) == len(CASES)


@pytest.mark.parametrize(("name", "make", "expected"), CASES, ids=[c[0] for c in CASES])
def test_a_hostile_payload_in_a_valid_frame_is_an_event_or_corrupt_quickly_and_in_bounded_memory(
    name: str, make: Callable[[], bytes], expected: str
) -> None:
    payload = make()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        started = time.perf_counter()
        outcome, event = outcome_of(payload)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    extra = peak - before - len(payload)  # the frame is one copy of the payload
    print(f"{name}: {outcome} in {elapsed * 1000:.1f} ms, extra peak {extra / MIB:.1f} MiB")
    assert outcome == expected
    assert elapsed < TIME_LIMIT_S
    assert extra < MEMORY_LIMIT
    if event is not None:
        assert_valid_event(event)


def _frame(length: int, payload: bytes, crc_payload: bytes | None = None) -> bytes:
    """A frame claiming ``length`` with a CRC that is correct for what it claims to cover."""
    head = struct.pack("<I", length)
    crc = zlib.crc32(payload if crc_payload is None else crc_payload, zlib.crc32(head))
    return head + struct.pack("<I", crc) + payload


@pytest.mark.parametrize(
    ("name", "frame"),
    [
        ("length-0", _frame(0, b"")),
        ("length-0-with-bytes-after", _frame(0, b"") + pack(base())),
        ("length-2^32-1", _frame(2**32 - 1, pack(base()))),
        ("length-one-past-the-file", _frame(len(pack(base())) + 1, pack(base()))),
        ("length-far-past-the-file", _frame(1 << 20, pack(base()))),
        ("header-only", _frame(12, b"")),
        ("incomplete-header", b"\x05\x00\x00"),
        ("empty", b""),
    ],
)
def test_a_frame_length_that_is_zero_huge_or_past_the_end_is_refused_before_reading(
    name: str, frame: bytes
) -> None:
    with pytest.raises(CorruptRecordError) as info:
        read_record(frame, 0, None)
    assert info.value.reason.startswith("length: ")


def test_a_frame_longer_than_max_record_is_refused_even_when_the_bytes_are_there() -> None:
    payload = bytes(MAX_RECORD + 1)
    frame = _frame(len(payload), payload)
    with pytest.raises(CorruptRecordError) as info:
        read_record(frame, 0, None)
    assert info.value.reason.startswith("length: record claims")


def test_a_frame_of_exactly_max_record_is_read() -> None:
    prefix = with_raw_value("pad", b"\xdb")
    pad_len = MAX_RECORD - len(prefix) - 4
    payload = prefix + struct.pack(">I", pad_len) + b"p" * pad_len
    assert len(payload) == MAX_RECORD
    assert read_record(encode_record(payload), 0, None).event.seq == 1


def test_a_crc_mismatch_is_reported_as_crc() -> None:
    frame = bytearray(encode_record(pack(base())))
    frame[RECORD_HEADER + 3] ^= 0x01
    with pytest.raises(CorruptRecordError) as info:
        read_record(bytes(frame), 0, None)
    assert info.value.reason.startswith("crc: ")


# -- Hypothesis mutations of valid events, re-framed with a recomputed CRC -------------------

SEED_PAYLOADS = [
    pack(base()),
    pack(
        {
            "seq": 7,
            "ts": TS,
            "kind": "run_started",
            "pid": 1,
            "host": "h",
            "version": "v",
            "attempt": 2,
            "recovery": [{"repair": "torn_tail", "offset": 5}],
        }
    ),
    pack(
        {
            "seq": 8,
            "ts": TS,
            "kind": "model_responded",
            "message": {
                "role": "assistant",
                "content": "hi",
                "tool_calls": [{"id": "c1", "name": "read", "arguments": {"path": "a"}}],
            },
            "usage": {"input_tokens": 10},
            "model": "m",
            "latency_s": 0.5,
            "cost_usd": 0.001,
        }
    ),
    pack(
        {
            "seq": 9,
            "ts": TS,
            "kind": "tool_intended",
            "call_id": "c1",
            "tool": "read",
            "arguments": {"path": "a", "n": [1, 2.5, None, True, b"\x00"]},
            "effect": "read",
            "idempotency_key": "agentrun-t-c1-9",
        }
    ),
    pack(
        {
            "seq": 10,
            "ts": TS,
            "kind": "tool_completed",
            "call_id": "c1",
            "output": "text " * 20,
            "is_error": False,
            "duration_s": 1.25,
            "files": [{"path": "a", "before": None, "after": "h"}],
            "output_blob": None,
        }
    ),
    pack(
        {
            "seq": 11,
            "ts": TS,
            "kind": "task_finished",
            "outcome": "succeeded",
            "answer": "42",
            "check": {"ok": True},
        }
    ),
]

mutation = st.one_of(
    st.tuples(st.just("flip"), st.lists(st.integers(0, 10**6), min_size=1, max_size=4)),
    st.tuples(st.just("overwrite"), st.integers(0, 10**6), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 16)),
    st.tuples(st.just("truncate"), st.integers(0, 10**6)),
    st.tuples(st.just("splice"), st.integers(0, 10**6), st.integers(0, len(SEED_PAYLOADS) - 1)),
)


def mutate(payload: bytes, steps: list[tuple[Any, ...]]) -> bytes:
    data = bytearray(payload)
    for step in steps:
        if not data:
            break
        op = step[0]
        at = step[1] % len(data) if op != "flip" else 0
        if op == "flip":
            for bit in step[1]:
                index = bit % (len(data) * 8)
                data[index // 8] ^= 1 << (index % 8)
        elif op == "overwrite":
            data[at : at + len(step[2])] = step[2]
        elif op == "insert":
            data[at:at] = step[2]
        elif op == "delete":
            del data[at : at + step[2]]
        elif op == "truncate":
            del data[at:]
        elif op == "splice":
            other = SEED_PAYLOADS[step[2]]
            data[at:] = other[at % len(other) :]
    return bytes(data)


@seeded
@settings(max_examples=MUTATION_EXAMPLES, deadline=None)
@given(
    source=st.integers(0, len(SEED_PAYLOADS) - 1),
    steps=st.lists(mutation, min_size=1, max_size=3),
)
def test_a_mutated_event_reframed_with_a_fresh_crc_is_an_event_or_corrupt(
    source: int, steps: list[tuple[Any, ...]]
) -> None:
    payload = mutate(SEED_PAYLOADS[source], steps)
    started = time.perf_counter()
    if not payload:
        with pytest.raises(CorruptRecordError):
            read_record(encode_record(payload), 0, None)
        return
    outcome, event = outcome_of(payload)
    assert time.perf_counter() - started < TIME_LIMIT_S
    assert outcome in (EVENT, CORRUPT, UPGRADE)
    if event is not None:
        assert_valid_event(event)
