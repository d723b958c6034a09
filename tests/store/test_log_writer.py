"""The log writer's bookkeeping: where the last record is, and the fence before every append.

``last_position`` must name the very bytes on disk (a snapshot is checked against them, rule
18), also across a segment roll. Appends land right after the last record, inside space the
writer preallocated (rule 13). The fence (rule 10) catches a foreign append, a foreign byte where
the next record goes and a truncation, before writing anything.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from agentrun.core.errors import FencingError, RecordTooLargeError
from agentrun.core.events import ModelResponded
from agentrun.store.framing import MAX_RECORD, RECORD_HEADER, decode_header, is_zeros, read_record
from agentrun.store.local import LocalTaskStore, LocalTaskWriter
from agentrun.store.log_writer import MIN_PREALLOCATE_BYTES, PREALLOCATE_BYTES
from tests.store.builders import event_at, make_created
from tests.store.conftest import CleanLogs


def new_writer(home: Path, **store_options: int) -> tuple[LocalTaskStore, str, LocalTaskWriter]:
    store = LocalTaskStore(home, **store_options)
    task_id = store.create(make_created, now=datetime(2026, 1, 2))
    return store, task_id, store.open_writer(task_id)


def assert_names_the_record_on_disk(writer: LocalTaskWriter, log_dir: str) -> None:
    position = writer._log.last_position
    assert position is not None
    data = Path(log_dir, position.segment).read_bytes()
    record = read_record(data, position.offset, position.seq)
    assert (record.end, record.crc) == (position.end, position.crc)
    assert position.end - position.offset > RECORD_HEADER


def test_the_last_position_names_the_last_record_on_disk_across_a_roll(
    fast_home: Path, clean_logs: CleanLogs
) -> None:
    store, task_id, writer = new_writer(fast_home, segment_bytes=4096)
    clean_logs(store, task_id)
    log_dir = os.path.join(store.task_dir(task_id), "log")
    rng = random.Random(7)
    try:
        segments_seen = set()
        for _ in range(40):
            events = [event_at(writer.next_seq + i, rng) for i in range(rng.choice((1, 2)))]
            writer.append(events, sync=rng.random() < 0.5)
            assert_names_the_record_on_disk(writer, log_dir)
            segments_seen.add(writer._log.last_position.segment)
        assert len(segments_seen) > 2  # rolled, more than once
        before = writer._log.last_position
        writer._log.roll()
        assert writer._log.last_position == before  # an empty new segment holds no record yet
    finally:
        writer.close()


def test_appends_go_right_after_the_last_record_inside_the_preallocated_space(
    fast_home: Path,
) -> None:
    writer, segment, end = writer_with_five_records(fast_home)
    try:
        data = Path(segment).read_bytes()
        # A short log gets the least ahead of it: a run of a few events writes few zeros.
        assert len(data) == first_append_offset(data) + MIN_PREALLOCATE_BYTES
        assert is_zeros(data, end)  # rule 13: zeros after the last record
    finally:
        writer.close()
    assert os.path.getsize(segment) == end  # a clean close cuts the file back to its data


def test_the_space_ahead_grows_with_the_segment_up_to_its_cap(fast_home: Path) -> None:
    store, task_id, writer = new_writer(fast_home)
    segment = os.path.join(store.task_dir(task_id), "log", writer._log.last_position.segment)
    rng = random.Random(5)
    grown: list[tuple[int, int]] = []  # (end of data before the append, the file's new size)
    try:
        while os.path.getsize(segment) < 3 * PREALLOCATE_BYTES:
            end, size = writer._log.mark[1], os.path.getsize(segment)
            writer.append([event_at(writer.next_seq, rng, output_size=20_000)], sync=False)
            if os.path.getsize(segment) != size:
                grown.append((end, os.path.getsize(segment)))
        assert is_zeros(Path(segment).read_bytes(), writer._log.mark[1])  # zeros after the data
    finally:
        writer.close()
    # Each time as much as the segment held, at least the least and at most the cap.
    ahead = [size - end for end, size in grown]
    assert ahead == [min(PREALLOCATE_BYTES, max(MIN_PREALLOCATE_BYTES, end)) for end, _ in grown]
    assert ahead[0] == MIN_PREALLOCATE_BYTES and ahead[-1] == PREALLOCATE_BYTES
    assert len(set(ahead)) >= 4  # it ramped: 64 KiB, then more, then the cap


@pytest.mark.parametrize(
    "foreign",
    [
        pytest.param(lambda path, end: _append(path, b"\x00"), id="an-append-past-the-end"),
        pytest.param(lambda path, end: _write_at(path, end, b"\x01"), id="a-byte-at-our-end"),
        pytest.param(lambda path, end: os.truncate(path, end), id="a-truncation"),
    ],
)
def test_the_fence_catches_a_foreign_write_and_writes_nothing(
    fast_home: Path, foreign: Callable[[str, int], None]
) -> None:
    writer, segment, end = writer_with_five_records(fast_home)
    try:
        foreign(segment, end)
        before = Path(segment).read_bytes()
        with pytest.raises(FencingError, match="rule 10"):
            writer.append([event_at(writer.next_seq, random.Random(4))], sync=False)
        assert Path(segment).read_bytes() == before  # nothing written
    finally:
        writer.abandon()


def writer_with_five_records(home: Path) -> tuple[LocalTaskWriter, str, int]:
    """A writer that appended five records: it, its segment's path, and the end of its data."""
    store, task_id, writer = new_writer(home)
    rng = random.Random(3)
    for _ in range(5):
        writer.append([event_at(writer.next_seq, rng)], sync=False)
    position = writer._log.last_position
    assert position is not None
    return writer, os.path.join(store.task_dir(task_id), "log", position.segment), position.end


def first_append_offset(data: bytes) -> int:
    """Where the task's first appended record starts: after the header and ``task_created``."""
    header = decode_header(data)
    assert header is not None
    return read_record(data, header.size, 1).end


def _append(path: str, data: bytes) -> None:
    with open(path, "ab") as f:
        f.write(data)


def _write_at(path: str, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def test_an_event_over_the_record_limit_writes_nothing_and_the_writer_goes_on(
    fast_home: Path,
) -> None:
    # Rule 11: refused before the write, so neither the log nor the writer is harmed.
    writer, segment, _ = writer_with_five_records(fast_home)
    try:
        big = ModelResponded(
            seq=writer.next_seq,
            ts="2026-01-02T00:00:00+00:00",
            message={"role": "assistant", "content": "x" * (MAX_RECORD + 1)},
            usage={},
            model="m",
        )
        before = Path(segment).read_bytes()
        with pytest.raises(RecordTooLargeError, match="over the 16,777,216-byte limit"):
            writer.append([big], sync=True)
        assert Path(segment).read_bytes() == before
        writer.append([event_at(writer.next_seq, random.Random(5))], sync=True)
        assert writer.state.last_seq == 7
    finally:
        writer.close()
