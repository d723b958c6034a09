"""Summarizing dropped turns with the task's model (``[context] summarize = true``; off by default).

When compaction drops old turns, the marker that stands for them can carry a summary written by
the task's own model instead of a bare range. The summary is recorded in the
``context_compacted`` event, so a resume replays it and never asks again.
"""

from __future__ import annotations

import json
from typing import Any

from agentrun.core.conversation import Message, ModelRequest
from agentrun.core.tokens import message_tokens

SUMMARY_SYSTEM = (
    "You compress the working memory of an AI agent. Summarize the messages below for the "
    "agent itself: facts learned, decisions taken, files and resources touched, results of "
    "tool calls that still matter, open questions. Be brief and concrete; no preamble."
)
MESSAGE_EXCERPT = 2000


def summary_request(
    dropped: list[dict[str, Any]], previous: str | None, *, turn: int, max_output_tokens: int
) -> ModelRequest:
    """The request that asks the model to summarize ``dropped`` (and an earlier summary)."""
    lines = [f"Earlier summary: {previous}"] if previous else []
    for message in dropped:
        text = (message.get("content") or "")[:MESSAGE_EXCERPT]
        calls = message.get("tool_calls") or []
        if calls:
            text += " [calls: " + json.dumps(calls, ensure_ascii=False)[:MESSAGE_EXCERPT] + "]"
        lines.append(f"{message.get('role', '?')}: {text}")
    return ModelRequest(
        messages=(
            Message(role="system", content=SUMMARY_SYSTEM),
            Message(role="user", content="\n".join(lines)),
        ),
        turn=turn,
        max_output_tokens=max_output_tokens,
        purpose="summary",
    )


def with_summary(
    marker: dict[str, Any], summary: str, *, tokens_after: int, max_tokens: int
) -> tuple[dict[str, Any], int]:
    """The marker carrying ``summary``, cut short if needed to stay under ``max_tokens``."""
    first, last = marker["dropped"]
    head = (
        f"[Summary of messages {first} to {last}, removed to fit the context window; "
        "recall(message=N) reads any of them]\n"
    )
    others = tokens_after - marker["tokens"]
    text = summary.strip()
    while True:
        updated = {**marker, "content": head + text, "summary": text}
        updated["tokens"] = message_tokens(updated)
        if others + updated["tokens"] <= max_tokens or not text:
            return updated, others + updated["tokens"]
        text = text[: len(text) * 3 // 4]
