"""Claims: one process runs a task, by a held flock on ``tasks/<id>/lock`` (rules 20-21, 24).

Process death frees the claim at once; nothing else does (no time-based expiry). The lock file is
created with the task and never deleted while the task exists.
"""

from __future__ import annotations

import fcntl
import os

from agentrun.core.errors import StorageError


class Claim:
    """A non-blocking, non-expiring claim on one task's lock file."""

    def __init__(self, lock_path: str) -> None:
        # Imported here: only a writer claims, and readers start ~20 ms faster without it.
        from filelock import FileLock

        self._lock = FileLock(
            lock_path,
            mode=0o600,
            blocking=False,
            fallback_to_soft=False,  # a soft lock is not a lock: refuse rather than pretend
            lifetime=None,
            thread_local=False,
            preserve_lock_file=True,  # rule 20: never delete `lock` (filelock #574/#577)
        )

    def try_acquire(self) -> bool:
        """Take the claim if nobody holds it; ``False`` if another process does."""
        from filelock import Timeout

        try:
            self._lock.acquire()
        except Timeout:
            return False
        except OSError as exc:
            raise StorageError(f"cannot take the claim on {self._lock.lock_file}: {exc}") from None
        return True

    def release(self) -> None:
        """Give the claim up (after the final fsync)."""
        if self._lock.is_locked:
            self._lock.release(force=True)

    @property
    def is_held(self) -> bool:
        """Whether this object holds the claim."""
        return self._lock.is_locked


def is_claimed(lock_path: str) -> bool:
    """Probe whether some process holds the claim, releasing at once (rule 24).

    The probe takes the same non-blocking flock a ``Claim`` holds, on its own descriptor, but
    opened read-only and without ``O_CREAT``: ``FileLock`` opens ``O_RDWR | O_CREAT``, so a
    reader would create a missing lock file and fail on a read-only home (rule 17). No lock
    file means no holder. For the brief moment of the probe it holds the claim itself, so a
    racing ``resume`` may get exit 5.
    """
    try:
        fd = os.open(lock_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise StorageError(f"cannot look at the claim {lock_path}: {exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError as exc:
        raise StorageError(f"cannot look at the claim {lock_path}: {exc}") from None
    finally:
        os.close(fd)  # closing the descriptor releases a flock taken through it
    return False
