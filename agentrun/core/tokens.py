"""A fast, documented token estimate: about 4 characters per token.

Used where a provider reports no usage, for per-message accounting in the state, and by context
compaction to keep a prompt under ``[context] max_tokens``. It is deliberately simple and the
same everywhere, so a prompt's estimate is reproducible from the log alone. No I/O here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD = 4  # role and framing, as chat formats add a few tokens per message
# ``json.dumps(value, ensure_ascii=False)`` builds an encoder per call; the fold estimates every
# message it appends, so one encoder is kept (the same text).
_JSON = json.JSONEncoder(ensure_ascii=False)


def estimate_tokens(text: str) -> int:
    """Estimate the tokens of ``text`` (0 for empty text)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def message_tokens(message: Mapping[str, Any]) -> int:
    """Estimate one message (a ``Message.to_dict()`` map): text, tool calls, overhead."""
    total = MESSAGE_OVERHEAD + estimate_tokens(message.get("content") or "")
    for call in message.get("tool_calls") or ():
        total += estimate_tokens(call.get("name", ""))
        total += estimate_tokens(_JSON.encode(call.get("arguments") or {}))
    return total


def messages_tokens(messages: Iterable[Mapping[str, Any]]) -> int:
    """Estimate several messages."""
    return sum(message_tokens(m) for m in messages)


def tools_tokens(tool_specs: Iterable[Mapping[str, Any]]) -> int:
    """Estimate the tool definitions sent with every request."""
    return sum(estimate_tokens(json.dumps(spec, ensure_ascii=False)) for spec in tool_specs)
