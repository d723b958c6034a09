"""T12: snapshots are caches checked before use; damaging them changes no answer (rule 18).

A task grows in bursts (``snapshot_every=7`` plus snapshots at close); between bursts, at random
seqs, all snapshots are deleted, one gets a bit flip, or one is replaced by a snapshot of another
task or of another seq. After each step ``store.load`` equals the fold of the log and a new
writer starts from the same state (INV-SNAPSHOT), and ``verify`` names exactly the damaged
snapshot files and nothing else. F4 at the end: the log itself stays clean.

Seeded: the seed is printed; ``AGENTRUN_SEED=<n>`` reruns a failure.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from agentrun.core.state import fold
from agentrun.store.local import LocalTaskStore
from agentrun.store.snapshots import list_snapshots
from agentrun.store.verify import verify_task
from tests.store.builders import build_task, event_at, run_started, seed_from_env
from tests.store.conftest import CleanLogs
from tests.trials import trials

T12_TRIALS = trials(100, 5_000)
SNAPSHOT_EVERY = 7
OPS = ("delete_all", "bit_flip", "other_task", "other_seq")


def snapshot_files(store: LocalTaskStore, task_id: str) -> list[Path]:
    return [Path(p) for p in list_snapshots(store.ops, store._snap_dir(task_id))]


def grow(store: LocalTaskStore, task_id: str, rng: random.Random, count: int) -> None:
    writer = store.open_writer(task_id)
    try:
        attempt = writer.state.attempts + 1
        events = [run_started(writer.next_seq, attempt=attempt)]
        events += [event_at(writer.next_seq + i, rng) for i in range(1, count)]
        for event in events:
            writer.append([event], sync=True)
    finally:
        writer.close(snapshot=rng.random() < 0.5)


def check_transparent(
    store: LocalTaskStore, task_id: str, damaged: dict[str, bytes], where: str
) -> None:
    expected = fold(store.events(task_id))
    loaded = store.load(task_id)
    assert loaded.state == expected, f"{where}: load differs from the fold (INV-SNAPSHOT)"
    if loaded.snapshot_seq is not None:
        assert f"{loaded.snapshot_seq:020d}.snap" not in damaged, f"{where}: used a bad one"
    report = verify_task(store.ops, store.task_dir(task_id), task_id)
    named = {p.file for p in report.problems}
    assert named == {f"snapshots/{n}" for n in damaged}, f"{where}: {report.problems}"
    assert report.torn_tail_bytes == 0
    writer = store.open_writer(task_id)
    try:
        assert writer.state == expected, f"{where}: writer state"
    finally:
        writer.abandon()


def test_deleting_corrupting_or_swapping_snapshots_changes_no_answer(
    fast_home: Path, clean_logs: CleanLogs
) -> None:
    seed = seed_from_env(1200)
    rng = random.Random(seed)
    store = LocalTaskStore(fast_home, snapshot_every=SNAPSHOT_EVERY, segment_bytes=16 * 1024)
    other = build_task(store, 120, task_id="t-snap-b", snapshot_at={20, 41, 62, 83, 104})
    other_snaps = snapshot_files(store, other.task_id)
    task_id = "t-snap-a"  # same length as the other id: its record offsets line up
    build_task(store, 10, task_id=task_id, snapshot_at={5})
    damaged: dict[str, bytes] = {}
    done = dict.fromkeys(OPS, 0)
    for trial in range(T12_TRIALS):
        grow(store, task_id, rng, rng.randint(1, 9))
        snaps = snapshot_files(store, task_id)
        # A writer may have rewritten a damaged name with a good snapshot: no longer damaged.
        damaged = {n: b for n, b in damaged.items() if _read(store, task_id, n) == b}
        op = rng.choice(OPS)
        snap_dir = Path(store._snap_dir(task_id))
        if op == "delete_all":
            for path in snaps:
                path.unlink()
            damaged.clear()
        elif op == "bit_flip" and snaps:
            target = rng.choice(snaps)
            data = bytearray(target.read_bytes())
            bit = rng.randrange(len(data) * 8)
            data[bit // 8] ^= 1 << (bit % 8)
            target.write_bytes(bytes(data))
            damaged[target.name] = bytes(data)
        elif op == "other_task":
            source = rng.choice(other_snaps)
            target = rng.choice([*snaps, snap_dir / source.name])
            shutil.copyfile(source, target)
            damaged[target.name] = source.read_bytes()
        elif op == "other_seq" and len(snaps) >= 2:
            source, target = rng.sample(snaps, 2)
            shutil.copyfile(source, target)
            damaged[target.name] = source.read_bytes()
        else:
            continue
        done[op] += 1
        where = f"trial {trial} (seed {seed}) after {op}"
        check_transparent(store, task_id, damaged, where)
    print(f"T12 seed={seed}: {done}, {fold(store.events(task_id)).last_seq} events")
    assert all(done.values()), done
    clean_logs(store, task_id, snapshot_problems_ok=True)
    clean_logs(store, other.task_id)


def _read(store: LocalTaskStore, task_id: str, name: str) -> bytes | None:
    path = Path(store._snap_dir(task_id)) / name
    return path.read_bytes() if path.exists() else None


def test_a_snapshot_renamed_to_another_seq_is_reported_and_ignored(fast_home: Path) -> None:
    """Regression: a valid snapshot under the name of another seq was trusted and not reported."""
    store = LocalTaskStore(fast_home)
    built = build_task(store, 30, task_id="t-rename", snapshot_at={10, 20})
    snap_dir = Path(store._snap_dir(built.task_id))
    shutil.copyfile(snap_dir / f"{10:020d}.snap", snap_dir / f"{20:020d}.snap")
    loaded = store.load(built.task_id)
    assert loaded.state == fold(built.events)
    assert loaded.snapshot_seq == 10
    assert any(f"{20:020d}.snap" in s for s in loaded.ignored_snapshots)
    report = verify_task(store.ops, store.task_dir(built.task_id), built.task_id)
    assert [p.file for p in report.problems] == [f"snapshots/{20:020d}.snap"]


@pytest.mark.parametrize("keep", ["none", "oldest"])
def test_removing_snapshots_gives_the_same_state_and_summary(fast_home: Path, keep: str) -> None:
    store = LocalTaskStore(fast_home, snapshot_every=5)
    built = build_task(store, 33, task_id="t-remove")
    with_snapshots = store.load(built.task_id)
    assert with_snapshots.snapshot_seq is not None
    snaps = snapshot_files(store, built.task_id)
    for path in snaps if keep == "none" else snaps[:-1]:
        path.unlink()
    without = store.load(built.task_id)
    assert without.state == with_snapshots.state == fold(built.events)
    assert without.snapshot_seq == (None if keep == "none" else int(snaps[-1].name[:20]))
