"""Named crash points for kill tests (test plan F2).

``AGENTRUN_CRASH_AT=<point>:<n>[,<point>:<n>…]`` makes the process SIGKILL itself at the n-th pass
of ``<point>``. Unset, a check is one dict lookup. Tests use this to stop a real process inside a
crash window (between write and fsync, between intent and tool, …) instead of sleeping.
"""

from __future__ import annotations

import os
import signal

_targets: dict[str, int] = {}
_passes: dict[str, int] = {}


def _parse(spec: str) -> dict[str, int]:
    targets: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, count = part.partition(":")
        targets[name] = int(count or "1")
    return targets


def reload_from_env() -> None:
    """Re-read ``AGENTRUN_CRASH_AT`` (done once at import)."""
    global _targets
    _targets = _parse(os.environ.get("AGENTRUN_CRASH_AT", ""))
    _passes.clear()


def crash_point(name: str) -> None:
    """SIGKILL this process if ``name`` is armed and this is its n-th pass."""
    if name not in _targets:
        return
    _passes[name] = _passes.get(name, 0) + 1
    if _passes[name] == _targets[name]:
        os.kill(os.getpid(), signal.SIGKILL)


reload_from_env()
