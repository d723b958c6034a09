"""The conversation every system stores: the same bytes, different every step.

A step is an assistant message of ~300 bytes with one tool call (``fetch(n=i)``) and a tool
result of ~1 KB. Only the standard library is imported here (the cold-load processes use it).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from typing import Any

CONTENT_BYTES = 300
OUTPUT_BYTES = 1024
TOOL_NAME = "fetch"


def assistant_text(i: int) -> str:
    """The assistant's ~300 bytes of text at step ``i``."""
    digest = hashlib.sha256(f"turn {i}".encode()).hexdigest()
    return (f"Step {i}: thinking about {digest} " + digest * 5)[:CONTENT_BYTES]


def tool_output(i: int) -> str:
    """The tool's ~1 KB result at step ``i`` (hash-derived, so nothing repeats or compresses)."""
    import hashlib

    digest = hashlib.sha512(f"output {i}".encode()).hexdigest()
    return (f"result of step {i:06d}: " + digest * 8)[:1024]


def call_id(i: int) -> str:
    return f"call_{i}_0"


def tree_bytes(*paths: str) -> int:
    """Bytes of the regular files under ``paths`` (files or directories)."""
    total = 0
    for path in paths:
        if os.path.isfile(path):
            total += os.path.getsize(path)
            continue
        for folder, _dirs, files in os.walk(path):
            for name in files:
                full = os.path.join(folder, name)
                if os.path.isfile(full):
                    total += os.path.getsize(full)
    return total


def emit(result: dict[str, Any]) -> None:
    """The driver's answer: one JSON line on stdout."""
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


def tenth_us(stamps: list[float]) -> tuple[float | None, float | None]:
    """µs/step over the first and the last tenth of per-step timestamps (perf_counter)."""
    if len(stamps) < 20:
        return None, None
    tenth = len(stamps) // 10
    first = (stamps[tenth] - stamps[0]) / tenth * 1e6
    last = (stamps[-1] - stamps[-1 - tenth]) / tenth * 1e6
    return first, last
