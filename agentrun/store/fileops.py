"""The one seam every store file operation goes through (test plan F1).

Production uses ``OsFileOps``: raw descriptors, one ``os.write`` or ``os.pwrite`` per call,
``fdatasync``, zero-filled preallocation and directory fsyncs. Tests substitute a power-loss
simulator or a fault injector with the same methods. Errors are ``OSError`` here; the store
translates them where it calls.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable
from typing import Protocol

# Rule 1: never follow a symlink planted where we create or open a file.
CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
APPEND_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW
# The log writer: it writes at its own end with pwrite and reads there to fence (rule 10).
WRITER_FLAGS = os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW
READ_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW
FILE_MODE = 0o600
DIR_MODE = 0o700
_ZEROS = memoryview(bytes(1 << 20))  # what ``allocate`` writes, 1 MiB at most per call


class PendingSync(Protocol):
    """An ``fdatasync`` that was started; ``wait`` returns once it is done or raises its error."""

    def wait(self) -> None: ...


class SyncedNow:
    """A ``PendingSync`` made in place: ``sync`` ran at once, ``wait`` reports how it went."""

    def __init__(self, sync: Callable[[int], None], fd: int) -> None:
        self._error: OSError | None = None
        try:
            sync(fd)
        except OSError as exc:  # reported by ``wait``, where a background sync reports it
            self._error = exc

    def wait(self) -> None:
        if self._error is not None:
            raise self._error


class FileOps(Protocol):
    """The file operations of the store; see ``OsFileOps`` for their meaning."""

    def open(self, path: str, flags: int, mode: int = FILE_MODE) -> int: ...
    def write(self, fd: int, data: bytes) -> int: ...
    def pwrite(self, fd: int, data: bytes, offset: int) -> int: ...
    def pread(self, fd: int, size: int, offset: int) -> bytes: ...
    def allocate(self, fd: int, offset: int, length: int) -> None: ...
    def fdatasync(self, fd: int) -> None: ...
    def start_fdatasync(self, fd: int) -> PendingSync: ...
    def fsync(self, fd: int) -> None: ...
    def fsync_dir(self, path: str) -> None: ...
    def close(self, fd: int) -> None: ...
    def fstat_size(self, fd: int) -> int: ...  # see OsFileOps: moves the file offset
    def truncate(self, fd: int, size: int) -> None: ...
    def replace(self, src: str, dst: str) -> None: ...
    def mkdir(self, path: str, mode: int = DIR_MODE) -> None: ...
    def unlink(self, path: str) -> None: ...
    def rmdir(self, path: str) -> None: ...
    def listdir(self, path: str) -> list[str]: ...
    def read_file(self, path: str) -> bytes: ...
    def read_range(self, path: str, offset: int, size: int) -> bytes: ...
    def size(self, path: str) -> int: ...


class OsFileOps:
    """``FileOps`` on the real operating system."""

    def open(self, path: str, flags: int, mode: int = FILE_MODE) -> int:
        return os.open(path, flags, mode)

    def write(self, fd: int, data: bytes) -> int:
        return os.write(fd, data)

    def pwrite(self, fd: int, data: bytes, offset: int) -> int:
        return os.pwrite(fd, data, offset)

    def pread(self, fd: int, size: int, offset: int) -> bytes:
        return os.pread(fd, size, offset)

    def allocate(self, fd: int, offset: int, length: int) -> None:
        # Zero-filled space for appends to come (rule 13), past the end of the file's data; its
        # size grows to cover it. Written zeros, not posix_fallocate: a later overwrite of
        # written blocks has no unwritten extent to convert, so its fdatasync commits no
        # metadata (PostgreSQL zero-fills its WAL for the same reason; docs/decisions.md).
        zeros = _ZEROS
        while length > 0:
            written = os.pwrite(fd, zeros[: min(length, len(zeros))], offset)
            if written <= 0:  # pragma: no cover - pwrite reports errors, not zero
                raise OSError(errno.EIO, "no progress writing preallocated zeros")
            offset += written
            length -= written

    def fdatasync(self, fd: int) -> None:
        # Rule 7: macOS fsync does not reach the platter; F_FULLFSYNC does.
        if sys.platform == "darwin":  # pragma: no cover - not exercised on Linux CI
            import fcntl

            try:
                fcntl.fcntl(fd, fcntl.F_FULLFSYNC)
                return
            except OSError:
                pass
            os.fsync(fd)
            return
        os.fdatasync(fd)

    def start_fdatasync(self, fd: int) -> PendingSync:
        # An fdatasync the caller overlaps with its own work (``LogWriter.begin_sync``); in
        # place where the C library cannot run it in the background (macOS: F_FULLFSYNC).
        from agentrun.store import background_sync

        if sys.platform != "darwin":
            started = background_sync.start(fd)
            if started is not None:
                return started
        return SyncedNow(self.fdatasync, fd)

    def fsync(self, fd: int) -> None:
        os.fsync(fd)

    def fsync_dir(self, path: str) -> None:
        # Rule 2: a directory entry is durable only after the directory itself is fsynced.
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self, fd: int) -> None:
        os.close(fd)

    def fstat_size(self, fd: int) -> int:
        # The size fstat would report (i_size), at a third of its cost: the log writer fences
        # every append with it (rule 10). It moves the file offset, which the writer's pwrite
        # and pread (and O_APPEND) ignore.
        return os.lseek(fd, 0, os.SEEK_END)

    def truncate(self, fd: int, size: int) -> None:
        os.ftruncate(fd, size)

    def replace(self, src: str, dst: str) -> None:
        os.replace(src, dst)

    def mkdir(self, path: str, mode: int = DIR_MODE) -> None:
        os.mkdir(path, mode)
        # umask may have removed bits we asked for; 0700 is what rule 1 promises.
        os.chmod(path, mode, follow_symlinks=False)

    def unlink(self, path: str) -> None:
        os.unlink(path)

    def rmdir(self, path: str) -> None:
        os.rmdir(path)

    def listdir(self, path: str) -> list[str]:
        return os.listdir(path)

    def read_file(self, path: str) -> bytes:
        fd = os.open(path, READ_FLAGS)
        try:
            chunks = []
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
            return b"".join(chunks)
        except OSError as exc:
            raise _naming(exc, path) from None
        finally:
            os.close(fd)

    def read_range(self, path: str, offset: int, size: int) -> bytes:
        fd = os.open(path, READ_FLAGS)
        try:
            return os.pread(fd, size, offset)
        except OSError as exc:
            raise _naming(exc, path) from None
        finally:
            os.close(fd)

    def size(self, path: str) -> int:
        return os.stat(path, follow_symlinks=False).st_size


def _naming(exc: OSError, path: str) -> OSError:
    """``exc`` naming ``path``: a read on a descriptor (a directory opened as a file: EISDIR)
    raises an error that names no file, and the message must say which one."""
    if exc.filename is not None:
        return exc
    return OSError(exc.errno, exc.strerror, path)


def wrong_kind(exc: OSError) -> tuple[str, str] | None:
    """``(path, what is wrong)`` when ``exc`` met a directory where a file should be, or
    something else where a directory should be: damage to what is on disk, not a failing disk.
    ``None`` for any other error."""
    if exc.filename is None:
        return None
    path = os.fsdecode(exc.filename)
    if exc.errno == errno.EISDIR:
        return path, "is a directory, not a file"
    if exc.errno != errno.ENOTDIR:
        return None
    # ENOTDIR names the path asked for; the culprit may be a directory above it.
    while not os.path.lexists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path, "is not a directory"


def write_all(ops: FileOps, fd: int, data: bytes) -> None:
    """Write ``data`` with one call; a short write is an error (rules 6 and 9)."""
    _check_written(ops.write(fd, data), data)


def pwrite_all(ops: FileOps, fd: int, data: bytes, offset: int) -> None:
    """Write ``data`` at ``offset`` with one call; a short write is an error (rules 6 and 9)."""
    _check_written(ops.pwrite(fd, data, offset), data)


def _check_written(written: int, data: bytes) -> None:
    if written != len(data):
        raise OSError(errno.EIO, f"short write: {written} of {len(data)} bytes")
