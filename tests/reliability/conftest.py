"""Fixtures of the reliability suite: tmpfs scratch space, seeds, the ack channel, and F4.

F4 (test plan): after every test, ``verify`` runs on every task found under the test's
directories and must find no corruption, and must not change a byte (INV-RO). A test that damages
a log on purpose opts out with ``@pytest.mark.corrupts``. The byte-level plan tests (T1-T3, T8,
T12) use the store tests' ``fast_home`` and their own F4 check, ``clean_logs``, shared from
``tests/store/conftest.py``.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentrun.store.local import LocalTaskStore
from agentrun.store.verify import verify_task
from tests.reliability.harness import Acks
from tests.store.builders import content_digest, fast_dir
from tests.store.conftest import clean_logs, fast_home

__all__ = ["clean_logs", "fast_home"]  # fixtures shared with tests/store

SEED_ENV = "AGENTRUN_SEED"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "corrupts: the test damages logs on purpose; skip the F4 verify at teardown"
    )


@pytest.fixture
def fast_root() -> Iterator[Path]:
    """A scratch directory on tmpfs when there is one: correctness comes from CrashFS, not disk."""
    with fast_dir() as root:
        yield root


@pytest.fixture
def seed() -> int:
    """The seed of a randomized test: ``$AGENTRUN_SEED`` if set, else random; always printed."""
    value = int(os.environ.get(SEED_ENV) or random.randrange(1 << 31))
    print(f"seed={value} (rerun with {SEED_ENV}={value})")
    return value


@pytest.fixture
def acks(monkeypatch: pytest.MonkeyPatch) -> Acks:
    """The in-process ack channel (F3), recording every sync a log writer returned from."""
    channel = Acks()
    channel.install(monkeypatch)
    return channel


def _homes(roots: list[Path]) -> list[Path]:
    found = []
    for root in roots:
        for dirpath, dirnames, _files in os.walk(root):
            if "tasks" in dirnames and os.path.isdir(os.path.join(dirpath, "tasks")):
                found.append(Path(dirpath))
            dirnames[:] = [d for d in dirnames if d not in ("tasks", "workspace")]
    return found


@pytest.fixture(autouse=True)
def verify_every_task_at_teardown(
    request: pytest.FixtureRequest, tmp_path: Path, fast_root: Path
) -> Iterator[None]:
    """F4: no task under the test's directories is corrupt, and verify writes nothing."""
    yield
    if request.node.get_closest_marker("corrupts"):
        return
    for home in _homes([tmp_path, fast_root]):
        store = LocalTaskStore(home)
        for task_id in store.task_ids():
            task_dir = Path(store.task_dir(task_id))
            if not (task_dir / "log").is_dir():
                continue
            before = content_digest(task_dir)
            report = verify_task(store.ops, str(task_dir), task_id)
            assert content_digest(task_dir) == before, f"verify changed {task_dir} (INV-RO)"
            assert report.is_ok, f"F4: task {task_id} in {home} is corrupt: {report.problems}"
