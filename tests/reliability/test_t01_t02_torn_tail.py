"""T1 and T2: a torn tail at every byte offset, and garbage or zero tails (rules 13-17, 12).

T1: a 40-record log (one ~64 KiB record in the sealed segment, one 5 KiB record in the last,
one roll) is cut at **every** byte offset of its last segment, header included. For each cut
the reader alone returns exactly the records before the cut and changes nothing (rule 17,
INV-RO); opening as writer repairs exactly ``[last record boundary, cut)``, keeps those bytes
in ``<seg>.torn-<offset>`` and reports it in ``recovery`` (rule 15); a second open repairs
nothing and ``verify`` finds the log clean (INV-PREFIX, INV-CLASSIFY). F4 runs at the end.

To stay within the CI budget the sweep runs in-process on tmpfs against one task, rewriting
only the last segment before each cut (no directory copies), split into interleaved chunks
that xdist runs in parallel. The reader, the INV-RO check and the repairing open run at every
offset (``store.events``: exactly the events before the cut); ``store.load``, the second open
and ``verify`` run at every offset within 16 bytes of a record boundary and at every 7th
offset elsewhere.

T2: after a cut, zeros or random bytes appended (a file whose size was updated before its
content, rule 13) are a torn tail, except zeros right after a whole record: those are the end
of the log, as the writer's preallocated space is, and nothing is repaired (one trial in ten
cuts at a record boundary to cover it); a copy of an earlier, valid record appended after the last
one (a replayed record with a stale seq) is corruption (rule 14).
"""

from __future__ import annotations

import hashlib
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agentrun.core.errors import CorruptLogError
from agentrun.core.events import Event
from agentrun.core.state import State, fold
from agentrun.store.framing import decode_header
from agentrun.store.local import LocalTaskStore
from agentrun.store.verify import verify_task
from tests.store.builders import (
    BuiltTask,
    build_task,
    content_digest,
    record_bounds,
    seed_from_env,
)
from tests.store.conftest import CleanLogs
from tests.trials import trials

KIB = 1024
# 40 records: seq 12 is ~64 KiB and lands in the first (sealed) segment, seq 33 is 5 KiB and
# lands in the last; 72 KiB segments roll once, before seq 27 (the last segment is ~9.6 KB).
T1_RECORDS = 40
T1_BIG = {12: 64 * KIB, 33: 5 * KIB}
T1_SEGMENT_BYTES = 72 * KIB
# A snapshot at the sealed segment's last record: realistic, and it spares every open from
# re-folding the sealed segment. ``store.events`` still reads every record at every cut.
T1_SNAPSHOT_AT = {26}
T1_CHUNKS = 4
# Extended tier: 200 records, the last segment holds 180 of them (~65 K cuts).
STRESS_RECORDS = 200
STRESS_BIG = {5: 64 * KIB, 180: 5 * KIB}
STRESS_SEGMENT_BYTES = 70 * KIB
FULL_CHECK_NEAR_BOUNDARY = 16
FULL_CHECK_STRIDE = 7


@dataclass
class Sweep:
    """One task and everything a cut is checked against."""

    built: BuiltTask
    segment: Path
    pristine: bytes
    header_size: int
    first_seq: int
    bounds: list[int]  # record start offsets in the last segment, then its end
    folds: list[State]  # folds[k] = state after the first k events
    events: list[Event]
    checked: dict[str, int] = field(default_factory=dict)

    @property
    def store(self) -> LocalTaskStore:
        return self.built.store

    @property
    def task_id(self) -> str:
        return self.built.task_id


def make_sweep(
    home: Path,
    records: int,
    big: dict[int, int],
    segment_bytes: int,
    snapshot_at: set[int] | None = None,
) -> Sweep:
    store = LocalTaskStore(home, segment_bytes=segment_bytes)
    built = build_task(store, records, big=big, snapshot_at=snapshot_at)
    segments = built.segments()
    assert len(segments) == 2, "the fixture log must roll exactly once"
    pristine = segments[-1].read_bytes()
    header = decode_header(pristine)
    assert header is not None
    header_size, bounds = record_bounds(pristine)
    events = built.events
    assert [e.seq for e in events] == list(range(1, records + 1))
    assert any(bounds[i + 1] - bounds[i] > 5 * KIB for i in range(len(bounds) - 1))
    folds = [fold(events[:k]) for k in range(len(events) + 1)]
    assert all(seq < header.first_seq for seq in snapshot_at or ()), "snapshot in sealed segment"
    return Sweep(
        built, segments[-1], pristine, header_size, header.first_seq, bounds, folds, events
    )


