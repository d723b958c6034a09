from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from agentrun.core.errors import WorkspaceEscapeError
from agentrun.tools import fileio
from agentrun.tools.fileio import make_parents, read_regular, write_atomic
from agentrun.tools.outcome import ToolError


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_file_is_private_and_no_temp_is_left(tmp_path: Path) -> None:
    write_atomic(tmp_path / "a.txt", b"hello")
    assert (tmp_path / "a.txt").read_bytes() == b"hello"
    assert _mode(tmp_path / "a.txt") == 0o600
    assert os.listdir(tmp_path) == ["a.txt"]


def test_existing_mode_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "run.sh"
    target.write_text("old")
    target.chmod(0o755)
    write_atomic(target, b"new", mode=_mode(target))
    assert (target.read_text(), _mode(target)) == ("new", 0o755)


def test_file_and_directory_are_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    write_atomic(tmp_path / "a.txt", b"x")
    assert synced == ["file", "dir"]  # rule 28: fsync, rename, fsync the directory


def test_failed_rename_keeps_the_old_file_and_removes_the_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "a.txt"
    target.write_text("old")

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space"):
        write_atomic(target, b"new")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["a.txt"]


def test_temp_name_planted_as_symlink_is_not_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    work = tmp_path / "ws"
    work.mkdir()
    monkeypatch.setattr(fileio.secrets, "token_hex", lambda n: "fixed")
    (work / ".a.txt.agentrun-tmp-fixed").symlink_to(victim)
    with pytest.raises(FileExistsError):
        write_atomic(work / "a.txt", b"evil")
    assert victim.read_text() == "untouched"


def test_read_regular(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"abc")
    current = read_regular(tmp_path / "a.txt", "a.txt")
    assert current is not None and current.data == b"abc"
    assert read_regular(tmp_path / "missing", "missing") is None


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: os.mkfifo(p), "not a regular file"),
        (lambda p: p.write_bytes(b"x" * 11), "11 bytes, more than the 10"),
    ],
)
def test_read_regular_refuses(tmp_path: Path, make: object, match: str) -> None:
    target = tmp_path / "thing"
    make(target)  # type: ignore[operator]
    with pytest.raises(ToolError, match=match):
        read_regular(target, "thing", limit=10)


def test_read_regular_refuses_a_final_symlink_and_hard_links(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "link").symlink_to("a.txt")
    with pytest.raises(ToolError, match="cannot open link"):
        read_regular(tmp_path / "link", "link")
    os.link(tmp_path / "a.txt", tmp_path / "b.txt")
    with pytest.raises(WorkspaceEscapeError):
        read_regular(tmp_path / "b.txt", "b.txt")


def test_make_parents(tmp_path: Path) -> None:
    make_parents(tmp_path / "a" / "b" / "c")
    assert (tmp_path / "a" / "b" / "c").is_dir()
    make_parents(tmp_path / "a" / "b")  # already there
    (tmp_path / "f").write_text("")
    with pytest.raises(ToolError, match="a parent is a file"):
        make_parents(tmp_path / "f" / "d")
