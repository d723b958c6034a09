"""``decode_records`` gives ``decode_record``'s maps for a list, and stops where it refuses.

The batch proof (``_decode_batch``) decodes a whole list as one array and checks it by calls over
the list; it must take exactly the lists whose every payload ``decode_record`` would take, give
the same maps in the same key order, and otherwise leave the list to the record-by-record path,
which stops before the first payload refused. Every hostile case of the strict-path table is
tried at every position of a list of good records.
"""

from __future__ import annotations

import random
import tracemalloc
from typing import Any

import msgpack
from hypothesis import given, settings
from hypothesis import strategies as st

from agentrun.core.codec import _decode_batch, decode_record, decode_records, encode_event
from agentrun.core.errors import CorruptRecordError, UnsupportedVersionError
from agentrun.core.events import Event
from tests.core.strategies import any_event, apply_edit, seeded
from tests.core.test_codec_fast_decode import CASES, cancel, pack
from tests.reliability.test_t04_hostile_msgpack import CASES as HOSTILE
from tests.store.builders import event_at

MIB = 1 << 20


def one_by_one(payloads: list[bytes]) -> list[dict[str, Any]]:
    """``decode_record`` of each payload up to the first it refuses: what the batch must give."""
    maps = []
    for payload in payloads:
        try:
            maps.append(decode_record(payload))
        except (CorruptRecordError, UnsupportedVersionError):
            break
    return maps


def assert_same_as_one_by_one(payloads: list[bytes]) -> list[dict[str, Any]]:
    expected = one_by_one(payloads)
    found = decode_records(payloads)
    assert found == expected
    assert [list(m) for m in found] == [list(m) for m in expected]  # key order too
    return found


def written(count: int, seed: int = 5) -> list[bytes]:
    rng = random.Random(seed)
    return [encode_event(event_at(seq, rng)) for seq in range(1, count + 1)]


def test_records_as_this_version_writes_them_are_proved_as_one_batch() -> None:
    """Else the tests below would only compare the record-by-record path with itself."""
    payloads = written(300)
    assert _decode_batch(payloads) == [decode_record(p) for p in payloads]


def test_an_empty_list_decodes_to_an_empty_list() -> None:
    assert decode_records([]) == []


def test_every_case_of_the_strict_table_at_every_position_gives_the_one_by_one_answer() -> None:
    good = written(5)
    for _name, payload, _expected in CASES:
        for at in range(len(good) + 1):
            assert_same_as_one_by_one([*good[:at], payload, *good[at:]])


def test_hostile_payloads_in_a_list_give_the_one_by_one_answer_in_bounded_memory() -> None:
    """T4's payloads between good records: a claim of a huge container may run on into the
    payloads after it once they are joined, which must cost no more than alone."""
    good = written(20)
    for name, make, _expected in HOSTILE:
        payloads = [*good, make(), *good]
        tracemalloc.start()
        try:
            before, _ = tracemalloc.get_traced_memory()
            found = decode_records(payloads)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert found == one_by_one(payloads), name
        assert peak - before - sum(map(len, payloads)) < 64 * MIB, name


def test_a_list_holding_what_the_strict_path_must_judge_is_not_taken_as_a_batch() -> None:
    good = written(5)
    must_judge = {
        "duplicate-key-nested-same-value",
        "nan-nested",
        "uint64-max-nested",
        "bytes-key-nested",
        "timestamp-nested",
        "one-level-too-deep",
        "float32-in-float-field",
        "int-as-int64",
        "bigger-than-the-fast-path-takes",
        "fields-out-of-order",
        "default-field-missing",
        "trailing-bytes",
    }
    for name, payload, _expected in CASES:
        if name in must_judge:
            assert _decode_batch([*good, payload]) is None, name


def test_payloads_the_byte_scan_flags_but_check_encodable_passes_are_taken_as_a_batch() -> None:
    good = written(5)
    for name in ("greek-text", "cjk-text", "seq-holding-cb-7f", "deepest-allowed"):
        (payload,) = [c[1] for c in CASES if c[0] == name]
        payloads = [*good, payload]
        assert _decode_batch(payloads) == [decode_record(p) for p in payloads], name


def test_payloads_that_only_join_into_valid_values_are_refused_one_by_one() -> None:
    """Frames cut elsewhere than between values still decode as an array of as many items;
    packing each item again is what tells them apart."""
    first, second = pack(cancel()), pack(cancel(seq=2))
    payloads = [first[:7], first[7:] + second]
    assert msgpack.unpackb(b"\x92" + b"".join(payloads)) == [cancel(), cancel(seq=2)]
    assert assert_same_as_one_by_one(payloads) == []
    nils = [b"\x91", b"\xc0", b"\xc0\xc0"]  # [[nil], nil, nil] once joined
    assert assert_same_as_one_by_one([first, *nils]) == [decode_record(first)]


def test_a_kind_that_names_another_kind_s_layout_is_not_taken() -> None:
    record = {"seq": 1, "ts": "t", "kind": "tool_resolved", "by": "me"}  # cancel_requested's keys
    assert _decode_batch([pack(record)]) is None
    assert_same_as_one_by_one([pack(cancel()), pack(record)])


def test_seq_zero_is_left_to_the_one_by_one_path() -> None:
    assert _decode_batch([pack(cancel(seq=0))]) is None
    assert assert_same_as_one_by_one([pack(cancel()), pack(cancel(seq=0))]) == [cancel()]


@seeded
@settings(max_examples=150)
@given(events=st.lists(any_event, min_size=1, max_size=8))
def test_every_list_of_storable_events_decodes_as_one_by_one(events: list[Event]) -> None:
    assert_same_as_one_by_one([encode_event(event) for event in events])


@seeded
@settings(max_examples=300)
@given(
    events=st.lists(any_event, min_size=1, max_size=6),
    edits=st.lists(
        st.tuples(
            st.integers(0, 5),
            st.sampled_from(["flip", "insert", "delete", "set"]),
            st.integers(0, 1 << 16),
            st.integers(0, 255),
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_lists_with_mutated_payloads_decode_as_one_by_one(
    events: list[Event], edits: list[tuple[int, str, int, int]]
) -> None:
    payloads = [bytearray(encode_event(event)) for event in events]
    for which, op, where, byte in edits:
        apply_edit(payloads[which % len(payloads)], op, where, byte)
    assert_same_as_one_by_one([bytes(p) for p in payloads])