def put_segment(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def ro_digest(sweep: Sweep) -> dict[str, tuple[int, int, str]]:
    """Names, sizes and mtimes of the whole task; bytes of the segment being cut (INV-RO)."""
    result = {}
    root = sweep.built.task_dir
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            digest = ""
            if path == str(sweep.segment):
                digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            result[os.path.relpath(path, root)] = (st.st_size, st.st_mtime_ns, digest)
    return result


def check_cut(sweep: Sweep, cut: int, *, full: bool) -> None:
    """Cut the last segment at ``cut`` and check reader, repair, reopen and verify."""
    store, task_id, data = sweep.store, sweep.task_id, sweep.pristine
    put_segment(sweep.segment, data[:cut])
    if cut < sweep.header_size:
        boundary, kept = 0, sweep.first_seq - 1  # a roll torn inside the header
    else:
        boundary = max(b for b in sweep.bounds if b <= cut)
        kept = sweep.first_seq - 1 + sweep.bounds.index(boundary)
    dropped = data[boundary:cut]

    before = ro_digest(sweep)
    assert list(store.events(task_id)) == sweep.events[:kept], f"cut {cut}: reader prefix"
    if full:
        assert store.load(task_id).state == sweep.folds[kept], f"cut {cut}: loaded state"
    assert ro_digest(sweep) == before, f"cut {cut}: a reader changed the task (INV-RO)"

    writer = store.open_writer(task_id)
    try:
        recovery, next_seq, state = writer.recovery, writer.next_seq, writer.state
    finally:
        writer.abandon()
    torn = sweep.segment.with_name(f"{sweep.segment.name}.torn-{boundary}")
    if cut in (boundary, len(data)) and cut >= sweep.header_size:
        assert recovery == [], f"cut {cut} at a boundary needs no repair"
        assert not torn.exists()
        assert sweep.segment.read_bytes() == data[:cut]
    else:
        assert recovery == [
            {
                "repair": "torn_tail",
                "segment": sweep.segment.name,
                "offset": boundary,
                "bytes": len(dropped),
                "sha256": hashlib.sha256(dropped).hexdigest(),
                "saved_as": torn.name,
            }
        ], f"cut {cut}"
        assert torn.read_bytes() == dropped, f"cut {cut}: .torn file"
        assert oct(torn.stat().st_mode & 0o777) == oct(0o600)
        if boundary == 0:
            assert not sweep.segment.exists(), f"cut {cut}: torn header segment not dropped"
        else:
            assert sweep.segment.read_bytes() == data[:boundary], f"cut {cut}: truncation"
    assert next_seq == kept + 1 and state == sweep.folds[kept], f"cut {cut}: writer state"
    sweep.checked["cuts"] = sweep.checked.get("cuts", 0) + 1
    sweep.checked["repairs"] = sweep.checked.get("repairs", 0) + bool(recovery)

    if full:
        writer = store.open_writer(task_id)
        try:
            # Nothing was appended after the first repair, so nothing records it yet: the second
            # open reports that same cut again (rule 15.3) and cuts nothing more. A dropped
            # half-rolled segment is gone, its .torn-0 kept: not reported twice.
            again = [{k: v for k, v in r.items() if k != "finished"} for r in writer.recovery]
            pending = [r for r in recovery if (sweep.segment.parent / r["segment"]).exists()]
            assert again == pending, f"cut {cut}: the second open repaired again"
            assert all("finished" in r for r in writer.recovery), f"cut {cut}"
        finally:
            writer.abandon()
        report = verify_task(store.ops, store.task_dir(task_id), task_id)
        assert report.is_ok and not report.problems, f"cut {cut}: {report.problems}"
        assert (report.events, report.torn_tail_bytes) == (kept, 0), f"cut {cut}"
        sweep.checked["full"] = sweep.checked.get("full", 0) + 1
    if torn.exists():
        torn.unlink()


def is_full_check(sweep: Sweep, cut: int) -> bool:
    near = min(abs(cut - b) for b in [0, sweep.header_size, *sweep.bounds])
    return near <= FULL_CHECK_NEAR_BOUNDARY or cut % FULL_CHECK_STRIDE == 0


def sweep_offsets(sweep: Sweep, offsets: Iterator[int] | range) -> dict[str, int]:
    started = time.perf_counter()
    for cut in offsets:
        check_cut(sweep, cut, full=is_full_check(sweep, cut))
    put_segment(sweep.segment, sweep.pristine)
    elapsed = time.perf_counter() - started
    print(
        f"{sweep.checked} in {elapsed:.1f} s ({elapsed / sweep.checked['cuts'] * 1e3:.2f} ms/cut)"
    )
    return sweep.checked


@pytest.mark.parametrize("chunk", range(T1_CHUNKS))
def test_a_cut_at_every_byte_of_the_last_segment_is_a_torn_tail_repaired_exactly(
    chunk: int, fast_home: Path, clean_logs: CleanLogs
) -> None:
    sweep = make_sweep(fast_home, T1_RECORDS, T1_BIG, T1_SEGMENT_BYTES, T1_SNAPSHOT_AT)
    size = len(sweep.pristine)
    offsets = range(sweep.header_size + chunk, size + 1, T1_CHUNKS)
    checked = sweep_offsets(sweep, offsets)
    assert checked["cuts"] == len(offsets) > size // T1_CHUNKS - 10
    clean_logs(sweep.store, sweep.task_id)


def test_a_roll_torn_inside_the_new_segment_header_drops_that_segment(
    fast_home: Path, clean_logs: CleanLogs
) -> None:
    sweep = make_sweep(fast_home, T1_RECORDS, T1_BIG, T1_SEGMENT_BYTES)
    checked = sweep_offsets(sweep, range(sweep.header_size))
    assert checked["cuts"] == checked["repairs"] == checked["full"] == sweep.header_size
    clean_logs(sweep.store, sweep.task_id)


@pytest.mark.stress
def test_stress_every_byte_of_a_200_record_log_is_a_torn_tail(
    fast_home: Path, clean_logs: CleanLogs
) -> None:
    sweep = make_sweep(fast_home, STRESS_RECORDS, STRESS_BIG, STRESS_SEGMENT_BYTES)
    checked = sweep_offsets(sweep, range(len(sweep.pristine) + 1))
    assert checked["cuts"] == len(sweep.pristine) + 1
    clean_logs(sweep.store, sweep.task_id)


# -- T2 ---------------------------------------------------------------------------------------

T2_TRIALS = trials(1_000, 50_000)


def test_garbage_tails_are_repaired_and_zeros_after_a_whole_record_end_the_log(
    fast_home: Path, clean_logs: CleanLogs
) -> None:
    seed = seed_from_env(20260102)
    rng = random.Random(seed)
    sweep = make_sweep(fast_home, T1_RECORDS, T1_BIG, T1_SEGMENT_BYTES)
    store, task_id, data = sweep.store, sweep.task_id, sweep.pristine
    counts = {"zeros": 0, "random": 0, "zeros at a record's end": 0}
    for trial in range(T2_TRIALS):
        at_boundary = trial % 10 == 0
        cut = (
            rng.choice(sweep.bounds)
            if at_boundary
            else rng.randrange(sweep.header_size, len(data) + 1)
        )
        kind = rng.choice(("zeros", "random"))
        size = rng.randint(1, 8192)
        tail = bytes(size) if kind == "zeros" else rng.randbytes(size)
        put_segment(sweep.segment, data[:cut] + tail)
        boundary = max(b for b in sweep.bounds if b <= cut)
        kept = sweep.first_seq - 1 + sweep.bounds.index(boundary)
        where = f"trial {trial} (seed {seed}): cut {cut} + {size} bytes of {kind}"
        assert list(store.events(task_id)) == sweep.events[:kept], where
        writer = store.open_writer(task_id)
        if kind == "zeros" and cut == boundary:
            # Rule 13: zeros after a whole record are the end of the log, as the writer's own
            # preallocated space is. Nothing to repair; the next record goes over them.
            try:
                assert (writer.recovery, writer.next_seq) == ([], kept + 1), where
            finally:
                writer.abandon()
            assert sweep.segment.read_bytes() == data[:cut] + tail, where
            counts["zeros at a record's end"] += 1
            continue
        try:
            assert [r["offset"] for r in writer.recovery] == [boundary], where
            assert writer.recovery[0]["bytes"] == cut - boundary + size, where
            assert writer.next_seq == kept + 1, where
        finally:
            writer.abandon()
        torn = sweep.segment.with_name(f"{sweep.segment.name}.torn-{boundary}")
        assert torn.read_bytes() == data[boundary:cut] + tail, where
        torn.unlink()
        assert sweep.segment.read_bytes() == data[:boundary], where
        counts[kind] += 1
    print(f"T2 seed={seed}: {counts}")
    put_segment(sweep.segment, data)
    clean_logs(sweep.store, sweep.task_id)


@pytest.mark.parametrize("copy_of", ["first", "middle", "last", "sealed"])
def test_a_replayed_record_with_a_stale_seq_after_the_last_one_is_corruption(
    copy_of: str, fast_home: Path
) -> None:
    sweep = make_sweep(fast_home, T1_RECORDS, T1_BIG, T1_SEGMENT_BYTES)
    store, task_id, data, bounds = sweep.store, sweep.task_id, sweep.pristine, sweep.bounds
    if copy_of == "sealed":
        sealed = sweep.built.segments()[0].read_bytes()
        _, sealed_bounds = record_bounds(sealed)
        replay = sealed[sealed_bounds[3] : sealed_bounds[4]]
    else:
        index = {"first": 0, "middle": len(bounds) // 2, "last": len(bounds) - 2}[copy_of]
        replay = data[bounds[index] : bounds[index + 1]]
    put_segment(sweep.segment, data + replay)
    before = content_digest(sweep.built.task_dir)

    report = verify_task(store.ops, store.task_dir(task_id), task_id)
    assert not report.is_ok
    problem = report.problems[0]
    assert (problem.file, problem.offset) == (sweep.segment.name, len(data))
    assert problem.reason.startswith("seq: ")
    with pytest.raises(CorruptLogError, match=f"{sweep.segment.name} at byte {len(data)}"):
        list(store.events(task_id))
    with pytest.raises(CorruptLogError, match=f"{sweep.segment.name} at byte {len(data)}"):
        store.open_writer(task_id)
    assert content_digest(sweep.built.task_dir) == before, "refusing must not touch bytes"
