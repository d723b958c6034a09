"""The writer's ``state`` is always the fold of what it appended, however it is read.

Appended events are folded when ``state`` is read, not inside ``append`` (an append at
``fsync=always`` is the encoding, the fence, the write and the fsync). Whatever the pattern of
appends, reads and snapshots, ``state`` equals the fold of the log, and so does every snapshot.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agentrun.core.codec import UnencodableValueError, decode_cache, encode_cache
from agentrun.core.events import Event, ModelResponded, TaskCreated, ToolCompleted
from agentrun.core.state import fold
from agentrun.store.fileops import OsFileOps
from agentrun.store.local import SNAPSHOTS_KEPT, LocalTaskStore
from agentrun.store.snapshots import list_snapshots

TS = datetime(2026, 1, 1, tzinfo=UTC).isoformat()


def _new_task(store: LocalTaskStore) -> str:
    return store.create(
        lambda i: TaskCreated(seq=1, ts=TS, task_id=i, goal="g", agent={}),
        now=datetime.now(UTC),
    )


def _turn(seq: int, n: int) -> Event:
    message = {"role": "assistant", "content": f"turn {n}", "tool_calls": []}
    usage = {"input_tokens": n, "output_tokens": 1}
    return ModelResponded(seq=seq, ts=TS, message=message, usage=usage, model="m")


def test_state_read_between_any_appends_is_the_fold_of_the_log(tmp_path: Path) -> None:
    store = LocalTaskStore(tmp_path / "home", snapshot_every=7)
    task_id = _new_task(store)
    writer = store.open_writer(task_id)
    for n in range(40):
        batch = [_turn(writer.next_seq, n)]
        if n % 3 == 0:
            batch.append(ToolCompleted(seq=writer.next_seq + 1, ts=TS, call_id="c", output="o"))
        writer.append(batch, sync=n % 2 == 0)
        if n % 5 == 0:  # read now and then: folding must neither skip nor repeat an event
            assert writer.state.to_dict() == fold(store.events(task_id)).to_dict()
    final = writer.state.to_dict()
    writer.close()
    assert final == fold(store.events(task_id)).to_dict()
    assert store.load(task_id).state.to_dict() == final
    assert final["steps"] == 40 and final["input_tokens"] == sum(range(40))


def test_a_snapshot_taken_while_events_wait_to_be_folded_includes_them(tmp_path: Path) -> None:
    store = LocalTaskStore(tmp_path / "home", snapshot_every=10**9)
    task_id = _new_task(store)
    writer = store.open_writer(task_id)
    for n in range(12):
        writer.append([_turn(writer.next_seq, n)], sync=False)
    writer.snapshot()  # nobody read ``state`` since the appends
    writer.close(snapshot=False)
    loaded = store.load(task_id)
    assert loaded.snapshot_seq == 13
    assert loaded.state.to_dict() == fold(store.events(task_id)).to_dict()


def test_a_cache_is_encoded_without_a_walk_but_unpackable_values_still_refuse() -> None:
    value = {"a": [1, 2.5, None, "x"], "b": {"c": True}}
    assert decode_cache(encode_cache(value)) == value
    with pytest.raises(UnencodableValueError):
        encode_cache({"a": object()})
    assert encode_cache([math.pi]) == encode_cache(
        [math.pi]
    )  # the packer is usable after a refusal


class _CountingOps(OsFileOps):
    def __init__(self) -> None:
        self.dir_syncs = 0

    def fsync_dir(self, path: str) -> None:
        self.dir_syncs += 1
        super().fsync_dir(path)


def test_dropping_stale_snapshots_costs_no_directory_fsync_of_its_own(tmp_path: Path) -> None:
    # Rule 2 covers entries something depends on; nothing depends on a stale cache's removal.
    ops = _CountingOps()
    store = LocalTaskStore(tmp_path / "home", ops=ops, snapshot_every=10**9)
    task_id = _new_task(store)
    writer = store.open_writer(task_id)
    snap_dir = str(Path(store.task_dir(task_id)) / "snapshots")
    for n in range(SNAPSHOTS_KEPT + 3):
        writer.append([_turn(writer.next_seq, n)], sync=True)
        before = ops.dir_syncs
        writer.snapshot()
        assert ops.dir_syncs - before == 1  # the new snapshot's rename, nothing more
        assert len(list_snapshots(ops, snap_dir)) == min(n + 1, SNAPSHOTS_KEPT)
    writer.close(snapshot=False)
