"""Fixtures for the tools layer: a workspace with a secret directory beside it, call contexts,
and a guard that proves no tool opened or changed anything outside the workspace."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agentrun.tools.context import ToolContext

SECRET = b"outside the workspace\n"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory next to the workspace holding ``secret.txt``; no tool may touch it."""
    directory = tmp_path / "outside"
    directory.mkdir()
    (directory / "secret.txt").write_bytes(SECRET)
    return directory


@pytest.fixture
def workspace(tmp_path: Path, outside: Path) -> Path:
    directory = tmp_path / "ws"
    directory.mkdir()
    return directory


@pytest.fixture
def make_ctx(workspace: Path) -> Callable[..., ToolContext]:
    def make(**overrides: Any) -> ToolContext:
        fields: dict[str, Any] = {"task_id": "t1", "call_id": "c1-7", "workspace": workspace}
        fields.update(overrides)
        return ToolContext(**fields)

    return make


@pytest.fixture
def ctx(make_ctx: Callable[..., ToolContext]) -> ToolContext:
    return make_ctx()


def _state(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(directory)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(directory.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


@dataclass
class Guard:
    """Records every ``os.open`` and compares the outside directory before and after."""

    outside: Path
    before: dict[str, tuple[bytes, int]]
    opened: list[str] = field(default_factory=list)

    def assert_untouched(self) -> None:
        real = os.path.realpath(self.outside)
        leaked = [p for p in self.opened if os.path.realpath(p).startswith(real)]
        assert leaked == [], f"opened outside the workspace: {leaked}"
        assert _state(self.outside) == self.before
        assert sorted(p.name for p in self.outside.iterdir()) == sorted(
            Path(k).parts[0] for k in self.before
        )


@pytest.fixture
def guard(outside: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Guard]:
    """Watch ``os.open`` (which every file tool uses) during the test."""
    state = Guard(outside, _state(outside))
    real_open = os.open

    def watching_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if kwargs.get("dir_fd") is None:
            state.opened.append(os.fspath(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", watching_open)
    yield state
    monkeypatch.undo()
    state.assert_untouched()
