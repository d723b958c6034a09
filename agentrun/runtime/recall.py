"""``recall(seq)``: the built-in tool with which an agent reads back what compaction took away.

Every original stays in the log (or in a blob it names), so nothing the context loses is lost.
"""

from __future__ import annotations

import json
from typing import Any

from agentrun.core.events import ModelResponded, ToolCompleted, to_record
from agentrun.store.local import LocalTaskStore


def recall_text(store: LocalTaskStore, task_id: str, seq: int) -> str:
    """The original content recorded at event ``seq``: a tool's whole output, a model's message."""
    if seq < 1:
        return f"error: there is no event {seq}; event numbers start at 1"
    for event in store.events(task_id, from_seq=seq):
        if event.seq != seq:
            break
        if isinstance(event, ToolCompleted):
            if event.output_blob:
                return store.get_blob(task_id, event.output_blob["sha256"]).decode(
                    "utf-8", "replace"
                )
            return event.output
        if isinstance(event, ModelResponded):
            return _assistant_text(event.message)
        return json.dumps(to_record(event), ensure_ascii=False)
    return f"error: there is no event {seq} in this task"


def _assistant_text(message: dict[str, Any]) -> str:
    text = message.get("content") or ""
    calls = message.get("tool_calls") or []
    if calls:
        text += "\n[tool calls: " + json.dumps(calls, ensure_ascii=False) + "]"
    return text


def make_recall(store: LocalTaskStore, task_id: str) -> Any:
    """The ``recall`` tool bound to one task."""
    from agentrun.tools.decorator import tool

    @tool(effect="read", name="recall")
    def recall(seq: int) -> str:
        """Read back the original of a message that was shortened or removed from the context.

        Args:
            seq: The event number named in the marker, e.g. 42 for "recall(seq=42)".
        """
        return recall_text(store, task_id, seq)

    return recall
