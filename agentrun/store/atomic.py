"""Atomic whole-file writes for snapshots, summaries and blobs (rule 4).

temp file in the same directory (O_EXCL, 0600) → one write → fsync → rename → fsync directory.
A file is never rewritten in place.
"""

from __future__ import annotations

import os
import secrets

from agentrun.store.crashpoints import crash_point
from agentrun.store.fileops import CREATE_FLAGS, FileOps, write_all

TMP_MARK = ".tmp-"


def write_atomic(ops: FileOps, path: str, data: bytes, *, crash_prefix: str = "") -> None:
    """Make ``path`` hold exactly ``data``, durably, or leave the old file untouched.

    Raises ``OSError``; the caller translates it. A leftover ``*.tmp-*`` after a crash is ignored
    by readers and removed by the next claim holder (rule 19).
    """
    directory = os.path.dirname(path)
    tmp = f"{path}{TMP_MARK}{secrets.token_hex(4)}"
    fd = ops.open(tmp, CREATE_FLAGS)
    try:
        write_all(ops, fd, data)
        if crash_prefix:
            crash_point(f"{crash_prefix}_tmp_written")
        ops.fsync(fd)
    finally:
        ops.close(fd)
    if crash_prefix:
        crash_point(f"{crash_prefix}_before_replace")
    ops.replace(tmp, path)
    if crash_prefix:
        crash_point(f"{crash_prefix}_after_replace_before_dirsync")
    ops.fsync_dir(directory)


def is_leftover(name: str) -> bool:
    """Whether a directory entry is debris of an interrupted write (rule 19)."""
    return TMP_MARK in name or name.endswith(".seg.tmp") or name.startswith(".new-")
