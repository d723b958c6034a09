"""Asking whether a task is claimed never writes and never disturbs the holder (rules 17, 24)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentrun.core.errors import StorageError
from agentrun.store.claim import Claim, is_claimed

HOLD = """
import sys, time
from agentrun.store.claim import Claim
claim = Claim(sys.argv[1])
assert claim.try_acquire()
print("held", flush=True)
sys.stdin.readline()
"""


def test_a_missing_lock_file_is_unclaimed_and_the_probe_does_not_create_it(
    tmp_path: Path,
) -> None:
    lock = tmp_path / "lock"
    assert is_claimed(str(lock)) is False
    assert not lock.exists()


def test_the_probe_sees_another_process_holding_the_claim_and_leaves_it_held(
    tmp_path: Path,
) -> None:
    lock = tmp_path / "lock"
    lock.touch(mode=0o600)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(lock)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert is_claimed(str(lock)) is True
        assert is_claimed(str(lock)) is True  # probing twice changed nothing
        assert Claim(str(lock)).try_acquire() is False  # the holder still holds it
    finally:
        holder.communicate("done\n", timeout=10)
    assert is_claimed(str(lock)) is False


def test_the_probe_works_on_a_lock_file_it_may_only_read(tmp_path: Path) -> None:
    # A home on a read-only mount: the lock file opens read-only or not at all.
    lock = tmp_path / "lock"
    lock.touch(mode=0o400)
    before = lock.stat()
    assert is_claimed(str(lock)) is False
    after = lock.stat()
    assert (after.st_mtime_ns, after.st_size) == (before.st_mtime_ns, before.st_size)


def test_a_symlinked_lock_file_is_one_clear_error_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.touch()
    os.symlink(target, tmp_path / "lock")
    with pytest.raises(StorageError, match="cannot look at the claim"):
        is_claimed(str(tmp_path / "lock"))
