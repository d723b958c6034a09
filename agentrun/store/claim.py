"""Claims: one process runs a task, by a held flock on ``tasks/<id>/lock`` (rules 20-21, 24).

Process death frees the claim at once; nothing else does (no time-based expiry). The lock file is
created with the task and never deleted while the task exists.
"""

from __future__ import annotations

from filelock import FileLock, Timeout

from agentrun.core.errors import StorageError


class Claim:
    """A non-blocking, non-expiring claim on one task's lock file."""

    def __init__(self, lock_path: str) -> None:
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

    For that brief moment the probe holds the claim itself, so a racing ``resume`` may get exit 5.
    """
    probe = Claim(lock_path)
    if probe.try_acquire():
        probe.release()
        return False
    return True
