"""``LocalTaskStore`` reads of a damaged task: errors that name the damage and ``verify``.

A file where ``log/`` should be, or a directory where a segment should be, is damage to the
task (``UnreadableLogError``, a kind of corrupt log), not a missing task nor a failing disk.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from agentrun.core.errors import CorruptLogError, TaskNotFoundError, UnreadableLogError
from agentrun.store.local import LocalTaskStore
from tests.store.builders import BuiltTask, build_task

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
