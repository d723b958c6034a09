"""``LocalTaskStore`` reads of a damaged task: errors that name the damage and ``verify``.

A file where ``log/`` should be, or a directory where a segment should be, is damage to the
task (``UnreadableLogError``, a kind of corrupt log), not a missing task nor a failing disk.
A blob is checked against its sha256 whenever it is read, as snapshot pages are.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from agentrun.core.errors import (
    CorruptBlobError,
    CorruptLogError,
    TaskNotFoundError,
    UnreadableLogError,
)
from agentrun.core.events import ToolCompleted
from agentrun.store.local import LocalTaskStore
from tests.store.builders import BuiltTask, build_task, iso

DATA = b"the whole output of a tool"
Read = Callable[[LocalTaskStore, str], object]


@pytest.fixture
def task(tmp_path: Path) -> BuiltTask:
    return build_task(LocalTaskStore(tmp_path / "home"), 12, task_id="t-damaged")


READS: dict[str, Read] = {
    "events": lambda store, task_id: list(store.events(task_id)),
    "event_records": lambda store, task_id: list(store.event_records(task_id)),
    "load": lambda store, task_id: store.load(task_id),
    "summary": lambda store, task_id: store.summary(task_id),
    "open_writer": lambda store, task_id: store.open_writer(task_id),
}


@pytest.mark.parametrize("read", READS.values(), ids=READS.keys())
def test_a_log_that_is_a_file_is_an_unreadable_log_naming_it(task: BuiltTask, read: Read) -> None:
    (task.task_dir / "summary").unlink()  # make summary read the log
    shutil.rmtree(task.log_dir)
    task.log_dir.write_bytes(b"x")
    with pytest.raises(UnreadableLogError) as info:
        read(task.store, task.task_id)
    assert isinstance(info.value, CorruptLogError) and info.value.task_id == "t-damaged"
    assert str(info.value) == (
        f"cannot read the log of task t-damaged: {task.log_dir} is not a directory; "
        "run `agentrun verify t-damaged`"
    )


@pytest.mark.parametrize("read", READS.values(), ids=READS.keys())
def test_a_segment_that_is_a_directory_is_an_unreadable_log_naming_it(
    task: BuiltTask, read: Read
) -> None:
    (task.task_dir / "summary").unlink()
    segment = task.segments()[0]
    segment.unlink()
    segment.mkdir()
    with pytest.raises(UnreadableLogError) as info:
        read(task.store, task.task_id)
    assert str(info.value) == (
        f"cannot read the log of task t-damaged: {segment} is a directory, not a file; "
        "run `agentrun verify t-damaged`"
    )


def test_a_task_directory_that_is_gone_or_a_plain_file_is_no_task(task: BuiltTask) -> None:
    shutil.rmtree(task.task_dir)
    task.task_dir.write_bytes(b"a stray file")
    with pytest.raises(TaskNotFoundError):
        task.store.summary(task.task_id)
    task.task_dir.unlink()
    with pytest.raises(TaskNotFoundError):
        list(task.store.events(task.task_id))


def _blob(task: BuiltTask) -> tuple[str, Path]:
    writer = task.store.open_writer(task.task_id)
    digest = writer.put_blob(DATA)
    writer.append(
        [
            ToolCompleted(
                seq=writer.next_seq,
                ts=iso(writer.next_seq),
                call_id="c1",
                output="the whole…",
                output_blob={"sha256": digest, "size": len(DATA)},
            )
        ],
        sync=True,
    )
    writer.close(snapshot=False)
    return digest, task.task_dir / "blobs" / digest


def test_a_blob_is_read_back_checked(task: BuiltTask) -> None:
    digest, _path = _blob(task)
    assert task.store.get_blob(task.task_id, digest) == DATA
    assert hashlib.sha256(DATA).hexdigest() == digest


def test_an_altered_blob_is_refused_naming_the_file_and_verify(task: BuiltTask) -> None:
    digest, path = _blob(task)
    altered = bytearray(DATA)
    altered[3] ^= 0x20
    path.write_bytes(bytes(altered))
    with pytest.raises(CorruptBlobError) as info:
        task.store.get_blob(task.task_id, digest)
    assert str(info.value) == (
        f"blob file {path} does not match its sha256 (its bytes changed); "
        "run `agentrun verify t-damaged`"
    )


def test_a_missing_or_misplaced_blob_says_so_naming_the_file(task: BuiltTask) -> None:
    digest, path = _blob(task)
    path.unlink()
    with pytest.raises(CorruptBlobError) as info:
        task.store.get_blob(task.task_id, digest)
    assert str(info.value) == f"blob file {path} is missing; run `agentrun verify t-damaged`"
    path.mkdir()
    with pytest.raises(CorruptBlobError, match="is a directory, not a file; run `agentrun verify"):
        task.store.get_blob(task.task_id, digest)
