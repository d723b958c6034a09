"""How counts, sizes, statuses and errors read for people: ``1 run``, ``2 runs``, ``1.2 MiB``.

Human output only: ``--json`` keeps raw numbers and statuses as the log spells them
(``needs_attention``), so nothing that prints JSON goes through here. Formatting only: no I/O,
no rich.
"""

from __future__ import annotations

from typing import Any

from agentrun.core.errors import CorruptLogError

_SIZE_UNITS = ("KiB", "MiB", "GiB", "TiB")


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``1 run``, ``0 runs``, ``1,200 steps``; ``plural_form`` where adding ``s`` is wrong."""
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{count:,} {word}"


def format_bytes(size: int) -> str:
    """``1 byte``, ``512 bytes``, ``3.0 KiB``, ``1.2 MiB``: powers of 1024, as the docs count."""
    if abs(size) < 1024:
        return plural(size, "byte")
    value = float(size)
    for unit in _SIZE_UNITS:
        value /= 1024
        if abs(round(value, 1)) < 1024 or unit == _SIZE_UNITS[-1]:
            break
    return f"{value:.1f} {unit}"


def status_words(status: str) -> str:
    """A status or stop reason as people read it: ``needs_attention`` → ``needs attention``."""
    return status.replace("_", " ")


def outcome_line(task_id: str, status: str, message: str | None = None) -> str:
    """How a run ended, one line: ``TASK: needs attention — call call_0_0 (charge) needs …``.

    ``start``, ``resume`` and ``batch`` all report a task this way.
    """
    line = f"{task_id}: {status_words(status)}"
    return f"{line} — {message}" if message else line


def naming_task(task_id: str, error: Exception, what: str = "") -> str:
    """``task T[ what]: <error>`` for one of many tasks, naming the task once.

    A corrupt log's error names its task itself (``corrupt log of task T: …``); here it reads
    ``task T left out: corrupt log: …`` (``cannot read the log: …`` alike).
    """
    text = str(error)
    if isinstance(error, CorruptLogError) and error.task_id == task_id:
        text = str(type(error)(error.reason))
    return f"task {task_id} {what}: {text}" if what else f"task {task_id}: {text}"


def check_words(check: dict[str, Any]) -> str:
    """An outcome check as a person reads it: the command, how it ended, its last output line."""
    code = check.get("exit_code")
    ended = (
        "passed"
        if check.get("passed")
        else ("timed out" if code == -1 else f"failed (exit {code})")
    )
    lines = [line for line in str(check.get("output") or "").splitlines() if line.strip()]
    said = f": {lines[-1].strip()}" if lines and not check.get("passed") else ""
    return f"`{check.get('command')}` {ended}{said}"
