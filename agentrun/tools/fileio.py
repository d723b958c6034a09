"""Guarded reads and atomic, durable writes of workspace files, for the ``files`` toolset.

Paths given here are already confined (``workspace.resolve_inside``); this module adds the
descriptor-level checks (``O_NOFOLLOW``, regular file, one hard link) and the write protocol of
rule 28: temp file in the same directory opened ``O_EXCL|O_NOFOLLOW``, fsync, ``os.replace``,
fsync the directory. It knows nothing of tools or models beyond raising ``ToolError``.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from agentrun.tools.outcome import ToolError
from agentrun.tools.workspace import check_hard_links

NEW_FILE_MODE = 0o600
_READ_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK  # NONBLOCK: FIFOs
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
_CHUNK = 1 << 16


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class Current:
    """A file as it is now: its bytes and permission bits."""

    data: bytes
    mode: int


def read_regular(path: Path, shown: str, *, limit: int | None = None) -> Current | None:
    """The content of the regular file at ``path``, or ``None`` if nothing is there.

    ``shown`` names the file in messages. Raises ``ToolError`` for a directory, a special file
    or a file over ``limit`` bytes, ``WorkspaceEscapeError`` for a file with several hard links.
    """
    try:
        fd = os.open(path, _READ_FLAGS)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        raise ToolError(f"{shown}: a parent of this path is a file, not a directory") from None
    except OSError as exc:
        raise ToolError(f"cannot open {shown}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise ToolError(f"{shown} is a directory")
        if not stat.S_ISREG(st.st_mode):
            raise ToolError(f"{shown} is not a regular file")
        check_hard_links(shown, st)  # again on the descriptor: the path may have changed
        if limit is not None and st.st_size > limit:
            raise ToolError(
                f"{shown} is {st.st_size} bytes, more than the {limit} bytes this tool reads; "
                "use search_files to find the part you need"
            )
        chunks: list[bytes] = []
        while chunk := os.read(fd, _CHUNK):
            chunks.append(chunk)
        return Current(b"".join(chunks), stat.S_IMODE(st.st_mode))
    finally:
        os.close(fd)


def fsync_dir(directory: Path) -> None:
    """Make a directory entry change durable (rule 2)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_parents(directory: Path) -> None:
    """Create ``directory`` and its missing parents, each made durable in its parent (rule 2)."""
    missing: list[Path] = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        try:
            os.mkdir(path)
        except FileExistsError:
            continue
        except NotADirectoryError:
            raise ToolError(f"cannot create directory {path.name}: a parent is a file") from None
        fsync_dir(path.parent)


def write_atomic(path: Path, data: bytes, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old or the new file (rule 28).

    ``mode`` is the permission bits to keep (an existing file's); a new file gets 0o600. The
    parent directory must exist. The temp file never follows a link and never reuses a name.
    """
    directory = path.parent
    temp = directory / f".{path.name[:100]}.agentrun-tmp-{secrets.token_hex(6)}"
    fd = os.open(temp, _TEMP_FLAGS, NEW_FILE_MODE)
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            if mode is not None and mode != NEW_FILE_MODE:
                os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_dir(directory)
