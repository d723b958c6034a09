"""Durations as people type them: ``90s``, ``55m``, ``2h``, ``30d``, ``1h30m``, ``1w``."""

from __future__ import annotations

import re

from agentrun.core.errors import UsageError

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
# Longer than any task or window anyone means; beyond it dates overflow (``now - 10**11 days``).
MAX_DURATION_S = 100 * 365 * 86400


def parse_duration(text: str) -> float:
    """Seconds in ``text``; raises ``UsageError`` naming the accepted forms."""
    cleaned = text.strip().lower().replace(" ", "")
    pos, total = 0, 0.0
    for match in _PART.finditer(cleaned):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not cleaned or pos != len(cleaned):
        raise UsageError(
            f"invalid duration {text!r}: use a number and a unit (ms, s, m, h, d, w), "
            "e.g. 55m or 1h30m"
        )
    if total > MAX_DURATION_S:
        raise UsageError(f"duration {text!r} is longer than 100 years; use a shorter one")
    return total


def format_duration(seconds: float) -> str:
    """A short human form: ``850ms``, ``42s``, ``3m12s``, ``2h05m``, ``3d04h``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"
