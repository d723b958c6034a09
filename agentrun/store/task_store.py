"""The ``TaskStore`` interface the runtime and the CLI use (design §2).

Kept narrow — create, append (through a claimed ``TaskWriter``), read, snapshot, claim, list,
delete — so a second backend (PostgreSQL, design §10) can be added without touching the runtime.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from agentrun.core.events import Event, TaskCreated
from agentrun.core.state import State


@dataclass(frozen=True, slots=True)
class LoadedTask:
    """A task's state as a reader sees it, and which snapshot (if any) it came from."""

    state: State
    snapshot_seq: int | None = None
    ignored_snapshots: list[str] = field(default_factory=list)


class TaskWriter(Protocol):
    """A claimed task open for appending; the only way to change a task's log."""

    state: State
    recovery: list[dict[str, Any]]

    @property
    def next_seq(self) -> int: ...
    @property
    def fsync_count(self) -> int: ...
    def append(self, events: Sequence[Event], *, sync: bool) -> None: ...
    def sync(self) -> None: ...
    def snapshot(self) -> None: ...
    def put_blob(self, data: bytes) -> str: ...
    def close(self) -> None: ...


class TaskStore(Protocol):
    """Where tasks live; see ``agentrun.store.local.LocalTaskStore``."""

    def create(
        self, make_created: Callable[[str], TaskCreated], *, now: datetime, task_id: str | None
    ) -> str: ...
    def task_ids(self) -> list[str]: ...
    def resolve(self, query: str) -> str: ...
    def open_writer(self, task_id: str) -> TaskWriter: ...
    def load(self, task_id: str, *, upto: int | None = None) -> LoadedTask: ...
    def events(self, task_id: str, from_seq: int = 1) -> Iterator[Event]: ...
    def is_claimed(self, task_id: str) -> bool: ...
    def summary(self, task_id: str) -> dict[str, Any]: ...
    def get_blob(self, task_id: str, digest: str) -> bytes: ...
