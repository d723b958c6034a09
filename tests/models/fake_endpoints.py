"""Fake model endpoints for tests: a real HTTP server on 127.0.0.1 that plays canned behaviours.

``FakeEndpoint`` serves each request with the next queued ``Behaviour`` (or its default) and
records every request it receives. Behaviours cover what model servers do to clients: answer
JSON, stream server-sent events (fast, slow, cut mid-way, stalled), fail with a status, hang,
drop the connection, send a body with no framing (no length, no chunks: it ends when the
connection closes, so a cut looks like a clean end). ``openai_*`` and ``anthropic_*`` build the
two wire formats. Only the loopback interface is ever bound.

    with FakeEndpoint() as server:
        server.push(error(429, headers={"Retry-After": "1"}), openai_stream(text="hi"))
        model = OpenAIModel("m", ModelOptions(base_url=server.url + "/v1", ...))
"""

from __future__ import annotations

import collections
import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# An SSE event to send: a dict (sent as ``data: <json>``), an (event name, dict) pair, or a
# raw string sent as is (for malformed streams and the ``[DONE]`` marker, give the full text).
SseItem = Mapping[str, Any] | tuple[str, Mapping[str, Any]] | str

# How long a hanging behaviour waits at most if the server is never stopped.
_HANG_LIMIT_S = 60.0


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request the fake endpoint received; header names are lower-case."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Exchange:
    """What a behaviour uses to answer one request."""

    def __init__(self, handler: BaseHTTPRequestHandler, stopped: threading.Event) -> None:
        self._handler = handler
        self.stopped = stopped

    def respond(
        self,
        status: int,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        *,
        framed: bool = True,
    ) -> None:
        """A complete response with a Content-Length; ``framed=False`` sends none, and the body
        ends when the connection closes."""
        handler = self._handler
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        if framed:
            handler.send_header("Content-Length", str(len(body)))
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(body)
        handler.wfile.flush()
        if not framed:
            self.drop()

    def start_unframed(self, status: int, headers: Mapping[str, str]) -> None:
        """Response headers for a body sent with ``send_raw`` and ended by ``drop``."""
        handler = self._handler
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.flush()

    def send_raw(self, data: bytes) -> None:
        self._handler.wfile.write(data)
        self._handler.wfile.flush()

    def start_chunked(self, status: int, headers: Mapping[str, str]) -> None:
        """Response headers for a body sent in chunks with ``send_chunk``."""
        handler = self._handler
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.flush()

    def send_chunk(self, data: bytes) -> None:
        if data:
            self._handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self._handler.wfile.flush()

    def end_chunked(self) -> None:
        self._handler.wfile.write(b"0\r\n\r\n")
        self._handler.wfile.flush()

    def drop(self) -> None:
        """Close the connection now, mid-response if one was started."""
        self._handler.close_connection = True
        with contextlib.suppress(OSError):
            self._handler.wfile.flush()
            self._handler.connection.shutdown(socket.SHUT_RDWR)


Behaviour = Callable[[Exchange], None]


class FakeEndpoint:
    """A threaded HTTP server on 127.0.0.1 (a free port) playing queued behaviours.

    ``push`` queues behaviours, one per request, in order; when the queue is empty the
    ``default`` behaviour answers, or a 418 saying nothing was queued (a 4xx, so a client fails
    at once instead of retrying). ``requests`` lists what was received, in order.
    """

    def __init__(self, default: Behaviour | None = None) -> None:
        self.default = default
        self._queue: collections.deque[Behaviour] = collections.deque()
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self._requests)

    def push(self, *behaviours: Behaviour) -> None:
        with self._lock:
            self._queue.extend(behaviours)

    def start(self) -> FakeEndpoint:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeEndpoint:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _next(self, request: RecordedRequest) -> Behaviour:
        with self._lock:
            self._requests.append(request)
            if self._queue:
                return self._queue.popleft()
            number = len(self._requests)
        if self.default is not None:
            return self.default
        return error(418, f"fake endpoint: no behaviour queued for request {number}")

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self._serve()

            def do_GET(self) -> None:
                self._serve()

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = RecordedRequest(
                    method=self.command,
                    path=self.path,
                    headers={name.lower(): value for name, value in self.headers.items()},
                    body=body,
                )
                behaviour = endpoint._next(request)
                # The client may have given up (an idle timeout): nothing left to answer.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    behaviour(Exchange(self, endpoint._stopped))
                self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@dataclass(slots=True)
