"""The ``openai`` provider: any OpenAI-compatible chat-completions endpoint.

OpenAI itself, Ollama, vLLM, llama.cpp server, LM Studio, OpenRouter … ``POST
{base_url}/chat/completions`` with ``stream: true``; the streamed deltas (text, and tool calls
by index) are assembled into one complete reply. A server that ignores ``stream`` and answers
with one JSON body is accepted too. Transport rules live in ``transport``.
"""

from __future__ import annotations

import json
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
    Usage,
)
from agentrun.core.errors import ModelError, ModelResponseError
from agentrun.models.base import (
    TextCallback,
    parse_tool_arguments,
    reply_usage,
)
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

DEFAULT_BASE_URL = "https://api.openai.com/v1"
BASE_URL_ENV = "OPENAI_BASE_URL"
API_KEY_ENV = "OPENAI_API_KEY"


class OpenAIModel:
    """A model behind an OpenAI-compatible endpoint; ``name`` is e.g. ``openai:gpt-4.1-mini``.

    Base URL: ``options.base_url``, else ``OPENAI_BASE_URL``, else OpenAI's. Key:
    ``options.api_key``, else ``OPENAI_API_KEY``, else none (local servers need none).
    """

    __slots__ = ("_endpoint", "base_url", "model", "name", "options")

    def __init__(self, model: str, options: ModelOptions | None = None) -> None:
        self.options = options or ModelOptions()
        self.model = model
        self.name = f"openai:{model}"
        self.base_url = check_base_url(
            self.options.base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL,
            BASE_URL_ENV,
        )
        api_key = check_api_key(self.options.api_key or os.environ.get(API_KEY_ENV), API_KEY_ENV)
        self._endpoint = Endpoint(
            provider="openai",
            url=f"{self.base_url}/chat/completions",
            model=model,
            key_env=API_KEY_ENV,
            base_env=BASE_URL_ENV,
            api_key=api_key,
            headers={"authorization": f"Bearer {api_key}"} if api_key else {},
        )

    def __repr__(self) -> str:
        return f"OpenAIModel(name={self.name!r}, base_url={self.base_url!r})"

    def complete(self, request: ModelRequest, *, on_text: TextCallback | None = None) -> ModelReply:
        """Request one turn, streamed; retried on transient failures (see ``transport``)."""
        started = time.monotonic()
        payload = build_payload(self.model, request, uses_max_completion_tokens=self._is_openai)

        def read(response: httpx.Response) -> _Turn:
            check_not_html(response, self._endpoint)
            if is_json(response):
                return _turn_from_completion(
                    read_json(response, self._endpoint), self._endpoint, on_text
                )
            return _turn_from_stream(response, self._endpoint, on_text)

        turn = post_with_retries(self._endpoint, payload, read, self.options)
        if turn.finish_reason == "length" and not turn.calls and request.purpose == "turn":
            # Half an answer is not the answer. With tool calls the loop tells the model
            # instead (a cut call's arguments are invalid); a summary's limit is its caller's.
            paid = turn.reply(request, self.model, started).usage
            raise _cut_off_error(request, usage=paid.to_dict())
        return turn.reply(request, self.model, started)

    @property
    def _is_openai(self) -> bool:
        return self.base_url.startswith(DEFAULT_BASE_URL)


