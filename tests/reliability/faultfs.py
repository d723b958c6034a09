"""FaultFS: a ``FileOps`` that fails the N-th operation (test plan F1; SQLite's I/O-error loop).

Operations are numbered in call order across every method of the seam (opens, writes, syncs,
directory operations and reads alike). Operation ``fail_at`` fails with ``EIO``, ``ENOSPC`` or
``EFBIG``, or, for a write, comes back *short* (half the bytes really written, the count
returned, as a full disk or ``RLIMIT_FSIZE`` does). ``persistent=True`` fails every later
operation as well (every later write, for ``short``), like a disk that went away; ``short+EIO``
is a short write after which every operation fails with EIO, so the writer cannot cut the
partial record back and a torn tail stays for the next open to repair. With ``op``
(and ``match``), N counts only the calls of that operation on paths containing ``match``. Every
call is
counted and traced, so tests can assert what happened *after* a failure (rules 8 and 9).
"""

from __future__ import annotations

import errno
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from agentrun.store.fileops import FILE_MODE, OsFileOps, PendingSync, SyncedNow

ERRORS = {"EIO": errno.EIO, "ENOSPC": errno.ENOSPC, "EFBIG": errno.EFBIG}
SYNC_OPS = ("fsync", "fdatasync", "fsync_dir")
SHORT_THEN_EIO = "short+EIO"
WRITE_FAULTS = ("short", SHORT_THEN_EIO)  # faults whose first hit must be a write


@dataclass(frozen=True)
class Call:
    """One traced operation: its number, name, path, whether it was the injected fault, and
    whether it was a sync started to run in the background (its failure is learned later)."""

    number: int
    op: str
    path: str
    failed: bool = False
    background: bool = False


@dataclass(frozen=True)
class _Reported:
    """A started sync that tells its ``FaultFS`` when its failure reaches the waiter."""

    fs: FaultFS
    pending: PendingSync

    def wait(self) -> None:
        try:
            self.pending.wait()
        except OSError:
            self.fs.learned()
            raise