class RecordingSleep:
    """A ``sleep`` that records the requested delays and returns at once."""

    calls: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


# Generic behaviours.


def json_body(
    data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> Behaviour:
    """Answer with ``data`` as a JSON body."""
    return raw_body(json.dumps(data).encode(), status=status, headers=headers)


def raw_body(
    body: bytes,
    *,
    status: int = 200,
    content_type: str = "application/json",
    headers: Mapping[str, str] | None = None,
    framed: bool = True,
) -> Behaviour:
    """Answer with ``body`` as it is (for malformed responses).

    ``framed=False`` sends no Content-Length and closes the connection after ``body``: what a
    client receives when such a body is cut short.
    """

    def behave(exchange: Exchange) -> None:
        headers_sent = {"Content-Type": content_type, **(headers or {})}
        exchange.respond(status, body, headers_sent, framed=framed)

    return behave


def error(
    status: int,
    message: str = "error",
    *,
    kind: str = "api_error",
    headers: Mapping[str, str] | None = None,
) -> Behaviour:
    """Answer ``status`` with an OpenAI/Anthropic-style ``{"error": {...}}`` body."""
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return json_body(body, status=status, headers=headers)


def sse(
    events: Iterable[SseItem],
    *,
    interval_s: float = 0.0,
    cut: bool = False,
    stall: bool = False,
    framed: bool = True,
    headers: Mapping[str, str] | None = None,
) -> Behaviour:
    """Stream ``events`` as server-sent events, ``interval_s`` apart.

    ``cut`` drops the connection after the last event without ending the chunked body, as a
    dying connection would. ``stall`` keeps the connection open and silent after the last event
    (until the server stops). ``framed=False`` sends the body without chunks, ended by closing
    the connection, as some proxies stream: there a cut cannot be told from an end.
    """
    items = list(events)

    def behave(exchange: Exchange) -> None:
        headers_sent = {"Content-Type": "text/event-stream", **(headers or {})}
        if framed:
            exchange.start_chunked(200, headers_sent)
        else:
            exchange.start_unframed(200, headers_sent)
        for number, item in enumerate(items):
            if number and interval_s:
                time.sleep(interval_s)
            if framed:
                exchange.send_chunk(encode_sse(item))
            else:
                exchange.send_raw(encode_sse(item))
        if stall:
            exchange.stopped.wait(_HANG_LIMIT_S)
        elif cut or not framed:
            exchange.drop()
        else:
            exchange.end_chunked()

    return behave


def hang() -> Behaviour:
    """Accept the request and never answer (until the server stops)."""

    def behave(exchange: Exchange) -> None:
        exchange.stopped.wait(_HANG_LIMIT_S)

    return behave


def disconnect() -> Behaviour:
    """Close the connection without answering."""
    return lambda exchange: exchange.drop()


def encode_sse(item: SseItem) -> bytes:
    """One SSE event as bytes."""
    if isinstance(item, str):
        return item.encode()
    if isinstance(item, tuple):
        name, data = item
        return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
    return f"data: {json.dumps(item)}\n\n".encode()


def split(text: str, parts: int) -> list[str]:
    """``text`` cut into about ``parts`` consecutive pieces (to stream it in deltas)."""
    if not text:
        return []
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)]


# OpenAI chat completions.

ToolCallSpec = tuple[str, str]  # (tool name, arguments as raw JSON text)


def openai_events(
    text: str = "",
    tool_calls: Sequence[ToolCallSpec] = (),
    *,
    model: str = "fake-model",
    usage: tuple[int, int] | None = (11, 7),
    pieces: int = 3,
    done: bool = True,
    finish: bool = True,
    finish_reason: str | None = None,
) -> list[SseItem]:
    """The chunks of a streamed chat completion: text deltas, tool-call deltas by index.

    ``finish_reason`` replaces the usual one ("tool_calls" or "stop"), e.g. with "length".
    """

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        return {"object": "chat.completion.chunk", "model": model, "choices": [choice]}

    def call_delta(index: int, **fields: Any) -> dict[str, Any]:
        return chunk({"tool_calls": [{"index": index, **fields}]})

    events: list[SseItem] = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": piece}) for piece in split(text, pieces)]
    for index, (name, arguments) in enumerate(tool_calls):
        head = {"name": name, "arguments": ""}
        events.append(call_delta(index, id=f"call_fake_{index}", type="function", function=head))
        events += [call_delta(index, function={"arguments": p}) for p in split(arguments, pieces)]
    if finish:
        events.append(chunk({}, finish_reason or ("tool_calls" if tool_calls else "stop")))
    if usage is not None:
        counts = {"prompt_tokens": usage[0], "completion_tokens": usage[1]}
        events.append({"model": model, "choices": [], "usage": counts})
    if done:
        events.append("data: [DONE]\n\n")
    return events


