"""Store test fixtures: a tmpfs home, and the F4 teardown check that logs were left clean."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agentrun.store.local import LocalTaskStore
from agentrun.store.verify import verify_task
from tests.store.builders import content_digest, fast_dir


@pytest.fixture
def fast_home() -> Iterator[Path]:
    """A home on tmpfs when available: the store tests are about bytes, not the disk."""
    with fast_dir() as root:
        yield root / "home"


CleanLogs = Callable[..., None]


@pytest.fixture
def clean_logs(fast_home: Path) -> Iterator[CleanLogs]:
    """F4: register ``(store, task_id)``; after the test, ``verify`` must find the log clean.

    Clean means no problem at all, or, with ``snapshot_problems_ok=True`` (tests that damage
    snapshots on purpose), no problem outside ``snapshots/``. ``verify`` itself must not change
    a byte of the task (INV-RO). It depends on ``fast_home`` so it runs before that is removed.
    """
    registered: list[tuple[LocalTaskStore, str, bool]] = []

    def register(
        store: LocalTaskStore, task_id: str, *, snapshot_problems_ok: bool = False
    ) -> None:
        registered.append((store, task_id, snapshot_problems_ok))

    yield register
    for store, task_id, snapshot_problems_ok in registered:
        task_dir = Path(store.task_dir(task_id))
        before = content_digest(task_dir)
        report = verify_task(store.ops, str(task_dir), task_id)
        assert content_digest(task_dir) == before, "verify changed the task (INV-RO)"
        problems = [
            p
            for p in report.problems
            if not (snapshot_problems_ok and p.file.startswith("snapshots/"))
        ]
        assert not problems, f"F4: task {task_id} is not clean after the test: {problems}"
        assert report.torn_tail_bytes == 0, f"F4: task {task_id} ends in a torn tail"