def build_payload(
    model: str, request: ModelRequest, *, uses_max_completion_tokens: bool = False
) -> dict[str, Any]:
    """The chat-completions request body for ``request``."""
    payload: dict[str, Any] = {
        "model": model,
        "messages": to_wire_messages(request.messages),
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if request.tools:
        payload["tools"] = [to_wire_tool(tool) for tool in request.tools]
    if request.max_output_tokens is not None:
        # OpenAI deprecated max_tokens (its reasoning models refuse it); the compatible servers
        # all understand max_tokens, and not all of them max_completion_tokens yet.
        key = "max_completion_tokens" if uses_max_completion_tokens else "max_tokens"
        payload[key] = request.max_output_tokens
    return payload


def to_wire_messages(messages: Iterable[Message]) -> list[dict[str, Any]]:
    """Messages in the chat-completions format."""
    wire: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "tool":
            wire.append(
                {
                    "role": "tool",
                    "tool_call_id": message.tool_call_id or "",
                    "content": message.content,
                }
            )
        elif message.role == "assistant" and message.tool_calls:
            wire.append(
                {
                    "role": "assistant",
                    "content": message.content or None,
                    "tool_calls": [
                        {
                            "id": call.id,
                            "type": "function",
                            "function": {
                                "name": call.name,
                                "arguments": json.dumps(call.arguments, ensure_ascii=False),
                            },
                        }
                        for call in message.tool_calls
                    ],
                }
            )
        else:
            wire.append({"role": message.role, "content": message.content})
    return wire


def to_wire_tool(tool: ToolSpec) -> dict[str, Any]:
    """A tool in the chat-completions format."""
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters or {"type": "object", "properties": {}},
        },
    }


@dataclass(slots=True)
class _Turn:
    """A turn being assembled from deltas (or read whole), tool calls keyed by index."""

    text: list[str] = field(default_factory=list)
    calls: dict[int, dict[str, Any]] = field(default_factory=dict)
    usage: Usage | None = None
    model: str | None = None
    finish_reason: str | None = None
    has_choice: bool = False

    def add_chunk(self, chunk: dict[str, Any]) -> str:
        """Apply one streamed chunk; return its text delta."""
        self.model = chunk.get("model") or self.model
        if isinstance(chunk.get("usage"), dict):
            self.usage = _usage(chunk["usage"])
        text = ""
        for choice in chunk.get("choices") or ():
            self.has_choice = True
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if isinstance(content, str):
                text += content
            for position, call in enumerate(delta.get("tool_calls") or ()):
                self.add_call(call, position)
            if choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])
        if text:
            self.text.append(text)
        return text

    def add_completion(self, data: dict[str, Any]) -> str:
        """Apply a whole (non-streamed) completion; return its text."""
        if "choices" not in data:
            raise ValueError("no 'choices' in the response")
        self.model = data.get("model")
        if isinstance(data.get("usage"), dict):
            self.usage = _usage(data["usage"])
        if not data["choices"]:
            return ""
        self.has_choice = True
        choice = data["choices"][0]
        self.finish_reason = choice.get("finish_reason") or None
        message = choice.get("message") or {}
        content = message.get("content")
        if isinstance(content, str) and content:
            self.text.append(content)
        for position, call in enumerate(message.get("tool_calls") or ()):
            self.add_call({**call, "index": position}, position)
        return "".join(self.text)

    def add_call(self, delta: dict[str, Any], position: int) -> None:
        """Merge a tool-call delta into its slot: id and name once, arguments appended."""
        index = delta.get("index")
        if not isinstance(index, int):
            # Some servers omit the index and send each call whole: key them by id, then order.
            known = [i for i, slot in self.calls.items() if slot["id"] == delta.get("id")]
            index = known[0] if known else len(self.calls) if delta.get("id") else position
        slot = self.calls.setdefault(index, {"id": None, "name": "", "arguments": ""})
        if delta.get("id"):
            slot["id"] = delta["id"]
        function = delta.get("function") or {}
        name = function.get("name")
        if isinstance(name, str) and name != slot["name"]:
            # Names normally arrive whole in the first delta; some servers repeat them.
            slot["name"] += name
        arguments = function.get("arguments")
        if isinstance(arguments, dict):
            slot["arguments"] += json.dumps(arguments, ensure_ascii=False)
        elif isinstance(arguments, str):
            slot["arguments"] += arguments

    def reply(self, request: ModelRequest, model: str, started: float) -> ModelReply:
        """The complete reply; usage is estimated when the server reported none."""
        calls = tuple(
            ToolCall(
                id=slot["id"] or f"call_{request.turn}_{position}",
                name=slot["name"],
                arguments=parse_tool_arguments(slot["arguments"]),
            )
            for position, (_, slot) in enumerate(sorted(self.calls.items()))
        )
        message = Message(role="assistant", content="".join(self.text), tool_calls=calls)
        usage = self.usage or reply_usage(request, message)
        return ModelReply(
            message=message,
            usage=usage,
            model=f"openai:{self.model or model}",
            latency_s=time.monotonic() - started,
        )