def openai_stream(
    text: str = "",
    tool_calls: Sequence[ToolCallSpec] = (),
    *,
    interval_s: float = 0.0,
    **kwargs: Any,
) -> Behaviour:
    """Stream a chat completion (see ``openai_events``)."""
    return sse(openai_events(text, tool_calls, **kwargs), interval_s=interval_s)


def openai_completion(
    text: str = "",
    tool_calls: Sequence[ToolCallSpec] = (),
    *,
    model: str = "fake-model",
    usage: tuple[int, int] = (11, 7),
    finish_reason: str = "stop",
) -> Behaviour:
    """A whole, non-streamed chat completion, as a server that ignores ``stream`` sends."""
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if tool_calls:
        message["tool_calls"] = [
            {"id": f"call_fake_{i}", "type": "function", "function": {"name": n, "arguments": a}}
            for i, (n, a) in enumerate(tool_calls)
        ]
    return json_body(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1]},
        }
    )


# Anthropic Messages.


def anthropic_events(
    text: str = "",
    tool_calls: Sequence[ToolCallSpec] = (),
    *,
    model: str = "claude-fake",
    usage: tuple[int, int] = (13, 9),
    pieces: int = 3,
    stop: bool = True,
    stop_reason: str | None = None,
) -> list[SseItem]:
    """The events of a streamed Messages response: a text block, then one block per tool call.

    ``stop_reason`` replaces the usual one ("tool_use" or "end_turn"), e.g. with "max_tokens".
    """
    start = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": model,
        "stop_reason": None,
        "usage": {"input_tokens": usage[0], "output_tokens": 1},
    }
    events = [_event("message_start", message=start), _event("ping")]
    blocks: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    if text:
        deltas = [{"type": "text_delta", "text": piece} for piece in split(text, pieces)]
        blocks.append(({"type": "text", "text": ""}, deltas))
    for number, (name, arguments) in enumerate(tool_calls):
        block = {"type": "tool_use", "id": f"toolu_{number}", "name": name, "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in split(arguments, pieces)]
        blocks.append((block, deltas))
    for index, (block, deltas) in enumerate(blocks):
        events.append(_event("content_block_start", index=index, content_block=block))
        events += [_event("content_block_delta", index=index, delta=delta) for delta in deltas]
        events.append(_event("content_block_stop", index=index))
    if stop:
        reason = stop_reason or ("tool_use" if tool_calls else "end_turn")
        delta = {"stop_reason": reason, "stop_sequence": None}
        events.append(_event("message_delta", delta=delta, usage={"output_tokens": usage[1]}))
        events.append(_event("message_stop"))
    return events


def anthropic_stream(
    text: str = "",
    tool_calls: Sequence[ToolCallSpec] = (),
    *,
    interval_s: float = 0.0,
    **kwargs: Any,
) -> Behaviour:
    """Stream a Messages response (see ``anthropic_events``)."""
    return sse(anthropic_events(text, tool_calls, **kwargs), interval_s=interval_s)


def anthropic_message(
    text: str = "",
    tool_calls: Sequence[tuple[str, dict[str, Any]]] = (),
    *,
    model: str = "claude-fake",
    usage: tuple[int, int] = (13, 9),
    stop_reason: str | None = None,
) -> Behaviour:
    """A whole, non-streamed Messages response."""
    content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    content += [
        {"type": "tool_use", "id": f"toolu_{i}", "name": name, "input": arguments}
        for i, (name, arguments) in enumerate(tool_calls)
    ]
    return json_body(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop_reason or ("tool_use" if tool_calls else "end_turn"),
            "usage": {"input_tokens": usage[0], "output_tokens": usage[1]},
        }
    )


def anthropic_error_event(kind: str, message: str) -> SseItem:
    """An ``error`` event, as sent mid-stream."""
    return _event("error", error={"type": kind, "message": message})


def _event(kind: str, **fields: Any) -> tuple[str, dict[str, Any]]:
    return (kind, {"type": kind, **fields})
