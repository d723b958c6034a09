"""Snapshots are a cache of bounded size: the writer keeps only the newest few.

Every snapshot holds the whole state; keeping all of them would make a task's storage grow
quadratically with its length (design §4: storage grows linearly).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from agentrun.core.events import ModelResponded, TaskCreated
from agentrun.core.state import fold
from agentrun.store.local import SNAPSHOTS_KEPT, LocalTaskStore
from agentrun.store.snapshots import list_snapshots


def test_a_long_task_keeps_only_the_newest_snapshots_and_loads_the_same(tmp_path: Path) -> None:
    store = LocalTaskStore(tmp_path / "home", snapshot_every=10)
    ts = datetime.now(UTC).isoformat()
    task_id = store.create(
        lambda i: TaskCreated(seq=1, ts=ts, task_id=i, goal="g", agent={}), now=datetime.now(UTC)
    )
    writer = store.open_writer(task_id)
    for n in range(95):
        message = {"role": "assistant", "content": f"turn {n}"}
        writer.append(
            [ModelResponded(seq=writer.next_seq, ts=ts, message=message, usage={}, model="m")],
            sync=False,
        )
    writer.close()
    snaps = list_snapshots(store.ops, str(Path(store.task_dir(task_id)) / "snapshots"))
    assert len(snaps) == SNAPSHOTS_KEPT
    assert store.load(task_id).state.to_dict() == fold(store.events(task_id)).to_dict()
