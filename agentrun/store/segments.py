"""Naming and listing of a task's log segments: ``log/<first-seq>.seg`` (design §3).

Names are zero-padded so that sorting by name is sorting by seq.
"""

from __future__ import annotations

import os

from agentrun.store.fileops import FileOps

SEGMENT_SUFFIX = ".seg"
_DIGITS = 20


def segment_name(first_seq: int) -> str:
    """The file name of the segment whose first record has ``first_seq``."""
    return f"{first_seq:0{_DIGITS}d}{SEGMENT_SUFFIX}"


def list_segments(ops: FileOps, log_dir: str) -> list[tuple[int, str]]:
    """``(first_seq, path)`` of every segment in ``log_dir``, in seq order; debris is skipped."""
    found = []
    for name in ops.listdir(log_dir):
        stem = name[: -len(SEGMENT_SUFFIX)]
        if name.endswith(SEGMENT_SUFFIX) and stem.isdigit() and len(stem) == _DIGITS:
            found.append((int(stem), os.path.join(log_dir, name)))
    return sorted(found)
