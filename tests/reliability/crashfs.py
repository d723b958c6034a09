"""CrashFS: a ``FileOps`` that simulates power loss (test plan F1; SQLite's test6.c write list).

It delegates every operation to the real OS, so the store runs on real files, and keeps a model
of what a power loss could leave behind:

- per file, its bytes as of the last ``fsync``/``fdatasync`` (the *durable* content);
- per directory, its entries as of the last ``fsync_dir`` (the *durable* entries);
- the ordered list of operations since then that are not yet durable (writes, truncates,
  creations, renames, unlinks).

Files and directories are model nodes, not paths: a renamed directory takes its entries with
it, and an entry whose parent's entry was never made durable is unreachable after a crash.

A *crash point* is every sync or directory operation (``fsync``, ``fdatasync``, ``fsync_dir``,
``replace``, ``mkdir``, ``unlink``, ``rmdir``, ``truncate``, ``allocate``, an ``open`` that
creates). With
``crash_at=k`` the k-th one raises ``SimulatedCrash`` instead of happening, and the file system is
dead from then on (everything but ``close`` raises again). ``materialize(mode, rng)`` then
rewrites the real tree under ``root`` as one crash state:

| mode            | crash state                                                              |
|-----------------|--------------------------------------------------------------------------|
| ``drop_unsynced`` | durable content and entries only                                       |
| ``prefix``      | plus a random prefix of the pending operations, in order; the first one   |
|                 | dropped may land torn (a random prefix of its bytes)                      |
| ``subset``      | plus a random subset: directory operations in any combination (reordered) |
|                 | and, per file, a prefix of its writes (appends land in order within a     |
|                 | file; across files and directories anything goes)                         |
| ``garbage``     | like ``prefix``, then every byte past a file's durable size is random     |
| ``zeros``       | like ``garbage``, with zeros ("size before content")                      |
"""

from __future__ import annotations

import os
import random
import shutil
from dataclasses import dataclass, field

from agentrun.store.fileops import FILE_MODE, OsFileOps, PendingSync

MODES = ("drop_unsynced", "prefix", "subset", "garbage", "zeros")


class SimulatedCrash(BaseException):
    """The power went out here. A ``BaseException`` so no ``except Exception`` can swallow it."""


@dataclass(eq=False)
class Node:
    """A file or directory of the model: its current and its durable content."""

    is_dir: bool
    data: bytearray = field(default_factory=bytearray)
    durable: bytes = b""
    entries: dict[str, Node] = field(default_factory=dict)
    durable_entries: dict[str, Node] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Op:
    """One operation that is not durable yet.

    ``write``/``truncate`` act on file ``node``; ``link``/``unlink``/``rename`` on the entries
    of directory ``node`` (``target`` is the linked node).
    """

    kind: str
    node: Node
    offset: int = 0
    data: bytes = b""
    name: str = ""
    new_name: str = ""
    target: Node | None = None

    @property
    def is_data(self) -> bool:
        return self.kind in ("write", "truncate")


@dataclass
class Materialized:
    """What a crash state kept: for the failure message of a test."""

    mode: str
    pending: int
    kept: int
    torn_bytes: int = 0
    filled_files: int = 0

    def __str__(self) -> str:
        return (
            f"{self.mode}: kept {self.kept} of {self.pending} pending ops, "
            f"torn write {self.torn_bytes} B, {self.filled_files} files filled"
        )


@dataclass
class _SyncOnWait:
    """A started fdatasync: what the file held when it started becomes durable when it is
    waited for, and nothing written after its start (the real one covers no more)."""

    fs: CrashFS
    node: Node | None
    data: bytes  # the file when the sync started
    ops: tuple[Op, ...]  # its data operations not yet durable then

    def wait(self) -> None:
        if self.fs.crashed:  # the dead process waits for nothing (its writer being dropped)
            return
        self.fs._point("fdatasync")
        if self.node is not None:
            self.node.durable = self.data
            covered = {id(op) for op in self.ops}
            self.fs.pending = [op for op in self.fs.pending if id(op) not in covered]


