"""``verify_task`` names every kind of damage, agrees with opening for writing, and never crashes.

A segment is named only after its header is durable (creation and roll write a temp file
first), so an incomplete header is damage, except in a last segment after others: a roll cut
short, which the writer drops (rule 12). Blobs the log names must exist and match their digest.
A file or directory of the wrong kind is damage named like any other, never an exception.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from agentrun.core.errors import CorruptLogError
from agentrun.core.events import ToolCompleted
from agentrun.store.local import LocalTaskStore
from agentrun.store.verify import VerifyReport, verify_task
from tests.store.builders import BuiltTask, build_task, iso


def _verify(store: LocalTaskStore, task_id: str) -> VerifyReport:
    return verify_task(store.ops, store.task_dir(task_id), task_id)


def test_an_only_segment_cut_inside_its_header_is_damage_as_opening_says(tmp_path: Path) -> None:
    store = LocalTaskStore(tmp_path / "home")
    task = build_task(store, 5)
    segment = task.segments()[0]
    segment.write_bytes(segment.read_bytes()[:12])
    report = _verify(store, task.task_id)
    assert not report.is_ok
    assert [p.reason for p in report.problems] == ["header: incomplete header"]
    with pytest.raises(CorruptLogError, match="incomplete header"):
        store.open_writer(task.task_id)


def test_a_last_segment_cut_inside_its_header_after_others_is_a_torn_roll(tmp_path: Path) -> None:
    store = LocalTaskStore(tmp_path / "home", segment_bytes=2048)
    task = build_task(store, 30, snapshot_at={12})
    assert len(task.segments()) >= 3
    last = task.segments()[-1]
    first_seq = int(last.name.split(".")[0])
    last.write_bytes(last.read_bytes()[:10])
    report = _verify(store, task.task_id)
    assert report.is_ok, report.problems
    assert report.torn_tail_bytes == 10 and report.events == first_seq - 1
    assert report.snapshots == 1  # still counted and checked
    writer = store.open_writer(task.task_id)  # the writer agrees: it drops the segment
    assert writer.next_seq == first_seq
    writer.close(snapshot=False)


def _task_with_blob(store: LocalTaskStore) -> tuple[str, Path]:
    task = build_task(store, 4)
    writer = store.open_writer(task.task_id)
    digest = writer.put_blob(b"the whole output")
    completed = ToolCompleted(
        seq=writer.next_seq,
        ts=iso(writer.next_seq),
        call_id="c1",
        output="the whole…",
        output_blob={"sha256": digest, "size": 16},
    )
    writer.append([completed], sync=True)
    writer.close(snapshot=False)
    return task.task_id, task.task_dir / "blobs" / digest


def test_a_missing_or_altered_blob_is_damage_verify_names(tmp_path: Path) -> None:
    store = LocalTaskStore(tmp_path / "home")
    task_id, blob = _task_with_blob(store)
    assert _verify(store, task_id).is_ok
    blob.write_bytes(b"something else")
    altered = _verify(store, task_id)
    assert not altered.is_ok
    assert [(p.file, p.reason) for p in altered.problems] == [
        (f"blobs/{blob.name}", "blob does not match its sha256")
    ]
    blob.unlink()
    missing = _verify(store, task_id)
    assert [p.reason for p in missing.problems] == ["blob named by the log is missing"]
    assert hashlib.sha256(b"the whole output").hexdigest() == blob.name


def test_damage_in_the_log_still_counts_the_snapshots(tmp_path: Path) -> None:
    store = LocalTaskStore(tmp_path / "home")
    task = build_task(store, 20, snapshot_at={8, 12})
    segment = task.segments()[0]
    data = bytearray(segment.read_bytes())
    data[len(data) // 2] ^= 0xFF
    segment.write_bytes(bytes(data))
    report = _verify(store, task.task_id)
    assert not report.is_ok and report.snapshots == 2


def test_entries_under_tasks_that_are_not_tasks_are_reported_not_crashed_on(
    tmp_path: Path,
) -> None:
    store = LocalTaskStore(tmp_path / "home")
    build_task(store, 3)
    (store.tasks_dir / "stray.txt").write_text("x")
    (store.tasks_dir / "emptydir").mkdir()
    stray, empty = _verify(store, "stray.txt"), _verify(store, "emptydir")
    assert stray.is_ok and "not a task" in stray.problems[0].reason  # nothing of ours is damaged
    assert not empty.is_ok and empty.problems[0].reason == "no log segment"


def _put_a_directory_at(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _put_a_file_at(path: Path) -> None:
    shutil.rmtree(path)
    path.write_bytes(b"not a directory")


# What is put in the wrong kind, and the path the problem names (relative to the task).
WRONG_KINDS: dict[str, tuple[Callable[[BuiltTask], None], str]] = {
    "log is a file": (lambda t: _put_a_file_at(t.log_dir), "log"),
    "segment is a directory": (
        lambda t: _put_a_directory_at(t.segments()[0]),
        "log/00000000000000000001.seg",
    ),
    "snapshots is a file": (lambda t: _put_a_file_at(t.task_dir / "snapshots"), "snapshots"),
}


@pytest.mark.parametrize("what", WRONG_KINDS)
def test_a_file_or_directory_of_the_wrong_kind_is_damage_named_not_a_crash(
    tmp_path: Path, what: str
) -> None:
    damage, named = WRONG_KINDS[what]
    store = LocalTaskStore(tmp_path / "home")
    task = build_task(store, 12, snapshot_at={6})
    damage(task)
    report = _verify(store, task.task_id)
    assert not report.is_ok
    assert [p.file for p in report.problems] == [named]
    assert report.problems[0].reason.startswith("cannot be read: it is ")


def test_a_blob_that_is_a_directory_is_damage_named(tmp_path: Path) -> None:
    store = LocalTaskStore(tmp_path / "home")
    task_id, blob = _task_with_blob(store)
    _put_a_directory_at(blob)
    report = _verify(store, task_id)
    assert [(p.file, p.reason) for p in report.problems] == [
        (f"blobs/{blob.name}", "cannot be read: it is a directory, not a file")
    ]


def test_a_directory_whose_name_is_no_task_id_is_named_not_read(tmp_path: Path) -> None:
    store = LocalTaskStore(tmp_path / "home")
    build_task(store, 3)
    (store.tasks_dir / "bad name").mkdir()
    report = verify_task(store.ops, store.entry_path("bad name"), "bad name")
    assert report.is_ok and report.events == 0
    assert [p.reason for p in report.problems] == [
        "not a task directory: its name is not a task id; ignored"
    ]
