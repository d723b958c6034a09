"""The ``summary`` cache: trusted only while two stats prove the log ends where it was written.

Every way the log can move on after a summary (an append, a roll, a torn-tail repair, a cut, a
squash) must make ``store.summary`` fold the log instead, and the answer must be the fold's: a
summary never claims more, or less, than the log holds. Readers never write the summary back
(rule 17). Old-format, damaged and foreign summary files are stale, not errors.
"""

from __future__ import annotations

import os
import random
import shutil
import struct
import zlib
from pathlib import Path
from typing import Any

import msgpack
import pytest

from agentrun.core.errors import TaskNotFoundError
from agentrun.core.events import TaskFinished
from agentrun.core.state import State
from agentrun.store.local import LocalTaskStore
from agentrun.store.summary import (
    FIELDS,
    SUMMARY_FORMAT,
    current_summary,
    decode_summary,
    encode_summary,
    summarize,
)
from tests.store.builders import (
    BASE_TIME,
    BuiltTask,
    build_task,
    event_at,
    iso,
    make_created,
    record_bounds,
    seed_from_env,
)


def folded(store: LocalTaskStore, task_id: str) -> dict[str, Any]:
    """What the summary must say: the summary of the state folded from the log."""
    return summarize(store.load(task_id).state, None)


def answer(store: LocalTaskStore, task_id: str) -> dict[str, Any]:
    """``store.summary`` without the log mark (a folded summary has none)."""
    return {**store.summary(task_id), "log_mark": None}


def summary_path(built: BuiltTask) -> Path:
    return built.task_dir / "summary"


def trusted(built: BuiltTask) -> bool:
    """Whether a reader takes the summary file as it is (no fold)."""
    return current_summary(built.store.ops, str(built.task_dir)) is not None


def append_without_summary(store: LocalTaskStore, task_id: str, count: int, seed: int = 1) -> None:
    """Append ``count`` events and stop the way a killed run stops: no summary, no snapshot."""
    rng = random.Random(seed)
    writer = store.open_writer(task_id)
    try:
        seq = writer.next_seq
        writer.append([event_at(s, rng) for s in range(seq, seq + count)], sync=True)
    finally:
        writer.abandon()


@pytest.fixture
def built(fast_home: Path) -> BuiltTask:
    return build_task(LocalTaskStore(fast_home), 20, task_id="t-summary")


def test_a_fresh_summary_is_trusted_and_equals_the_fold(built: BuiltTask) -> None:
    assert trusted(built)
    assert answer(built.store, built.task_id) == folded(built.store, built.task_id)
    assert built.store.summary(built.task_id)["log_mark"] == [1, built.segments()[0].stat().st_size]


def test_an_append_after_the_summary_makes_it_stale(built: BuiltTask) -> None:
    append_without_summary(built.store, built.task_id, 3)
    assert not trusted(built)
    assert built.store.summary(built.task_id)["last_seq"] == 23
    assert answer(built.store, built.task_id) == folded(built.store, built.task_id)


def test_a_roll_after_the_summary_makes_it_stale_though_the_old_segment_is_unchanged(
    built: BuiltTask,
) -> None:
    old = built.segments()[-1]
    size = old.stat().st_size
    # A store whose segments are smaller than this one: the next append rolls first.
    small = LocalTaskStore(built.store.home, segment_bytes=size - 1)
    append_without_summary(small, built.task_id, 1)
    assert old.stat().st_size == size and len(built.segments()) == 2
    assert not trusted(built)
    assert built.store.summary(built.task_id)["last_seq"] == 21
    assert answer(built.store, built.task_id) == folded(built.store, built.task_id)


def test_a_cut_below_the_summary_is_never_hidden_by_it(built: BuiltTask) -> None:
    """A lost tail (power loss of unsynced bytes elsewhere, a manual cut): fold, say less."""
    segment = built.segments()[-1]
    _header, bounds = record_bounds(segment.read_bytes())
    os.truncate(segment, bounds[-2] + 3)  # the last record torn
    assert not trusted(built)
    assert built.store.summary(built.task_id)["last_seq"] == 19
    assert answer(built.store, built.task_id) == folded(built.store, built.task_id)


def test_a_torn_tail_repaired_after_the_summary_makes_it_stale(built: BuiltTask) -> None:
    append_without_summary(built.store, built.task_id, 4)
    segment = built.segments()[-1]
    with open(segment, "ab") as f:
        f.write(b"\x40\x00\x00\x00garbage of a torn write")
    writer = built.store.open_writer(built.task_id)  # repairs the tail
    assert writer.recovery and writer.recovery[0]["repair"] == "torn_tail"
    writer.abandon()
    assert not trusted(built)
    assert built.store.summary(built.task_id)["last_seq"] == 24
    assert answer(built.store, built.task_id) == folded(built.store, built.task_id)


def test_a_summary_from_before_a_squash_is_stale(built: BuiltTask) -> None:
    store = built.store
    writer = store.open_writer(built.task_id)
    writer.append([TaskFinished(seq=writer.next_seq, ts=iso(21), outcome="succeeded")], sync=True)
    writer.close()
    before = summary_path(built).read_bytes()
    writer = store.open_writer(built.task_id)
    writer.squash()
    writer.close()
    assert trusted(built)
    summary_path(built).write_bytes(before)  # as if the squash had stopped before its summary
    assert not trusted(built)
    assert store.summary(built.task_id)["last_seq"] == 22
    assert answer(store, built.task_id) == folded(store, built.task_id)