class CrashFS:
    """``FileOps`` over the real OS that can materialise what a power loss leaves (see module)."""

    def __init__(self, root: str | os.PathLike[str], *, crash_at: int | None = None) -> None:
        self.root = os.path.abspath(root)
        os.makedirs(self.root, exist_ok=True)
        self.crash_at = crash_at
        self.points = 0  # crash points passed so far
        self.point_names: list[str] = []
        self.crashed = False
        self.crashed_at: str | None = None
        self._real = OsFileOps()
        self._fds: dict[int, tuple[Node | None, bool, int]] = {}  # fd -> node, append, position
        self.pending: list[Op] = []
        self.root_node = self._scan(self.root)

    # -- the model ----------------------------------------------------------------------------

    def _scan(self, path: str) -> Node:
        """A node for what is on disk now, all of it durable (the state after a reboot)."""
        if os.path.isdir(path) and not os.path.islink(path):
            node = Node(is_dir=True)
            for name in os.listdir(path):
                child = os.path.join(path, name)
                if os.path.islink(child):
                    continue  # tests plant symlinks only to see them refused
                node.entries[name] = self._scan(child)
            node.durable_entries = dict(node.entries)
            return node
        with open(path, "rb") as f:
            content = f.read()
        return Node(is_dir=False, data=bytearray(content), durable=content)

    def reset_from_disk(self) -> None:
        """Forget the model and take what is on disk as durable (after a crash and recovery)."""
        for fd in list(self._fds):
            self.close(fd)
        self.pending.clear()
        self.crashed = False
        self.crashed_at = None
        self.crash_at = None
        self.root_node = self._scan(self.root)

    def _split(self, path: str) -> tuple[Node | None, str]:
        """The model node of ``path``'s parent directory and the last component."""
        path = os.path.abspath(path)
        parent, name = os.path.split(path)
        return self._lookup(parent), name

    def _lookup(self, path: str) -> Node | None:
        path = os.path.abspath(path)
        if path == self.root:
            return self.root_node
        if not path.startswith(self.root + os.sep):
            return None  # outside the simulated disk: passes through untracked
        node = self.root_node
        for part in os.path.relpath(path, self.root).split(os.sep):
            if not node.is_dir or part not in node.entries:
                return None
            node = node.entries[part]
        return node

    def _point(self, name: str) -> None:
        """Pass a crash point; raise ``SimulatedCrash`` at the chosen one and after it."""
        if self.crashed:
            raise SimulatedCrash(f"the file system is gone (crashed at {self.crashed_at})")
        self.points += 1
        self.point_names.append(name)
        if self.crash_at is not None and self.points == self.crash_at:
            self.crashed = True
            self.crashed_at = f"crash point {self.points}: {name}"
            raise SimulatedCrash(self.crashed_at)

    def _alive(self) -> None:
        if self.crashed:
            raise SimulatedCrash(f"the file system is gone (crashed at {self.crashed_at})")

    def _sync_dir_model(self, node: Node) -> None:
        node.durable_entries = dict(node.entries)
        self.pending = [op for op in self.pending if op.is_data or op.node is not node]

    # -- FileOps ------------------------------------------------------------------------------

    def open(self, path: str, flags: int, mode: int = FILE_MODE) -> int:
        creates = bool(flags & os.O_CREAT)
        if creates:
            self._point("create")
        else:
            self._alive()
        existed = os.path.lexists(path)
        fd = self._real.open(path, flags, mode)
        parent, name = self._split(path)
        node: Node | None = None
        if parent is not None:
            if creates and not existed:
                node = Node(is_dir=False)
                parent.entries[name] = node
                self.pending.append(Op("link", parent, name=name, target=node))
            else:
                node = parent.entries.get(name)
                writes = flags & (os.O_WRONLY | os.O_RDWR)
                if node is None and writes:
                    raise AssertionError(f"{path} was created outside the FileOps seam")
        self._fds[fd] = (node, bool(flags & os.O_APPEND), 0)
        return fd

    def write(self, fd: int, data: bytes) -> int:
        self._alive()
        written = self._real.write(fd, data)
        node, append, position = self._fds[fd]
        if node is not None and written:
            offset = len(node.data) if append else position
            chunk = bytes(data[:written])
            _apply_write(node.data, offset, chunk)
            self.pending.append(Op("write", node, offset=offset, data=chunk))
            self._fds[fd] = (node, append, offset + written)
        return written

    def pwrite(self, fd: int, data: bytes, offset: int) -> int:
        self._alive()
        written = self._real.pwrite(fd, data, offset)
        node = self._fds[fd][0]
        if node is not None and written:
            chunk = bytes(data[:written])
            _apply_write(node.data, offset, chunk)
            self.pending.append(Op("write", node, offset=offset, data=chunk))
        return written

    def pread(self, fd: int, size: int, offset: int) -> bytes:
        self._alive()
        return self._real.pread(fd, size, offset)

    def allocate(self, fd: int, offset: int, length: int) -> None:
        # The file grows by zeros, durable at the next fsync: a truncate upwards in the model.
        self._point("allocate")
        self._real.allocate(fd, offset, length)
        node = self._fds[fd][0]
        if node is not None and offset + length > len(node.data):
            _apply_truncate(node.data, offset + length)
            self.pending.append(Op("truncate", node, offset=offset + length))

    def fdatasync(self, fd: int) -> None:
        self._point("fdatasync")
        self._real.fdatasync(fd)
        self._sync_file_model(fd)

    def start_fdatasync(self, fd: int) -> PendingSync:
        # Nothing is durable until the waiter learns it is (a crash before ``wait`` finds the
        # data unsynced, as a power loss during the flush may), and then only what was written
        # before the start: code that acts on later records after waiting is caught.
        self._alive()
        self._real.fdatasync(fd)
        node = self._fds[fd][0]
        ops = tuple(op for op in self.pending if op.is_data and op.node is node)
        return _SyncOnWait(self, node, bytes(node.data) if node is not None else b"", ops)

    def fsync(self, fd: int) -> None:
        self._point("fsync")
        self._real.fsync(fd)
        self._sync_file_model(fd)

    def _sync_file_model(self, fd: int) -> None:
        node = self._fds[fd][0]
        if node is not None:
            node.durable = bytes(node.data)
            self.pending = [op for op in self.pending if not (op.is_data and op.node is node)]

    def fsync_dir(self, path: str) -> None:
        self._point("fsync_dir")
        self._real.fsync_dir(path)
        node = self._lookup(path)
        if node is not None:
            self._sync_dir_model(node)

    def close(self, fd: int) -> None:
        self._fds.pop(fd, None)
        self._real.close(fd)

    def fstat_size(self, fd: int) -> int:
        self._alive()
        return self._real.fstat_size(fd)

    def truncate(self, fd: int, size: int) -> None:
        self._point("truncate")
        self._real.truncate(fd, size)
        node = self._fds[fd][0]
        if node is not None:
            _apply_truncate(node.data, size)
            self.pending.append(Op("truncate", node, offset=size))

    def replace(self, src: str, dst: str) -> None:
        self._point("replace")
        self._real.replace(src, dst)
        src_parent, src_name = self._split(src)
        dst_parent, dst_name = self._split(dst)
        if src_parent is None and dst_parent is None:
            return
        assert src_parent is dst_parent, "CrashFS models renames within one directory only"
        assert src_parent is not None
        node = src_parent.entries.pop(src_name)
        src_parent.entries[dst_name] = node
        self.pending.append(Op("rename", src_parent, name=src_name, new_name=dst_name, target=node))

    def mkdir(self, path: str, mode: int = 0o700) -> None:
        self._point("mkdir")
        self._real.mkdir(path, mode)
        parent, name = self._split(path)
        if parent is not None:
            node = Node(is_dir=True)
            parent.entries[name] = node
            self.pending.append(Op("link", parent, name=name, target=node))

    def unlink(self, path: str) -> None:
        self._point("unlink")
        self._real.unlink(path)
        self._drop_entry(path)

    def rmdir(self, path: str) -> None:
        self._point("rmdir")
        self._real.rmdir(path)
        self._drop_entry(path)

    def _drop_entry(self, path: str) -> None:
        parent, name = self._split(path)
        if parent is not None and name in parent.entries:
            del parent.entries[name]
            self.pending.append(Op("unlink", parent, name=name))

    def listdir(self, path: str) -> list[str]:
        self._alive()
        return self._real.listdir(path)

    def read_file(self, path: str) -> bytes:
        self._alive()
        return self._real.read_file(path)

    def read_range(self, path: str, offset: int, size: int) -> bytes:
        self._alive()
        return self._real.read_range(path, offset, size)

    def size(self, path: str) -> int:
        self._alive()
        return self._real.size(path)

    # -- crash states -------------------------------------------------------------------------

    def materialize(self, mode: str, rng: random.Random) -> Materialized:
        """Rewrite the real tree under ``root`` as one crash state of ``mode`` (see module)."""
        if mode not in MODES:
            raise ValueError(f"unknown crash mode {mode!r}")
        kept, torn = self._choose(mode, rng)
        report = Materialized(mode, len(self.pending), len(kept), torn_bytes=len(torn[1]))
        files: dict[int, tuple[Node, bytearray]] = {}
        dirs: dict[int, dict[str, Node]] = {}

        def content(node: Node) -> bytearray:
            if id(node) not in files:
                files[id(node)] = (node, bytearray(node.durable))
            return files[id(node)][1]

        def entries(node: Node) -> dict[str, Node]:
            if id(node) not in dirs:
                dirs[id(node)] = dict(node.durable_entries)
            return dirs[id(node)]

        for op in kept:
            if op.kind == "write":
                _apply_write(content(op.node), op.offset, op.data)
            elif op.kind == "truncate":
                _apply_truncate(content(op.node), op.offset)
            elif op.kind == "link":
                assert op.target is not None
                entries(op.node)[op.name] = op.target
            elif op.kind == "unlink":
                entries(op.node).pop(op.name, None)
            elif op.kind == "rename":
                assert op.target is not None
                table = entries(op.node)
                if table.get(op.name) is op.target:
                    del table[op.name]
                table[op.new_name] = op.target
        if torn[0] is not None:
            _apply_write(content(torn[0].node), torn[0].offset, torn[1])
        if mode in ("garbage", "zeros"):
            for node, data in files.values():
                start = len(node.durable)
                if len(data) > start:
                    size = len(data) - start
                    data[start:] = bytes(size) if mode == "zeros" else rng.randbytes(size)
                    report.filled_files += 1
        self._write_tree(files, dirs)
        return report

    def _choose(self, mode: str, rng: random.Random) -> tuple[list[Op], tuple[Op | None, bytes]]:
        pending = self.pending
        no_tear: tuple[Op | None, bytes] = (None, b"")
        if mode == "drop_unsynced" or not pending:
            return [], no_tear
        if mode == "subset":
            limits: dict[int, int] = {}
            for op in pending:
                if op.is_data:
                    limits[id(op.node)] = limits.get(id(op.node), 0) + 1
            keep_counts = {key: rng.randint(0, count) for key, count in limits.items()}
            kept = []
            for op in pending:
                if op.is_data:
                    if keep_counts[id(op.node)] > 0:
                        keep_counts[id(op.node)] -= 1
                        kept.append(op)
                    else:
                        keep_counts[id(op.node)] = -1  # a later write of this file is dropped too
                elif rng.random() < 0.5:
                    kept.append(op)
            return kept, no_tear
        cut = rng.randint(0, len(pending))
        kept = pending[:cut]
        nxt = pending[cut] if cut < len(pending) else None
        if nxt is not None and nxt.kind == "write" and len(nxt.data) > 1 and rng.random() < 0.5:
            return kept, (nxt, nxt.data[: rng.randint(1, len(nxt.data) - 1)])  # a torn write
        return kept, no_tear

    def _write_tree(
        self, files: dict[int, tuple[Node, bytearray]], dirs: dict[int, dict[str, Node]]
    ) -> None:
        for name in os.listdir(self.root):
            path = os.path.join(self.root, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)

        def write(path: str, node: Node) -> None:
            table = dirs.get(id(node), node.durable_entries)
            for name, child in table.items():
                target = os.path.join(path, name)
                if child.is_dir:
                    os.mkdir(target, 0o700)
                    os.chmod(target, 0o700)
                    write(target, child)
                else:
                    data = files[id(child)][1] if id(child) in files else child.durable
                    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
                    try:
                        os.write(fd, bytes(data))
                    finally:
                        os.close(fd)
                    os.chmod(target, FILE_MODE)

        write(self.root, self.root_node)


class NoDirSyncCrashFS(CrashFS):
    """A broken ``FileOps`` for the mutation check: ``fsync_dir`` makes nothing durable."""

    def fsync_dir(self, path: str) -> None:
        self._point("fsync_dir")
        self._real.fsync_dir(path)


def _apply_write(data: bytearray, offset: int, chunk: bytes) -> None:
    if offset > len(data):
        data.extend(bytes(offset - len(data)))
    data[offset : offset + len(chunk)] = chunk


def _apply_truncate(data: bytearray, size: int) -> None:
    if size < len(data):
        del data[size:]
    else:
        data.extend(bytes(size - len(data)))


class NoRollDirSyncCrashFS(CrashFS):
    """A subtler mutant: only the segment roll's ``fsync_dir(log/)`` makes nothing durable."""

    def fsync_dir(self, path: str) -> None:
        parent = os.path.basename(os.path.dirname(os.path.abspath(path)))
        if os.path.basename(path) == "log" and not parent.startswith(".new-"):
            self._point("fsync_dir")
            self._real.fsync_dir(path)
            return
        super().fsync_dir(path)