def _turn_from_stream(
    response: httpx.Response, endpoint: Endpoint, on_text: TextCallback | None
) -> _Turn:
    turn = _Turn()
    is_done = False
    try:
        for event in iter_sse(response, endpoint):
            if event.data.strip() == "[DONE]":
                is_done = True
                break
            chunk = parse_json_object(event.data, endpoint)
            if chunk.get("error") is not None:  # some servers send "error": null
                raise _stream_error(chunk["error"], endpoint)
            try:
                text = turn.add_chunk(chunk)
            except (AttributeError, TypeError, ValueError) as exc:
                raise _shape_error(endpoint, exc) from None
            if text and on_text is not None:
                on_text(text)
            if turn.finish_reason and turn.usage is not None:
                # With include_usage the usage chunk follows the finish: nothing is left but
                # [DONE], which some servers never send or send after a long silence.
                break
    except BROKEN_BODY_ERRORS:
        # Stalled or cut after the finish: the turn is whole, only usage may be missing
        # (estimated); asking again would pay for the same turn twice.
        if not turn.finish_reason:
            raise
    if not (is_done or turn.finish_reason):
        raise TransientError("the stream was cut before the turn finished")
    if not turn.has_choice:
        raise no_turn_error(endpoint, "no choice in the stream")
    return turn


def _turn_from_completion(
    data: dict[str, Any], endpoint: Endpoint, on_text: TextCallback | None
) -> _Turn:
    if data.get("error") is not None:
        raise _stream_error(data["error"], endpoint)
    turn = _Turn()
    try:
        text = turn.add_completion(data)
    except (AttributeError, TypeError, ValueError, IndexError, KeyError) as exc:
        raise _shape_error(endpoint, exc) from None
    if not turn.has_choice:
        raise no_turn_error(endpoint, "no choice in the response")
    if text and on_text is not None:
        on_text(text)
    return turn


def _usage(data: dict[str, Any]) -> Usage:
    return Usage(
        input_tokens=int(data.get("prompt_tokens") or 0),
        output_tokens=int(data.get("completion_tokens") or 0),
    )


def _cut_off_error(request: ModelRequest, *, usage: dict[str, int]) -> ModelError:
    """The error for an answer that stopped at the output limit (``finish_reason: length``)."""
    if request.max_output_tokens:
        limit = f"at the {request.max_output_tokens} tokens asked for"
    else:
        limit = "agentrun asks for no limit and the agent spec has no setting for one"
    return ModelError(
        "the model's answer was cut off at its output limit before it finished (finish_reason "
        f'"length"; {limit}); ask for shorter answers in the agent\'s system prompt or the goal, '
        f"or raise the output limit of the server or model behind {BASE_URL_ENV}",
        usage=usage,
    )


def _shape_error(endpoint: Endpoint, exc: Exception) -> ModelResponseError:
    return ModelResponseError(
        endpoint.redact(
            f"the openai endpoint {endpoint.shown_url} sent a chat completion of an unexpected "
            f"shape ({exc}); check that it is OpenAI-compatible"
        )
    )


def _stream_error(error: Any, endpoint: Endpoint) -> Exception:
    """An error object in a 200 response: a bad request is final, anything else is retried."""
    if isinstance(error, dict):
        message = str(error.get("message") or error)
        kind = f"{error.get('type') or ''} {error.get('code') or ''}"
    else:
        message, kind = str(error), ""
    message = endpoint.redact(message)
    if "invalid_request" in kind:
        return ModelError(f"the openai endpoint refused the request: {message}")
    return TransientError(f"error in the response: {message}")