def test_a_summary_written_on_an_empty_last_segment_is_trusted_until_an_append(
    built: BuiltTask,
) -> None:
    writer = built.store.open_writer(built.task_id)
    writer._log.roll()  # a roll with nothing after it yet: the segment of seq 21, header only
    writer.close()
    assert [p.name[:20] for p in built.segments()] == [f"{1:020d}", f"{21:020d}"]
    assert trusted(built)
    append_without_summary(built.store, built.task_id, 1)
    assert not trusted(built)
    assert built.store.summary(built.task_id)["last_seq"] == 21


@pytest.mark.parametrize(
    "damage",
    [
        "format-1",
        "bit-flip",
        "truncated",
        "empty",
        "a-map",
        "short-array",
        "format-3",
        "other-task",
        "mark-as-strings",
    ],
)
def test_an_old_damaged_or_foreign_summary_is_stale_and_never_rewritten(
    built: BuiltTask, damage: str
) -> None:
    path = summary_path(built)
    data = path.read_bytes()
    cached = decode_summary(data)
    assert cached is not None
    if damage == "format-1":  # what the previous version wrote: the bare map, another mark
        bad = msgpack.packb({**cached, "format": 1, "log_mark": ["x.seg", 9]})
    elif damage == "bit-flip":
        bad = data[:40] + bytes([data[40] ^ 0x10]) + data[41:]
    elif damage == "truncated":
        bad = data[:-5]
    elif damage == "empty":
        bad = b""
    elif damage == "a-map":
        bad = with_crc(msgpack.packb(cached))
    elif damage == "short-array":
        bad = with_crc(msgpack.packb([SUMMARY_FORMAT]))
    elif damage == "format-3":
        bad = encode_summary({**cached, "format": 3})
    elif damage == "other-task":
        bad = encode_summary({**cached, "task_id": "t-other", "last_seq": 99})
    else:
        bad = encode_summary({**cached, "log_mark": ["../../x", "9"]})
    path.write_bytes(bad)
    assert answer(built.store, built.task_id) == folded(built.store, built.task_id)
    assert path.read_bytes() == bad  # rule 17: a reader never writes


def with_crc(payload: bytes) -> bytes:
    return struct.pack("<I", zlib.crc32(payload)) + payload


def test_a_copied_home_keeps_its_summaries_trusted(built: BuiltTask, tmp_path: Path) -> None:
    """Sizes and names, not inode numbers or mtimes: a restored backup does not fold every task."""
    copy = tmp_path / "copy"
    shutil.copytree(built.store.home, copy)
    store = LocalTaskStore(copy)
    assert current_summary(store.ops, store.task_dir(built.task_id)) is not None


def test_a_deleted_task_is_not_found_though_a_summary_survives(built: BuiltTask) -> None:
    shutil.rmtree(built.log_dir)
    with pytest.raises(TaskNotFoundError, match="no task t-summary"):
        built.store.summary(built.task_id)


def test_random_histories_never_leave_a_trusted_summary_that_differs_from_the_fold(
    fast_home: Path,
) -> None:
    rng = random.Random(seed_from_env(random.randrange(1 << 30)))
    store = LocalTaskStore(fast_home, segment_bytes=3000)
    store.create(make_created, now=BASE_TIME, task_id="t-rand")
    for step in range(60):
        action = rng.choice(["append", "append-close", "close", "roll-close", "cut"])
        writer = store.open_writer("t-rand")
        try:
            if action not in ("close", "roll-close"):
                seq = writer.next_seq
                count = rng.randint(1, 4)
                writer.append([event_at(s, rng) for s in range(seq, seq + count)], sync=True)
            if action == "roll-close":
                writer._log.roll()
        finally:
            if action in ("append", "cut"):
                writer.abandon()
            else:
                writer.close()
        if action == "cut":
            segments = sorted((Path(store.task_dir("t-rand")) / "log").glob("*.seg"))
            _header, bounds = record_bounds(segments[-1].read_bytes())
            if len(bounds) >= 2:  # at least one record: tear the last one
                os.truncate(segments[-1], rng.randint(bounds[-2] + 1, bounds[-1] - 1))
        assert answer(store, "t-rand") == folded(store, "t-rand"), f"step {step}: {action}"


def test_a_summary_holds_every_field_and_reads_back_equal(built: BuiltTask) -> None:
    summary = summarize(State(), [1, 100])
    assert tuple(summary) == FIELDS
    assert decode_summary(encode_summary(summary)) == summary


def test_sums_written_with_float_noise_read_back_as_the_fold_gives_them_now() -> None:
    # Summaries written before the fold rounded its sums (core.state) stay trusted caches.
    noisy = summarize(State(), [1, 100]) | {"active_seconds": 0.1 + 0.2, "cost_usd": 0.1 + 0.2}
    summary = decode_summary(encode_summary(noisy))
    assert summary is not None
    assert (repr(summary["active_seconds"]), repr(summary["cost_usd"])) == ("0.3", "0.3")
