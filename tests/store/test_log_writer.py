"""The log writer's bookkeeping: where the last record is, and the fence before every append.

``last_position`` must name the very bytes on disk (a snapshot is checked against them, rule
18), also across a segment roll. The fence (rule 10) reads the file's size without disturbing
appends: every record still lands at the end, and a foreign byte is caught before the next one.
"""

from __future__ import annotations

import os
import random
from datetime import datetime
from pathlib import Path

import pytest

from agentrun.core.errors import FencingError
from agentrun.store.framing import RECORD_HEADER, read_record
from agentrun.store.local import LocalTaskStore, LocalTaskWriter
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


def test_the_fence_leaves_appends_at_the_end_and_catches_a_foreign_byte(
    fast_home: Path,
) -> None:
    store, task_id, writer = new_writer(fast_home)
    log_dir = os.path.join(store.task_dir(task_id), "log")
    rng = random.Random(3)
    try:
        for _ in range(5):
            writer.append([event_at(writer.next_seq, rng)], sync=False)
        segment = os.path.join(log_dir, writer._log.last_position.segment)
        assert os.path.getsize(segment) == writer._log.last_position.end
        with open(segment, "ab") as foreign:
            foreign.write(b"\x00")
        with pytest.raises(FencingError, match="rule 10"):
            writer.append([event_at(writer.next_seq, rng)], sync=False)
        assert os.path.getsize(segment) == writer._log.last_position.end + 1  # nothing written
    finally:
        writer.abandon()
