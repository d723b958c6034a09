"""The context window as a managed resource: what is sent to the model, and how it shrinks.

The log keeps the whole conversation (``State.messages``); the context is that conversation with
the edits of every ``context_compacted`` event applied (``State.compacted``). ``plan_compaction``
is a pure function of the state, so a resumed task compacts at the same points, the same way,
and sends byte-identical prompts. Order of shrinking:

1. shorten old tool outputs to a head and a tail, with a marker naming the message, whose
   original ``recall(message=N)`` reads back from the log;
2. drop the oldest turns (an assistant message with its tool results), leaving one marker that
   names the messages dropped.

Markers name messages by their number in the conversation (1-based), not by event seq: a resume
adds ``run_started`` events and shifts seqs, and the prompt must not change with it. Each
replacement in a ``context_compacted`` event records both the message index and the event seq.

Never touched: the system prompt, the goal, and the latest turn. No I/O here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentrun.core.pages import as_list
from agentrun.core.tokens import estimate_tokens, message_tokens


def _tokens(message: dict[str, Any]) -> int:
    """A message's estimate, from the fold's cache when it has one."""
    cached = message.get("tokens")
    return cached if type(cached) is int else message_tokens(message)


DEFAULT_TOOL_OUTPUT_TOKENS = 8000  # per-call cap on what a tool output puts in the context
SHORTEN_HEAD = 600
SHORTEN_TAIL = 600
SHORTEN_ABOVE_TOKENS = 400


def shorten(text: str, number: int, *, head: int = SHORTEN_HEAD, tail: int = SHORTEN_TAIL) -> str:
    """Keep the head and tail of ``text``; the marker names message ``number`` for ``recall``."""
    omitted = len(text) - head - tail
    return (
        f"{text[:head]}\n[… {omitted} characters omitted; recall(message={number}) returns the "
        f"whole original …]\n{text[-tail:]}"
    )


def cap_tool_output(text: str, number: int, cap_tokens: int) -> str:
    """A tool output as it enters the context (message ``number``): whole if under the cap."""
    if estimate_tokens(text) <= cap_tokens:
        return text
    keep = max(200, cap_tokens * 4 // 2 - 100)
    return shorten(text, number, head=keep, tail=keep)


def context_view(
    messages: Sequence[dict[str, Any]], compacted: dict[str, Any]
) -> list[dict[str, Any]]:
    """The conversation as the model sees it: compaction edits applied, dropped ones left out.

    A message that compaction replaced or dropped is never read, so a paged conversation
    (``core.pages``) loads only the pages that still reach the model.
    """
    if not compacted:
        return as_list(messages)
    view = []
    for index in range(len(messages)):
        key = str(index)
        if key not in compacted:
            view.append(messages[index])
        elif compacted[key] is not None:
            view.append(compacted[key])
    return view


def plan_compaction(
    messages: Sequence[dict[str, Any]],
    compacted: dict[str, Any],
    *,
    fixed_tokens: int,
    max_tokens: int,
) -> tuple[list[dict[str, Any]], int, int] | None:
    """The edits that bring the prompt under ``max_tokens``, or ``None`` if it already fits.

    ``fixed_tokens`` counts what is never compacted (system prompt, goal, tool definitions).
    Returns ``(replacements, tokens_before, tokens_after)``; each replacement is
    ``{"index", "seq", "message"}`` with ``message`` ``None`` for a dropped message.
    """
    current = {i: _current(messages, compacted, i) for i in range(len(messages))}
    live = [i for i, m in current.items() if m is not None]
    before = fixed_tokens + sum(_tokens(current[i]) for i in live)
    if before <= max_tokens:
        return None
    protected = set(_latest_turn(messages, live))
    total = before
    edits: dict[int, dict[str, Any] | None] = {}
    for index in live:  # 1: shorten old tool outputs, oldest first
        message = current[index]
        if index in protected or message["role"] != "tool" or total <= max_tokens:
            continue
        content = message.get("content") or ""
        if estimate_tokens(content) <= SHORTEN_ABOVE_TOKENS or "recall(message=" in content:
            continue
        replacement = {**message, "content": shorten(content, index + 1)}
        replacement["tokens"] = message_tokens(replacement)
        total -= _tokens(message) - replacement["tokens"]
        edits[index] = replacement
    if total > max_tokens:  # 2: drop the oldest turns, keeping one marker
        total = _drop_turns(messages, current, live, protected, edits, total, max_tokens)
    replacements = [
        {"index": i, "seq": messages[i].get("seq", 0), "message": m}
        for i, m in sorted(edits.items())
    ]
    return replacements, before, total


def _current(
    messages: Sequence[dict[str, Any]], compacted: dict[str, Any], index: int
) -> dict[str, Any] | None:
    key = str(index)
    return compacted[key] if key in compacted else messages[index]


def _latest_turn(messages: Sequence[dict[str, Any]], live: list[int]) -> list[int]:
    for position in range(len(live) - 1, -1, -1):
        if messages[live[position]]["role"] == "assistant":
            return live[position:]
    return live[-1:]


def _turns(messages: Sequence[dict[str, Any]], live: list[int]) -> list[list[int]]:
    """Live indices grouped so that a tool result never loses the call it answers."""
    groups: list[list[int]] = []
    for index in live:
        if messages[index]["role"] == "tool" and groups:
            groups[-1].append(index)
        else:
            groups.append([index])
    return groups


def _drop_turns(
    messages: Sequence[dict[str, Any]],
    current: dict[int, dict[str, Any] | None],
    live: list[int],
    protected: set[int],
    edits: dict[int, dict[str, Any] | None],
    total: int,
    max_tokens: int,
) -> int:
    marker_index = next((i for i, m in current.items() if m is not None and _is_marker(m)), None)
    first = last = None
    if marker_index is not None:
        marker_now = current[marker_index]
        assert marker_now is not None
        first, last = marker_now["dropped"]
        total -= _tokens(marker_now)
    for group in _turns(messages, [i for i in live if i != marker_index]):
        if total <= max_tokens or set(group) & protected:
            break
        for index in group:
            message = edits.get(index) or current[index]
            assert message is not None
            total -= _tokens(message)
            edits[index] = None
            number = index + 1
            first = number if first is None else min(first, number)
            last = number if last is None else max(last, number)
        if marker_index is None:
            marker_index = group[0]
    if marker_index is None:
        return total
    # Turns are dropped oldest first, so what is gone is one range of messages.
    marker = {
        "role": "user",
        "content": (
            f"[Messages {first} to {last} of this conversation were removed to fit the context "
            "window. Call recall(message=N) to read one of them.]"
        ),
        "seq": messages[marker_index].get("seq", 0),
        "marker": True,
        "dropped": [first, last],
    }
    marker["tokens"] = message_tokens(marker)
    edits[marker_index] = marker
    return total + marker["tokens"]


def _is_marker(message: dict[str, Any]) -> bool:
    return bool(message.get("marker"))
