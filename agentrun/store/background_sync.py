"""An ``fdatasync`` that runs while the caller goes on: the C library's POSIX AIO (rule 7).

The log writer starts the sync of a model turn whose first call is a read, then runs it while
the disk flushes, and waits for the flush only where something depends on the log being
durable (``LogWriter.begin_sync``, docs/decisions.md). A Python thread cannot
do this: it needs the interpreter lock back to return from ``os.fdatasync``, so the syncing
thread and the loop take turns instead of overlapping (docs/performance.md). glibc's
``aio_fsync`` runs the ``fdatasync`` on a helper thread of its own, which holds no Python lock
and has every signal blocked, so signals still reach the main thread.

Linux with glibc on a 64-bit CPU only, where the layout of ``struct aiocb`` below is the C
library's, and only in the process that imported this module; anywhere else ``start`` returns
``None`` and the caller syncs in place.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import sys
import time
from typing import Any

# After the flush is due, the waiter polls for this long before it sleeps in ``aio_suspend``:
# a flush that ends while the CPU sleeps costs a wake-up and caches gone cold
# (docs/performance.md); a disk slower than this is not worth a spinning core.
SPIN_NS = 300_000
_SIGEV_NONE = 1  # no signal or thread when the request completes: the waiter asks


class _SigEvent(ctypes.Structure):
    _fields_ = [
        ("sigev_value", ctypes.c_void_p),
        ("sigev_signo", ctypes.c_int),
        ("sigev_notify", ctypes.c_int),
        ("_union", ctypes.c_byte * 48),
    ]


class _AioCb(ctypes.Structure):
    """glibc's ``struct aiocb`` on LP64 (``<aio.h>``), with room to spare at its end."""

    _fields_ = [
        ("aio_fildes", ctypes.c_int),
        ("aio_lio_opcode", ctypes.c_int),
        ("aio_reqprio", ctypes.c_int),
        ("aio_buf", ctypes.c_void_p),
        ("aio_nbytes", ctypes.c_size_t),
        ("aio_sigevent", _SigEvent),
        ("_next_prio", ctypes.c_void_p),
        ("_abs_prio", ctypes.c_int),
        ("_policy", ctypes.c_int),
        ("_error_code", ctypes.c_int),
        ("_return_value", ctypes.c_ssize_t),
        ("aio_offset", ctypes.c_int64),
        ("_reserved", ctypes.c_byte * 96),
    ]


# Control blocks whose request may still be running: the C library writes into them until it
# finishes, so they must outlive any handle dropped without a wait (an exception unwinding).
_IN_FLIGHT: dict[int, _AioCb] = {}  # by address
_libc: Any = None
_pid = os.getpid()  # the process whose C library state the AIO requests rely on


def _load_libc() -> Any:
    """The C library's AIO functions, or ``False`` where this module cannot use them."""
    global _libc
    if _libc is not None:
        return _libc
    _libc = False
    if sys.platform != "linux" or ctypes.sizeof(ctypes.c_void_p) != 8:
        return _libc
    if platform.libc_ver()[0] != "glibc":
        return _libc
    try:
        lib = ctypes.CDLL(None, use_errno=True)  # glibc >= 2.34 has AIO in libc itself
        if not hasattr(lib, "aio_fsync"):
            lib = ctypes.CDLL("librt.so.1", use_errno=True)
    except OSError:
        return _libc
    lib.aio_fsync.argtypes = [ctypes.c_int, ctypes.c_void_p]
    lib.aio_error.argtypes = [ctypes.c_void_p]
    lib.aio_return.argtypes = [ctypes.c_void_p]
    lib.aio_return.restype = ctypes.c_ssize_t
    lib.aio_suspend.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    _libc = lib
    return _libc


class BackgroundSync:
    """One ``fdatasync`` running on the C library's helper thread; ``wait`` for its result."""

    def __init__(self, libc: Any, block: _AioCb) -> None:
        self._libc = libc
        self._block = block  # kept alive by this handle too
        self._address = ctypes.addressof(block)
        self._done = False

    def wait(self) -> None:
        """Return once the data is durable; raise the ``OSError`` the ``fdatasync`` met."""
        if self._done:
            return
        libc, address = self._libc, self._address
        in_progress = errno.EINPROGRESS
        status = libc.aio_error(address)
        if status == in_progress:
            deadline = time.monotonic_ns() + SPIN_NS
            while status == in_progress and time.monotonic_ns() < deadline:
                status = libc.aio_error(address)
            waiting = (ctypes.c_void_p * 1)(address)
            while status == in_progress:
                # Returns early on a signal (EINTR): its Python handler runs, the wait goes on.
                libc.aio_suspend(waiting, 1, None)
                status = libc.aio_error(address)
        libc.aio_return(address)  # the result, once: POSIX asks for it to end a request
        self._done = True
        _IN_FLIGHT.pop(address, None)
        if status != 0:
            raise OSError(status, os.strerror(status))


def start(fd: int) -> BackgroundSync | None:
    """Start an ``fdatasync`` of ``fd`` in the background; ``None`` if it cannot be started.

    ``None`` means nothing was started (no usable AIO here, or the C library refused the
    request); the caller syncs in place, which reports any real error.
    """
    libc = _load_libc()
    if not libc or os.getpid() != _pid:
        # A forked child inherits the C library's count of idle AIO threads but not the
        # threads: a request there would wait for ever.
        return None
    block = _AioCb()
    block.aio_fildes = fd
    block.aio_sigevent.sigev_notify = _SIGEV_NONE
    if libc.aio_fsync(os.O_DSYNC, ctypes.addressof(block)) != 0:
        return None
    _IN_FLIGHT[ctypes.addressof(block)] = block
    return BackgroundSync(libc, block)
