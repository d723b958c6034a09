"""The ``Model`` interface every provider implements, and the small pure helpers they share:
a rough token estimate and the parsing of tool-call arguments.

No I/O here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, Protocol, runtime_checkable

from agentrun.core.conversation import (
    INVALID_ARGUMENTS_KEY,
    Message,
    ModelReply,
    ModelRequest,
    Usage,
)
from agentrun.core.tokens import CHARS_PER_TOKEN, estimate_tokens, messages_tokens

# Callback for live progress: receives each streamed text delta as it arrives.
TextCallback = Callable[[str], None]


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


def reply_usage(
    request: ModelRequest,
    message: Message,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
) -> Usage:
    """The usage of a reply: what the provider reported, estimated where it reported nothing."""
    return Usage(
        input_tokens if input_tokens is not None else estimate_message_tokens(request.messages),
        output_tokens if output_tokens is not None else estimate_message_tokens([message]),
    )


def estimate_message_tokens(messages: Iterable[Message]) -> int:
    """Estimate the tokens of messages with the one estimator of ``agentrun.core.tokens``."""
    return messages_tokens(m.to_dict() for m in messages)


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


__all__ = [
    "CHARS_PER_TOKEN",
    "Model",
    "TextCallback",
    "estimate_message_tokens",
    "estimate_tokens",
    "reply_usage",
]
