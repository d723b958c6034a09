"""The ``Model`` interface every provider implements, and the small pure helpers they share:
a rough token estimate and the parsing of tool-call arguments.

No I/O here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from typing import Any, Protocol, runtime_checkable

from agentrun.core.conversation import INVALID_ARGUMENTS_KEY, Message, ModelReply, ModelRequest

# Callback for live progress: receives each streamed text delta as it arrives.
TextCallback = Callable[[str], None]

# English prose and code average about four characters per token with the common BPE
# tokenizers; good enough for budgets when a provider reports no usage, never for billing.
CHARS_PER_TOKEN = 4


@runtime_checkable
class Model(Protocol):
    """A chat model that answers one turn at a time.

    ``name`` is the spec it was resolved from, e.g. ``openai:gpt-4.1-mini``.
    """

    name: str

    def complete(self, request: ModelRequest, *, on_text: TextCallback | None = None) -> ModelReply:
        """Answer one turn with a complete assistant message.

        ``on_text`` receives text deltas as they stream in; if a stream is cut and the request
        retried, the deltas of the new attempt start again from the beginning. Raises
        ``ModelError`` or one of its subclasses.
        """
        ...


def estimate_tokens(text: str) -> int:
    """Estimate the tokens of ``text`` at ~4 characters per token (0 for empty text)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def estimate_message_tokens(messages: Iterable[Message]) -> int:
    """Estimate the tokens of messages: their text plus their tool calls' names and arguments."""
    total = 0
    for message in messages:
        total += estimate_tokens(message.content)
        for call in message.tool_calls:
            total += estimate_tokens(call.name) + estimate_tokens(
                json.dumps(call.arguments, ensure_ascii=False)
            )
    return total


def parse_tool_arguments(raw: str) -> dict[str, Any]:
    """The JSON object a model sent as tool-call arguments.

    Empty text is ``{}``. Text that is not a JSON object comes back as
    ``{INVALID_ARGUMENTS_KEY: raw}`` so the loop can tell the model its call was malformed
    instead of failing the task.
    """
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {INVALID_ARGUMENTS_KEY: raw}
    return value if isinstance(value, dict) else {INVALID_ARGUMENTS_KEY: raw}
