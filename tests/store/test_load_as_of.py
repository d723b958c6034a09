"""``store.load(upto=SEQ)``: the state as of an event, from the newest snapshot at or before it."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import takewhile
from pathlib import Path

from agentrun.core.events import ModelResponded, TaskCreated, TaskFinished
from agentrun.core.state import fold
from agentrun.store.local import LocalTaskStore
from agentrun.store.snapshots import list_snapshots

TS = datetime(2026, 11, 26, 8, 15, tzinfo=UTC).isoformat()


def long_task(store: LocalTaskStore, turns: int) -> str:
    task_id = store.create(
        lambda i: TaskCreated(seq=1, ts=TS, task_id=i, goal="g", agent={}), now=datetime.now(UTC)
    )
    writer = store.open_writer(task_id)
    for n in range(turns):
        call = {"id": f"call_{n}", "name": f"tool_{n}", "arguments": {}}
        message = {"role": "assistant", "content": f"turn {n}", "tool_calls": [call]}
        writer.append(
            [ModelResponded(seq=writer.next_seq, ts=TS, message=message, usage={}, model="m")],
            sync=False,
        )
    writer.append(
        [TaskFinished(seq=writer.next_seq, ts=TS, outcome="succeeded", answer="ok")], sync=True
    )
    writer.close()
    return task_id


def test_the_state_as_of_any_event_is_the_fold_up_to_it_from_a_snapshot(tmp_path: Path) -> None:
    store = LocalTaskStore(tmp_path / "home", snapshot_every=10)
    task_id = long_task(store, 44)
    snap_dir = str(Path(store.task_dir(task_id)) / "snapshots")
    snapshots = sorted(int(Path(p).stem) for p in list_snapshots(store.ops, snap_dir))
    assert snapshots  # the snapshot path is exercised, not only the fold from the start
    last = store.load(task_id).state.last_seq
    for seq in range(1, last + 1):
        loaded = store.load(task_id, upto=seq)
        expected = fold(takewhile(lambda e, s=seq: e.seq <= s, store.events(task_id)))
        assert loaded.state.to_plain_dict() == expected.to_plain_dict(), seq
        at_or_before = [s for s in snapshots if s <= seq]
        assert loaded.snapshot_seq == (at_or_before[-1] if at_or_before else None), seq


def test_before_the_first_event_a_squash_left_the_state_is_empty(tmp_path: Path) -> None:
    store = LocalTaskStore(tmp_path / "home")
    task_id = long_task(store, 3)
    writer = store.open_writer(task_id)
    writer.squash()
    writer.close(snapshot=False)
    first = next(store.events(task_id)).seq
    assert store.load(task_id, upto=first - 1).state.task_id == ""
    assert store.load(task_id, upto=first).state.status == "succeeded"
