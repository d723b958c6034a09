"""The ``anthropic`` provider: the Anthropic Messages API, streamed.

``POST {base_url}/v1/messages`` with ``stream: true``; the server-sent events (text and
``tool_use`` blocks, usage in ``message_start`` and ``message_delta``) are assembled into one
complete reply. A JSON body instead of a stream is accepted too. Transport rules live in
``transport``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from agentrun.core.conversation import (
    Message,
    ModelReply,
    ModelRequest,
    ToolCall,
    ToolSpec,
)
from agentrun.core.errors import ModelError, ModelResponseError
from agentrun.models.base import TextCallback, parse_tool_arguments, reply_usage
from agentrun.models.options import ModelOptions
from agentrun.models.transport import (
    BROKEN_BODY_ERRORS,
    Endpoint,
    TransientError,
    check_api_key,
    check_base_url,
    check_not_html,
    is_json,
    iter_sse,
    no_turn_error,
    parse_json_object,
    post_with_retries,
    read_json,
)

DEFAULT_BASE_URL = "https://api.anthropic.com"
BASE_URL_ENV = "ANTHROPIC_BASE_URL"
API_KEY_ENV = "ANTHROPIC_API_KEY"
API_VERSION = "2023-06-01"
# The Messages API requires max_tokens; this is used when the request sets none.
DEFAULT_MAX_TOKENS = 4096
# Error types the API documents as transient (it also sends them as HTTP 429/5xx/529).
_TRANSIENT_ERRORS = frozenset(
    {"overloaded_error", "api_error", "rate_limit_error", "timeout_error"}
)


class AnthropicModel:
    """A Claude model; ``name`` is e.g. ``anthropic:claude-sonnet-4-5``.

    Base URL: ``options.base_url``, else ``ANTHROPIC_BASE_URL``, else Anthropic's. Key:
    ``options.api_key``, else ``ANTHROPIC_API_KEY``.
    """

    __slots__ = ("_endpoint", "base_url", "model", "name", "options")

    def __init__(self, model: str, options: ModelOptions | None = None) -> None:
        self.options = options or ModelOptions()
        self.model = model
        self.name = f"anthropic:{model}"
        self.base_url = check_base_url(
            self.options.base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL,
            BASE_URL_ENV,
        )
        api_key = check_api_key(self.options.api_key or os.environ.get(API_KEY_ENV), API_KEY_ENV)
        headers = {"anthropic-version": API_VERSION}
        if api_key:
            headers["x-api-key"] = api_key
        self._endpoint = Endpoint(
            provider="anthropic",
            url=f"{self.base_url}/v1/messages",
            model=model,
            key_env=API_KEY_ENV,
            base_env=BASE_URL_ENV,
            api_key=api_key,
            headers=headers,
        )

    def __repr__(self) -> str:
        return f"AnthropicModel(name={self.name!r}, base_url={self.base_url!r})"

    def complete(self, request: ModelRequest, *, on_text: TextCallback | None = None) -> ModelReply:
        """Request one turn, streamed; retried on transient failures (see ``transport``)."""
        started = time.monotonic()
        payload = build_payload(self.model, request)

        def read(response: httpx.Response) -> _Turn:
            check_not_html(response, self._endpoint)
            if is_json(response):
                return _turn_from_message(
                    read_json(response, self._endpoint), self._endpoint, on_text
                )
            return _turn_from_stream(response, self._endpoint, on_text)

        turn = post_with_retries(self._endpoint, payload, read, self.options)
        if turn.stop_reason == "max_tokens" and not turn.has_tool_use and request.purpose == "turn":
            # Half an answer is not the answer. With tool calls the loop tells the model
            # instead (a cut call's arguments are invalid); a summary's limit is its caller's.
            paid = turn.reply(request, self.model, started).usage
            raise _cut_off_error(request, usage=paid.to_dict())
        return turn.reply(request, self.model, started)


def build_payload(model: str, request: ModelRequest) -> dict[str, Any]:
    """The Messages API request body for ``request``."""
    system, messages = to_wire_messages(request.messages)
    payload: dict[str, Any] = {
        "model": model,
        "max_tokens": request.max_output_tokens or DEFAULT_MAX_TOKENS,
        "messages": messages,
        "stream": True,
    }
    if system:
        payload["system"] = system
    if request.tools:
        payload["tools"] = [to_wire_tool(tool) for tool in request.tools]
    return payload


def to_wire_messages(messages: Iterable[Message]) -> tuple[str, list[dict[str, Any]]]:
    """The ``system`` text and the messages in the Messages API format.

    System messages are joined into ``system``; tool results become ``tool_result`` blocks of a
    user message; consecutive messages of one role are merged, as the API wants them
    alternating; empty text is left out, as the API refuses empty text blocks.
    """
    system: list[str] = []
    wire: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return
        if wire and wire[-1]["role"] == role:
            wire[-1]["content"].extend(blocks)
        else:
            wire.append({"role": role, "content": blocks})

    for message in messages:
        text = [{"type": "text", "text": message.content}] if message.content else []
        if message.role == "system":
            if message.content:
                system.append(message.content)
        elif message.role == "assistant":
            calls = [
                {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
                for call in message.tool_calls
            ]
            add("assistant", text + calls)
        elif message.role == "tool":
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.tool_call_id}
            if message.content:
                result["content"] = message.content
            add("user", [result])
        else:
            add("user", text)
    return "\n\n".join(system), wire


def to_wire_tool(tool: ToolSpec) -> dict[str, Any]:
    """A tool in the Messages API format."""
    return {
        "name": tool.name,
        "description": tool.description,
        "input_schema": tool.parameters or {"type": "object", "properties": {}},
    }


@dataclass(slots=True)
class _Block:
    """A content block being assembled: text, or a tool call and its input JSON so far."""

    kind: str
    text: str = ""
    call_id: str = ""
    name: str = ""
    input_json: str = ""
    input: dict[str, Any] | None = None


@dataclass(slots=True)
class _Turn:
    """A turn being assembled from events (or read whole), blocks keyed by index."""

    blocks: dict[int, _Block] = field(default_factory=dict)
    input_tokens: int | None = None
    output_tokens: int | None = None
    model: str | None = None
    is_complete: bool = False
    has_message: bool = False
    stop_reason: str | None = None

    def add_event(self, data: dict[str, Any]) -> str:
        """Apply one streamed event; return its text delta."""
        kind = data.get("type")
        if kind == "message_start":
            message = data["message"]
            self.has_message = True
            self.model = message.get("model") or self.model
            self.add_usage(message.get("usage"))
        elif kind == "content_block_start":
            return self.start_block(int(data["index"]), data["content_block"])
        elif kind == "content_block_delta":
            block = self.blocks.setdefault(int(data["index"]), _Block(kind="text"))
            delta = data["delta"]
            if delta.get("type") == "text_delta":
                block.text += delta["text"]
                return str(delta["text"])
            if delta.get("type") == "input_json_delta":
                block.input_json += delta["partial_json"]
        elif kind == "message_delta":
            self.add_usage(data.get("usage"))
            stop_reason = (data.get("delta") or {}).get("stop_reason")
            if stop_reason:
                # A stream that ends after the stop reason lost nothing but message_stop.
                self.stop_reason = str(stop_reason)
                self.is_complete = True
        elif kind == "message_stop":
            self.is_complete = True
        return ""

    def add_message(self, data: dict[str, Any]) -> str:
        """Apply a whole (non-streamed) message; return its text."""
        if not isinstance(data.get("content"), list):
            raise ValueError("no 'content' list in the message")
        self.model = data.get("model")
        self.stop_reason = data.get("stop_reason") or None
        self.add_usage(data.get("usage"))
        text = ""
        for index, block in enumerate(data["content"]):
            text += self.start_block(index, block)
        return text

    def start_block(self, index: int, block: dict[str, Any]) -> str:
        kind = block.get("type")
        if kind == "tool_use":
            given = block.get("input")
            self.blocks[index] = _Block(
                kind="tool_use",
                call_id=str(block.get("id") or ""),
                name=str(block.get("name") or ""),
                input=given if isinstance(given, dict) and given else None,
            )
            return ""
        text = str(block.get("text") or "") if kind == "text" else ""
        self.blocks[index] = _Block(kind=str(kind), text=text)
        return text

    def add_usage(self, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        # Prompt-cache reads and writes are input too; budgets must see all of it.
        parts = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        if any(isinstance(usage.get(part), int) for part in parts):
            self.input_tokens = sum(int(usage.get(part) or 0) for part in parts)
        if isinstance(usage.get("output_tokens"), int):
            # Cumulative in message_delta: the last value is the total, not an increment.
            self.output_tokens = usage["output_tokens"]

    @property
    def has_tool_use(self) -> bool:
        """Whether the turn calls a tool."""
        return any(block.kind == "tool_use" for block in self.blocks.values())

    def reply(self, request: ModelRequest, model: str, started: float) -> ModelReply:
        """The complete reply; usage is estimated where the server reported none."""
        ordered = [self.blocks[index] for index in sorted(self.blocks)]
        calls = tuple(
            ToolCall(
                id=block.call_id or f"call_{request.turn}_{position}",
                name=block.name,
                arguments=(
                    parse_tool_arguments(block.input_json)
                    if block.input_json or block.input is None
                    else block.input
                ),
            )
            for position, block in enumerate(b for b in ordered if b.kind == "tool_use")
        )
        text = "".join(block.text for block in ordered if block.kind == "text")
        message = Message(role="assistant", content=text, tool_calls=calls)
        usage = reply_usage(request, message, self.input_tokens, self.output_tokens)
        return ModelReply(
            message=message,
            usage=usage,
            model=f"anthropic:{self.model or model}",
            latency_s=time.monotonic() - started,
        )


def _turn_from_stream(
    response: httpx.Response, endpoint: Endpoint, on_text: TextCallback | None
) -> _Turn:
    turn = _Turn()
    try:
        for event in iter_sse(response, endpoint):
            data = parse_json_object(event.data, endpoint)
            if data.get("type") == "error" or event.event == "error":
                raise _error_event(data.get("error"), endpoint)
            try:
                text = turn.add_event(data)
            except (AttributeError, TypeError, ValueError, KeyError) as exc:
                raise _shape_error(endpoint, exc) from None
            if text and on_text is not None:
                on_text(text)
            if data.get("type") == "message_stop":
                break
    except BROKEN_BODY_ERRORS:
        # Stalled or cut after the stop reason: only message_stop is missing, the turn is
        # whole; asking again would pay for the same turn twice.
        if not turn.is_complete:
            raise
    if not turn.is_complete:
        raise TransientError("the stream was cut before the turn finished")
    if not turn.has_message:
        raise no_turn_error(endpoint, "no message_start in the stream")
    return turn


def _turn_from_message(
    data: dict[str, Any], endpoint: Endpoint, on_text: TextCallback | None
) -> _Turn:
    if data.get("type") == "error":
        raise _error_event(data.get("error"), endpoint)
    turn = _Turn()
    try:
        text = turn.add_message(data)
    except (AttributeError, TypeError, ValueError, KeyError) as exc:
        raise _shape_error(endpoint, exc) from None
    if text and on_text is not None:
        on_text(text)
    return turn


def _cut_off_error(request: ModelRequest, *, usage: dict[str, int]) -> ModelError:
    """The error for an answer that stopped at the output limit (``stop_reason: max_tokens``)."""
    limit = request.max_output_tokens or DEFAULT_MAX_TOKENS
    return ModelError(
        "the model's answer was cut off at its output limit before it finished (stop_reason "
        f'"max_tokens", at the {limit} tokens agentrun asks for; the agent spec has no setting '
        "to raise it); ask for shorter answers in the agent's system prompt or the goal",
        usage=usage,
    )


def _shape_error(endpoint: Endpoint, exc: Exception) -> ModelResponseError:
    return ModelResponseError(
        endpoint.redact(
            f"the anthropic endpoint {endpoint.shown_url} sent a message of an unexpected shape "
            f"({type(exc).__name__}: {exc}); check {endpoint.base_env}"
        )
    )


def _error_event(error: Any, endpoint: Endpoint) -> Exception:
    """An ``error`` event: overloaded and server errors are retried, the rest are final."""
    error = error if isinstance(error, dict) else {}
    kind = str(error.get("type") or "")
    message = endpoint.redact(str(error.get("message") or kind or "unknown error"))
    if not kind or kind in _TRANSIENT_ERRORS:
        return TransientError(f"error event in the stream: {message}")
    return ModelError(f"the anthropic endpoint refused the request ({kind}: {message})")
