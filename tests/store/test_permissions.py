"""Rules 1 and 22: private by construction, and no network or FUSE home unless allowed.

Under umask 000 and 077 every directory the store makes is 0700 and every file 0600 (INV-PERM):
home, ``tasks/``, the task, ``log/``, ``snapshots/``, ``blobs/``, segments (also after a roll),
the lock, snapshots, the summary, blobs and ``.torn-*`` files. A home on nfs, cifs, smb3,
9p, lustre or FUSE is refused with ``NetworkFsError`` unless ``allow_network_fs``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentrun.core.errors import NetworkFsError
from agentrun.store import home as home_module
from agentrun.store.local import LocalTaskStore
from tests.store.builders import BASE_TIME, build_task, make_created


@pytest.fixture(params=[0o000, 0o077, 0o022], ids=["umask-000", "umask-077", "umask-022"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def modes(root: Path) -> dict[str, str]:
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            found[str(path.relative_to(root))] = oct(stat.S_IMODE(path.lstat().st_mode))
    return found


def test_every_directory_is_0700_and_every_file_0600(umask: int, fast_home: Path) -> None:
    store = LocalTaskStore(fast_home, segment_bytes=4096, snapshot_every=5)
    built = build_task(store, 30, task_id="t-perm")
    writer = store.open_writer(built.task_id)
    writer.put_blob(b"a large tool output")
    writer.close()
    # A torn tail, repaired: the .torn file is private too.
    segment = built.segments()[-1]
    with open(segment, "ab") as f:
        f.write(b"\x10\x00\x00\x00torn")
    store.open_writer(built.task_id).abandon()

    found = modes(fast_home)
    for part in (".seg", ".snap", "/lock", "/summary", ".torn-", "/blobs/"):
        assert any(part in p for p in found), f"no {part} file was made: {sorted(found)}"
    assert len(built.segments()) > 1
    assert oct(stat.S_IMODE(fast_home.stat().st_mode)) == oct(0o700)
    for rel, mode in found.items():
        expected = 0o700 if (fast_home / rel).is_dir() else 0o600
        assert mode == oct(expected), f"{rel} is {mode} under umask {umask:03o}"


@pytest.mark.parametrize(
    "fs_type", ["nfs", "nfs4", "cifs", "smb3", "9p", "lustre", "fuse.sshfs", "fuseblk"]
)
def test_a_home_on_a_network_or_fuse_file_system_is_refused(
    fs_type: str, fast_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(home_module, "filesystem_type", lambda path: fs_type)
    store = LocalTaskStore(fast_home)
    with pytest.raises(NetworkFsError, match=f"on a {fs_type} file system.*--allow-network-fs"):
        store.create(make_created, now=BASE_TIME, task_id="t-nfs")
    assert not (fast_home / "tasks" / "t-nfs").exists()


def test_a_network_home_is_used_with_a_warning_when_allowed(
    fast_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    allowed = LocalTaskStore(fast_home, allow_network_fs=True)
    build_task(allowed, 3, task_id="t-nfs")
    monkeypatch.setattr(home_module, "filesystem_type", lambda path: "nfs4")
    with pytest.raises(NetworkFsError):
        LocalTaskStore(fast_home).open_writer("t-nfs")
    allowed.open_writer("t-nfs").abandon()
    assert any("nfs4" in w for w in allowed.warnings)


@pytest.mark.parametrize("fs_type", ["ext4", "tmpfs", "xfs", "btrfs", ""])
def test_a_local_file_system_is_accepted(
    fs_type: str, fast_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(home_module, "filesystem_type", lambda path: fs_type)
    store = LocalTaskStore(fast_home)
    store.create(make_created, now=BASE_TIME, task_id="t-local")
    assert store.warnings == []
