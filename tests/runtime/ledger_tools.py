"""Test tools that record every real execution in a ledger outside the home (test plan F3).

The ledger is the ground truth for "did the side effect happen": one JSON line per execution,
appended with O_APPEND and fsynced before the tool returns. ``AGENTRUN_LEDGER`` names the file.
"""

from __future__ import annotations

import json
import os
import time

from agentrun import ToolContext, tool


def _ledger_path() -> str:
    return os.environ["AGENTRUN_LEDGER"]


def _record(name: str, ctx: ToolContext) -> None:
    delay = float(os.environ.get("AGENTRUN_TEST_TOOL_DELAY", "0") or 0)
    if delay:
        time.sleep(delay)
    entry = {"tool": name, "key": ctx.idempotency_key, "call_id": ctx.call_id, "pid": os.getpid()}
    fd = os.open(_ledger_path(), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, (json.dumps(entry) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def ledger_entries() -> list[dict]:
    """Every execution recorded so far."""
    try:
        with open(_ledger_path()) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


@tool(effect="read")
def lookup(key: str, ctx: ToolContext) -> str:
    """Look a value up.

    Args:
        key: What to look up.
    """
    _record("lookup", ctx)
    return f"value of {key}"


@tool(effect="idempotent")
def store_value(key: str, value: str, ctx: ToolContext) -> str:
    """Store a value (harmless to repeat).

    Args:
        key: Where.
        value: What.
    """
    _record("store_value", ctx)
    return f"stored {key}"


@tool(effect="side_effect")
def charge(amount: int, ctx: ToolContext) -> str:
    """Charge a card; must never happen twice.

    Args:
        amount: Cents.
    """
    _record("charge", ctx)
    return f"charged {amount}"


def _notified(ctx: ToolContext) -> str | None:
    for entry in ledger_entries():
        if entry["tool"] == "notify" and entry["key"] == ctx.idempotency_key:
            return "notified"
    return None


@tool(effect="side_effect", reconcile=_notified)
def notify(text: str, ctx: ToolContext) -> str:
    """Send a notification; ``reconcile`` asks the ledger whether it was sent.

    Args:
        text: The message.
    """
    _record("notify", ctx)
    return "notified"


@tool(effect="read")
def blob(index: int, size: int = 5000) -> str:
    """Return a large deterministic text (for context-window tests).

    Args:
        index: Which text.
        size: Characters.
    """
    line = f"line of text {index} "
    return (line * (size // len(line) + 1))[:size]
