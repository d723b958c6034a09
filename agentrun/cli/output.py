"""Where output goes: results to stdout (plain JSON or rich), progress and warnings to stderr.

Rich drops colour when not a terminal and honours ``NO_COLOR``; nothing decorative goes to a
pipe (style.md "Output").
"""

from __future__ import annotations

import json
import sys
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

# rich is imported by the consoles, not here: JSON output and warnings (``ls --json``, ``log
# --json``, every ``print_json``) must not pay for it at start-up.


@cache
def stdout() -> Console:
    """The console for results."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


@cache
def stderr() -> Console:
    """The console for progress, warnings and errors."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def print_json(value: Any) -> None:
    """One JSON document on stdout."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n")


def print_json_line(value: Any) -> None:
    """One JSON line on stdout (for streams)."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False, default=str) + "\n")


def warn(message: str) -> None:
    """A warning line on stderr."""
    print(f"warning: {message}", file=sys.stderr)
