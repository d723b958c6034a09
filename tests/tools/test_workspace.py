from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentrun.core.errors import WorkspaceEscapeError
from agentrun.tools.workspace import relative, resolve_inside


@pytest.mark.parametrize(
    ("user_path", "expected"),
    [
        ("a.txt", "a.txt"),
        ("src/pkg/mod.py", "src/pkg/mod.py"),  # need not exist
        ("./a/./b.txt", "a/b.txt"),
        ("a/../b.txt", "b.txt"),  # climbs, but stays inside
        ("", "."),
        (".", "."),
        ("a/", "a"),
        ("name with spaces.md", "name with spaces.md"),
    ],
)
def test_legit_paths_resolve_inside(workspace: Path, user_path: str, expected: str) -> None:
    resolved = resolve_inside(workspace, user_path)
    assert resolved == Path(os.path.realpath(workspace), expected).resolve()
    assert relative(workspace, resolved) == expected


@pytest.mark.parametrize(
    ("user_path", "match"),
    [
        ("..", "leaves the workspace"),
        ("../outside/secret.txt", "leaves the workspace"),
        ("a/../../outside/secret.txt", "leaves the workspace"),
        ("/etc/passwd", "is absolute"),
        ("//etc/passwd", "is absolute"),
        ("a\0b", "NUL"),
    ],
)
def test_escapes_are_refused(workspace: Path, user_path: str, match: str) -> None:
    with pytest.raises(WorkspaceEscapeError, match=match):
        resolve_inside(workspace, user_path)


def test_absolute_path_into_the_workspace_is_still_refused(workspace: Path) -> None:
    with pytest.raises(WorkspaceEscapeError, match="relative to the workspace"):
        resolve_inside(workspace, str(workspace / "a.txt"))


def test_symlinked_directory_leading_out_is_refused(workspace: Path, outside: Path) -> None:
    (workspace / "docs").symlink_to(outside)
    with pytest.raises(WorkspaceEscapeError, match="through a symbolic link"):
        resolve_inside(workspace, "docs/secret.txt")
    with pytest.raises(WorkspaceEscapeError, match="through a symbolic link"):
        resolve_inside(workspace, "docs/new.txt", for_write=True)


def test_symlink_deeper_in_the_path_is_refused(workspace: Path, outside: Path) -> None:
    (workspace / "a" / "b").mkdir(parents=True)
    (workspace / "a" / "b" / "up").symlink_to("../../..")
    with pytest.raises(WorkspaceEscapeError, match="through a symbolic link"):
        resolve_inside(workspace, "a/b/up/outside/secret.txt")


def test_symlinked_file_leading_out_is_refused(workspace: Path, outside: Path) -> None:
    (workspace / "notes.txt").symlink_to(outside / "secret.txt")
    with pytest.raises(WorkspaceEscapeError, match="through a symbolic link"):
        resolve_inside(workspace, "notes.txt")


def test_dangling_symlink_leading_out_is_refused(workspace: Path, outside: Path) -> None:
    (workspace / "new.txt").symlink_to(outside / "not-yet.txt")
    with pytest.raises(WorkspaceEscapeError):
        resolve_inside(workspace, "new.txt", for_write=True)


def test_symlink_inside_may_be_read_but_not_written(workspace: Path) -> None:
    (workspace / "real.txt").write_text("x")
    (workspace / "alias.txt").symlink_to("real.txt")
    assert resolve_inside(workspace, "alias.txt") == Path(os.path.realpath(workspace / "real.txt"))
    with pytest.raises(WorkspaceEscapeError, match="is a symbolic link"):
        resolve_inside(workspace, "alias.txt", for_write=True)


def test_symlinked_directory_inside_is_allowed(workspace: Path) -> None:
    (workspace / "real").mkdir()
    (workspace / "link").symlink_to("real")
    resolved = resolve_inside(workspace, "link/a.txt", for_write=True)
    assert relative(workspace, resolved) == "real/a.txt"


def test_hard_link_is_refused(workspace: Path, outside: Path) -> None:
    os.link(outside / "secret.txt", workspace / "copy.txt")
    for for_write in (False, True):
        with pytest.raises(WorkspaceEscapeError, match="2 hard links"):
            resolve_inside(workspace, "copy.txt", for_write=for_write)


def test_workspace_root_may_itself_be_a_symlink(tmp_path: Path, workspace: Path) -> None:
    (tmp_path / "ws-link").symlink_to(workspace)
    resolved = resolve_inside(tmp_path / "ws-link", "a.txt")
    assert resolved == Path(os.path.realpath(workspace)) / "a.txt"
