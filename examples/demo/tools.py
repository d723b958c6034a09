"""A custom side-effect tool for the demo: posting a note to a team channel.

The "channel" is a JSON-lines file beside the workspace (``outbox.jsonl``), standing in for a chat
service. Like a real API, it deduplicates by the idempotency key agentrun passes in, and
``reconcile`` asks it whether a call already happened, so a resume after ``kill -9`` between
"intent" and "result" settles by itself instead of posting twice.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from agentrun import ToolContext, tool


def _outbox(ctx: ToolContext) -> Path:
    return Path(os.environ.get("AGENTRUN_DEMO_OUTBOX", ctx.workspace.parent / "outbox.jsonl"))


def _find(ctx: ToolContext) -> dict | None:
    path = _outbox(ctx)
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        entry = json.loads(line)
        if entry["idempotency_key"] == ctx.idempotency_key:
            return entry
    return None


def reconcile_post(ctx: ToolContext) -> str | None:
    """Return the earlier result if this call's note was already posted, else ``None``."""
    entry = _find(ctx)
    return None if entry is None else f"posted to #{entry['channel']} (id {entry['id']})"


@tool(effect="side_effect", reconcile=reconcile_post)
def post_note(channel: str, text: str, ctx: ToolContext) -> str:
    """Post a short note to a team channel.

    Args:
        channel: The channel name, without '#'.
        text: What to post.
    """
    existing = _find(ctx)
    if existing is not None:  # the service's own deduplication by idempotency key
        return f"posted to #{existing['channel']} (id {existing['id']})"
    path = _outbox(ctx)
    entry = {
        "id": f"msg-{ctx.idempotency_key[-8:]}",
        "channel": channel,
        "text": text,
        "idempotency_key": ctx.idempotency_key,
        "pid": os.getpid(),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, (json.dumps(entry) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return f"posted to #{channel} (id {entry['id']})"
