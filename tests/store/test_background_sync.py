"""An fdatasync run in the background by the C library (rule 7, ``store.background_sync``).

Only the result matters to the writer: ``wait`` returns once the data is durable or raises
the error the fdatasync met, signals or not; where the C library refuses the request, the sync
is made in place and reports the same way.
"""

from __future__ import annotations

import errno
import os
import platform
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentrun.store import background_sync
from agentrun.store.fileops import OsFileOps, SyncedNow

glibc_only = pytest.mark.skipif(
    sys.platform != "linux" or platform.libc_ver()[0] != "glibc",
    reason="background syncs need Linux with glibc",
)


@pytest.fixture
def fd(tmp_path: Path) -> Iterator[int]:
    descriptor = os.open(tmp_path / "file", os.O_RDWR | os.O_CREAT, 0o600)
    yield descriptor
    os.close(descriptor)


@glibc_only
def test_a_background_sync_ends_and_is_forgotten_once_waited_for(fd: int) -> None:
    for _ in range(200):
        os.write(fd, b"x" * 4096)
        pending = background_sync.start(fd)
        assert isinstance(pending, background_sync.BackgroundSync)
        pending.wait()
        pending.wait()  # a second wait is free
    assert not background_sync._IN_FLIGHT  # no control block kept past its request


@glibc_only
def test_the_error_the_fdatasync_met_is_raised_by_wait() -> None:
    read_end, write_end = os.pipe()  # fdatasync of a pipe fails with EINVAL
    try:
        pending = background_sync.start(write_end)
        assert pending is not None
        with pytest.raises(OSError) as info:
            pending.wait()
        assert info.value.errno == errno.EINVAL
    finally:
        os.close(read_end)
        os.close(write_end)


def test_a_request_the_c_library_refuses_is_synced_in_place_and_reports_its_error(
    tmp_path: Path,
) -> None:
    closed = os.open(tmp_path / "gone", os.O_RDWR | os.O_CREAT, 0o600)
    os.close(closed)
    assert background_sync.start(closed) is None
    pending = OsFileOps().start_fdatasync(closed)
    assert isinstance(pending, SyncedNow)
    with pytest.raises(OSError) as info:
        pending.wait()
    assert info.value.errno == errno.EBADF


@glibc_only
def test_signals_during_the_wait_run_their_handlers_and_the_wait_goes_on(
    fd: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    libc = background_sync._load_libc()
    suspends = []
    suspend = libc.aio_suspend

    def counted(*args: object) -> int:
        suspends.append(1)
        return suspend(*args)

    monkeypatch.setattr(background_sync, "SPIN_NS", 0)  # straight to aio_suspend
    monkeypatch.setattr(libc, "aio_suspend", counted)
    alarms = []
    previous = signal.signal(signal.SIGALRM, lambda *_: alarms.append(1))
    signal.setitimer(signal.ITIMER_REAL, 0.0001, 0.0001)
    try:
        for _ in range(300):
            os.write(fd, b"y" * 4096)
            pending = background_sync.start(fd)
            assert pending is not None
            pending.wait()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
        signal.signal(signal.SIGALRM, previous)
    assert alarms, "no signal arrived: the test proved nothing"
    assert suspends, "no wait slept in aio_suspend: the test proved nothing"


@glibc_only
def test_a_forked_child_syncs_in_place(fd: int) -> None:
    os.write(fd, b"z")
    background_sync.start(fd).wait()  # the parent's AIO thread now exists, idle
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os._exit(0 if background_sync.start(fd) is None else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