class FaultFS(OsFileOps):
    """``OsFileOps`` that injects one fault (see module); ``on_fault`` runs when it fires."""

    def __init__(
        self,
        *,
        fail_at: int | None = None,
        error: str = "EIO",
        persistent: bool = False,
        on_fault: Callable[[Call], None] | None = None,
        on_learned: Callable[[], None] | None = None,
        op: str | None = None,
        match: str = "",
    ) -> None:
        if error not in WRITE_FAULTS and error not in ERRORS:
            raise ValueError(f"unknown fault {error!r}")
        self.fail_at = fail_at
        self.error = error
        self.persistent = persistent or error == SHORT_THEN_EIO
        self.on_fault = on_fault
        self.on_learned = on_learned  # when the writer learns a started sync failed
        self.learned_at: int | None = None  # the trace's length at that moment
        self.op, self.match = op, match
        self.matching = 0  # calls of ``op`` on a path containing ``match``
        self.counts: Counter[str] = Counter()
        self.trace: list[Call] = []
        self.fired: Call | None = None
        self._paths: dict[int, str] = {}
        self._background = False

    def _enter(self, op: str, path: str) -> bool:
        """Count the call; raise the injected error, or return True for a short write."""
        self.counts[op] += 1
        number = len(self.trace) + 1
        if self.op is not None:
            if op == self.op and self.match in path:
                self.matching += 1
            hit = op == self.op and self.match in path and self.matching == self.fail_at
        else:
            hit = number == self.fail_at
        fails = hit or (self.persistent and self.fired is not None)
        if fails and self.error in WRITE_FAULTS and (self.fired is None or self.error == "short"):
            fails = op == "write"
        self.trace.append(Call(number, op, path, fails, self._background))
        if not fails:
            return False
        call = self.trace[-1]
        first = self.fired is None
        if first:
            self.fired = call
            if self.on_fault is not None:
                self.on_fault(call)
        if self.error == "short" or (self.error == SHORT_THEN_EIO and first):
            return True
        code = ERRORS["EIO" if self.error == SHORT_THEN_EIO else self.error]
        raise OSError(code, os.strerror(code), path)

    def after_fault(self, *ops: str) -> list[Call]:
        """Calls of ``ops`` made after the injected fault fired (excluding the fault itself)."""
        if self.fired is None:
            return []
        return [c for c in self.trace[self.fired.number :] if c.op in ops]

    def after_learned(self, *ops: str) -> list[Call]:
        """Calls of ``ops`` made once the caller knew of the fault: at once for an operation
        made in place, when it was waited for for a sync started in the background."""
        if self.fired is None:
            return []
        known = self.fired.number if self.learned_at is None else self.learned_at
        return [c for c in self.trace[known:] if c.op in ops]

    def learned(self) -> None:
        """A started sync's failure reached its waiter (the first time counts)."""
        if self.learned_at is None:
            self.learned_at = len(self.trace)
            if self.on_learned is not None:
                self.on_learned()

    # -- FileOps ------------------------------------------------------------------------------

    def open(self, path: str, flags: int, mode: int = FILE_MODE) -> int:
        self._enter("open", path)
        fd = super().open(path, flags, mode)
        self._paths[fd] = path
        return fd

    def write(self, fd: int, data: bytes) -> int:
        if self._enter("write", self._paths.get(fd, "")):
            return super().write(fd, data[: len(data) // 2])
        return super().write(fd, data)

    def pwrite(self, fd: int, data: bytes, offset: int) -> int:
        # Counted as a write: to a fault, the log writer's pwrite is the write it is.
        if self._enter("write", self._paths.get(fd, "")):
            return super().pwrite(fd, data[: len(data) // 2], offset)
        return super().pwrite(fd, data, offset)

    def pread(self, fd: int, size: int, offset: int) -> bytes:
        self._enter("pread", self._paths.get(fd, ""))
        return super().pread(fd, size, offset)

    def allocate(self, fd: int, offset: int, length: int) -> None:
        self._enter("allocate", self._paths.get(fd, ""))
        super().allocate(fd, offset, length)

    def fdatasync(self, fd: int) -> None:
        self._enter("fdatasync", self._paths.get(fd, ""))
        super().fdatasync(fd)

    def start_fdatasync(self, fd: int) -> PendingSync:
        # In place and counted as an fdatasync; a fault reaches whoever waits, as in production.
        self._background = True
        try:
            return _Reported(self, SyncedNow(self.fdatasync, fd))
        finally:
            self._background = False

    def fsync(self, fd: int) -> None:
        self._enter("fsync", self._paths.get(fd, ""))
        super().fsync(fd)

    def fsync_dir(self, path: str) -> None:
        self._enter("fsync_dir", path)
        super().fsync_dir(path)

    def close(self, fd: int) -> None:
        path = self._paths.pop(fd, "")
        try:
            self._enter("close", path)
        finally:
            super().close(fd)  # a failed close still releases the descriptor, as close(2) does

    def fstat_size(self, fd: int) -> int:
        self._enter("fstat_size", self._paths.get(fd, ""))
        return super().fstat_size(fd)

    def truncate(self, fd: int, size: int) -> None:
        self._enter("truncate", self._paths.get(fd, ""))
        super().truncate(fd, size)

    def replace(self, src: str, dst: str) -> None:
        self._enter("replace", dst)
        super().replace(src, dst)

    def mkdir(self, path: str, mode: int = 0o700) -> None:
        self._enter("mkdir", path)
        super().mkdir(path, mode)

    def unlink(self, path: str) -> None:
        self._enter("unlink", path)
        super().unlink(path)

    def rmdir(self, path: str) -> None:
        self._enter("rmdir", path)
        super().rmdir(path)

    def listdir(self, path: str) -> list[str]:
        self._enter("listdir", path)
        return super().listdir(path)

    def read_file(self, path: str) -> bytes:
        self._enter("read_file", path)
        return super().read_file(path)

    def read_range(self, path: str, offset: int, size: int) -> bytes:
        self._enter("read_range", path)
        return super().read_range(path, offset, size)

    def size(self, path: str) -> int:
        self._enter("size", path)
        return super().size(path)
