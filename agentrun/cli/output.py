"""Where output goes: results to stdout (plain JSON or rich), progress and warnings to stderr.

Rich drops colour when not a terminal and honours ``NO_COLOR``; nothing decorative goes to a
pipe (style.md "Output").
"""

from __future__ import annotations

import errno
import json
import os
import sys
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

# rich is imported by the consoles, not here: JSON output and warnings (``ls --json``, ``log
# --json``, every ``print_json``) must not pay for it at start-up.


# A pipe has no width: rich would assume 80 columns and break lines there, and a program
# reading the output would see a record split in two (docs/cli.md: lines are never wrapped).
PIPE_WIDTH = 100_000


@cache
def stdout() -> Console:
    """The console for results."""
    return _console(to_stderr=False)


@cache
def stderr() -> Console:
    """The console for progress, warnings and errors."""
    return _console(to_stderr=True)


def _console(*, to_stderr: bool) -> Console:
    # The console finds sys.stdout / sys.stderr at each write (tests swap them); only whether
    # it is a terminal is decided here.
    from rich.console import Console

    stream = sys.stderr if to_stderr else sys.stdout
    is_terminal = stream is not None and stream.isatty()
    console = Console(
        stderr=to_stderr,
        highlight=False,
        soft_wrap=not is_terminal,
        width=None if is_terminal else PIPE_WIDTH,
    )
    # rich answers a closed pipe with SystemExit(1), which reads as "failed" (verify: corrupt);
    # the CLI's error boundary decides instead, the same for every command (cli/app.py).
    console.on_broken_pipe = _closed_pipe  # type: ignore[method-assign]
    return console


def _closed_pipe() -> None:
    raise BrokenPipeError(errno.EPIPE, "the reader of the output went away")


def print_json(value: Any) -> None:
    """One JSON document on stdout."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n")


def print_json_line(value: Any) -> None:
    """One JSON line on stdout (for streams)."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False, default=str) + "\n")


def warn(message: str) -> None:
    """A warning line on stderr."""
    print(f"warning: {message}", file=sys.stderr)


def discard_stdout() -> None:
    """Point stdout at /dev/null after its reader went away (``agentrun log | head``).

    Whatever is still buffered, and the interpreter's last flush at exit, then go nowhere
    instead of raising ``BrokenPipeError`` once more.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no usable stdout at all: nothing to redirect
        pass
    finally:
        os.close(devnull)
