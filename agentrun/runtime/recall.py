"""``recall(message)``: the built-in tool with which an agent reads back what compaction took.

Markers in the context name a message by its number in the conversation; the state knows the
event that recorded it, and every original stays in the log (or in a blob it names).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from agentrun.core.events import ModelResponded, ToolCompleted, to_record
from agentrun.core.state import State
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


def recall_message(store: LocalTaskStore, state: State, number: int) -> str:
    """The original of message ``number`` (1-based) of the task's conversation."""
    if not 1 <= number <= len(state.messages):
        return f"error: there is no message {number}; the conversation has {len(state.messages)}"
    message = state.messages[number - 1]
    seq = message.get("seq")
    if seq is None:  # a message the task started with (a fork), held whole in the state
        return message.get("content") or ""
    return recall_text(store, state.task_id, seq)


def make_recall(store: LocalTaskStore, current_state: Callable[[], State]) -> Any:
    """The ``recall`` tool bound to a running task (``current_state`` gives its live state)."""
    from agentrun.tools.decorator import tool

    @tool(effect="read", name="recall")
    def recall(message: int) -> str:
        """Read back the whole original of a message that was shortened or removed from the context.

        Args:
            message: The message number named in the marker, e.g. 12 for "recall(message=12)".
        """
        return recall_message(store, current_state(), message)

    return recall
