"""Reading records as maps (``log --json``) sees exactly the log that reading events sees.

``iter_record_batches`` takes its own fast loop over the frames and hands over to framing's scan
at the first record it does not take. Whatever the damage (a torn or garbage tail, a flipped bit
in a sealed segment or before valid records, a replayed record, a missing segment, a torn
segment header), it must yield the same records as ``iter_records`` (as ``to_record`` maps, in
order) and then raise the same error with the same words, or none.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentrun.core.errors import AgentrunError
from agentrun.core.events import to_record
from agentrun.store.framing import encode_header
from agentrun.store.local import LocalTaskStore
from agentrun.store.log_reader import iter_record_batches, iter_records
from tests.store.builders import BuiltTask, build_task, record_bounds, seed_from_env

KIB = 1024


def drain(items: Iterator[Any]) -> tuple[list[Any], str | None]:
    """Everything yielded before the end or the error, and the error's words."""
    seen: list[Any] = []
    try:
        for item in items:
            seen.append(item)
    except AgentrunError as exc:
        return seen, f"{type(exc).__name__}: {exc}"
    return seen, None


def read_both(built: BuiltTask, from_seq: int = 1) -> tuple[Any, Any]:
    ops, log_dir = built.store.ops, str(built.log_dir)
    events, error = drain(iter_records(ops, log_dir, from_seq=from_seq))
    batches, batch_error = drain(iter_record_batches(ops, log_dir, from_seq=from_seq))
    maps = [record for batch in batches for record in batch]
    return (maps, batch_error), ([to_record(r.event) for _name, r in events], error)


@pytest.fixture
def built(fast_home: Path) -> BuiltTask:
    store = LocalTaskStore(fast_home, segment_bytes=8 * KIB)
    return build_task(store, 70, big={20: 3 * KIB})


def flip(path: Path, offset: int, bit: int = 0) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 1 << bit
    path.write_bytes(bytes(data))


def records_of(path: Path) -> list[int]:
    """Start offsets of the records of a well-formed segment, and its end."""
    return record_bounds(path.read_bytes())[1]


def torn_tail(built: BuiltTask, rng: random.Random) -> None:
    last = built.segments()[-1]
    bounds = records_of(last)
    os.truncate(last, rng.randint(bounds[-2] + 1, bounds[-1] - 1))


def garbage_tail(built: BuiltTask, rng: random.Random) -> None:
    with open(built.segments()[-1], "ab") as f:
        f.write(rng.randbytes(rng.randint(1, 300)))


def flip_in_sealed_segment(built: BuiltTask, rng: random.Random) -> None:
    first = built.segments()[0]
    bounds = records_of(first)
    start = bounds[rng.randrange(len(bounds) - 1)]
    flip(first, rng.randint(start, start + 12), rng.randrange(8))


def flip_before_valid_records_in_the_last_segment(built: BuiltTask, rng: random.Random) -> None:
    last = built.segments()[-1]
    bounds = records_of(last)
    start = bounds[rng.randrange(max(1, len(bounds) - 4))]
    flip(last, start + 10, rng.randrange(8))  # inside the payload: the CRC fails


def replayed_record(built: BuiltTask, rng: random.Random) -> None:
    last = built.segments()[-1]
    data = last.read_bytes()
    bounds = records_of(last)
    with open(last, "ab") as f:
        f.write(data[bounds[0] : bounds[1]])  # a valid frame with a stale seq


def missing_middle_segment(built: BuiltTask, rng: random.Random) -> None:
    built.segments()[1].unlink()


def torn_segment_header(built: BuiltTask, rng: random.Random) -> None:
    last_seq = built.events[-1].seq
    header = encode_header(built.task_id, last_seq + 1)
    (built.log_dir / f"{last_seq + 1:020d}.seg").write_bytes(header[: rng.randint(1, 20)])


def nothing(built: BuiltTask, rng: random.Random) -> None:
    pass


DAMAGES: list[Callable[[BuiltTask, random.Random], None]] = [
    nothing,
    torn_tail,
    garbage_tail,
    flip_in_sealed_segment,
    flip_before_valid_records_in_the_last_segment,
    replayed_record,
    missing_middle_segment,
    torn_segment_header,
]


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("trial", range(4))
def test_maps_and_events_see_the_same_records_and_the_same_error(
    built: BuiltTask, damage: Callable[[BuiltTask, random.Random], None], trial: int
) -> None:
    seed = seed_from_env(trial)
    assert len(built.segments()) >= 3
    damage(built, random.Random(seed))
    for from_seq in (1, 30, 65):
        maps, events = read_both(built, from_seq)
        assert maps == events
        assert [list(m) for m in maps[0]] == [list(e) for e in events[0]]  # key order too


def test_a_clean_log_is_read_whole_in_one_list_per_segment(built: BuiltTask) -> None:
    batches = list(iter_record_batches(built.store.ops, str(built.log_dir)))
    assert len(batches) == len(built.segments())
    assert [r for batch in batches for r in batch] == [to_record(e) for e in built.events]


def test_the_store_lists_records_from_a_seq_on_as_events_does(built: BuiltTask) -> None:
    store = built.store
    for from_seq in (1, 2, 35, 36, 37, 70):
        records = [r for batch in store.event_records(built.task_id, from_seq) for r in batch]
        assert records == [to_record(e) for e in store.events(built.task_id, from_seq)]
