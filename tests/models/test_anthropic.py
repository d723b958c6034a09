"""The anthropic provider against a real HTTP server on 127.0.0.1 speaking the Messages API."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from agentrun.core.conversation import (
    INVALID_ARGUMENTS_KEY,
    Message,
    ModelRequest,
    ToolCall,
    ToolSpec,
    Usage,
)
from agentrun.core.errors import (
    ModelAuthError,
    ModelError,
    ModelNotFoundError,
    ModelResponseError,
    ModelUnavailableError,
)
from agentrun.models.anthropic import AnthropicModel
from agentrun.models.options import ModelOptions

from .fake_endpoints import (
    FakeEndpoint,
    RecordingSleep,
    anthropic_error_event,
    anthropic_events,
    anthropic_message,
    anthropic_stream,
    encode_sse,
    error,
    hang,
    raw_body,
    sse,
)

KEY = "sk-ant-test-secret-0123456789abcdef"
READ_FILE = ToolSpec(
    name="read_file",
    description="Read a file.",
    parameters={"type": "object", "properties": {"path": {"type": "string"}}},
)
REQUEST = ModelRequest(messages=(Message("system", "Be brief."), Message("user", "Hi")))


def make_model(server: FakeEndpoint, sleep: RecordingSleep, **overrides: Any) -> AnthropicModel:
    settings: dict[str, Any] = {
        "base_url": server.url,
        "api_key": KEY,
        "connect_timeout_s": 2.0,
        "idle_timeout_s": 5.0,
        "max_retries": 2,
        "sleep": sleep,
    }
    return AnthropicModel("claude-test", ModelOptions(**{**settings, **overrides}))


def test_streamed_tool_calls_are_assembled(server: FakeEndpoint, sleep: RecordingSleep) -> None:
    server.push(
        anthropic_stream(
            "Reading both.",
            [("read_file", '{"path": "a.txt"}'), ("read_file", '{"path": "b/c.txt"}')],
        )
    )
    deltas: list[str] = []

    reply = make_model(server, sleep).complete(REQUEST, on_text=deltas.append)

    assert reply.message == Message(
        role="assistant",
        content="Reading both.",
        tool_calls=(
            ToolCall("toolu_0", "read_file", {"path": "a.txt"}),
            ToolCall("toolu_1", "read_file", {"path": "b/c.txt"}),
        ),
    )
    assert "".join(deltas) == "Reading both." and len(deltas) > 1
    assert reply.usage == Usage(input_tokens=13, output_tokens=9)
    assert reply.model == "anthropic:claude-fake"
    assert server.request_count == 1


def test_request_is_sent_in_the_messages_format(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    server.push(anthropic_stream("ok"))
    history = ModelRequest(
        messages=(
            Message("system", "Be brief."),
            Message("user", "Read a.txt and b.txt"),
            Message(
                "assistant",
                "Reading.",
                (
                    ToolCall("toolu_a", "read_file", {"path": "a.txt"}),
                    ToolCall("toolu_b", "read_file", {"path": "b.txt"}),
                ),
            ),
            Message("tool", "A", tool_call_id="toolu_a", name="read_file"),
            Message("tool", "", tool_call_id="toolu_b", name="read_file"),
        ),
        tools=(READ_FILE,),
        turn=1,
    )

    make_model(server, sleep).complete(history)

    [request] = server.requests
    assert (request.method, request.path) == ("POST", "/v1/messages")
    assert request.headers["x-api-key"] == KEY
    assert request.headers["anthropic-version"] == "2023-06-01"
    body = request.json()
    assert body["model"] == "claude-test"
    assert body["stream"] is True
    assert body["max_tokens"] == 4096
    assert body["system"] == "Be brief."
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Read a.txt and b.txt"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Reading."},
                {
                    "type": "tool_use",
                    "id": "toolu_a",
                    "name": "read_file",
                    "input": {"path": "a.txt"},
                },
                {
                    "type": "tool_use",
                    "id": "toolu_b",
                    "name": "read_file",
                    "input": {"path": "b.txt"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_a", "content": "A"},
                {"type": "tool_result", "tool_use_id": "toolu_b"},
            ],
        },
    ]
    assert body["tools"] == [
        {"name": "read_file", "description": "Read a file.", "input_schema": READ_FILE.parameters}
    ]


def test_max_output_tokens_sets_max_tokens(server: FakeEndpoint, sleep: RecordingSleep) -> None:
    server.push(anthropic_stream("ok"))

    make_model(server, sleep).complete(
        ModelRequest(messages=REQUEST.messages, max_output_tokens=100)
    )

    assert server.requests[0].json()["max_tokens"] == 100


def test_plain_text_turn(server: FakeEndpoint, sleep: RecordingSleep) -> None:
    server.push(anthropic_stream("The answer is 42."))

    reply = make_model(server, sleep).complete(REQUEST)

    assert reply.message == Message("assistant", "The answer is 42.")


def test_non_streamed_json_response_is_accepted(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    server.push(anthropic_message("Sure.", [("read_file", {"path": "x"})]))

    reply = make_model(server, sleep).complete(REQUEST)

    assert reply.message.content == "Sure."
    assert reply.message.tool_calls == (ToolCall("toolu_0", "read_file", {"path": "x"}),)
    assert reply.usage == Usage(13, 9)


def test_invalid_tool_arguments_are_kept_for_the_loop(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    server.push(anthropic_stream(tool_calls=[("read_file", '{"path": "a.t')]))

    reply = make_model(server, sleep).complete(REQUEST)

    assert reply.message.tool_calls[0].arguments == {INVALID_ARGUMENTS_KEY: '{"path": "a.t'}


def test_tool_call_without_input_has_no_arguments(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    server.push(anthropic_stream(tool_calls=[("list_tasks", "")]))

    reply = make_model(server, sleep).complete(REQUEST)

    assert reply.message.tool_calls == (ToolCall("toolu_0", "list_tasks", {}),)


def test_prompt_cache_tokens_count_as_input(server: FakeEndpoint, sleep: RecordingSleep) -> None:
    events = anthropic_events("hi")
    events[0][1]["message"]["usage"].update(  # type: ignore[index]
        cache_creation_input_tokens=100, cache_read_input_tokens=1000
    )
    server.push(sse(events))

    reply = make_model(server, sleep).complete(REQUEST)

    assert reply.usage == Usage(input_tokens=1113, output_tokens=9)


@pytest.mark.parametrize(
    "answer",
    [
        anthropic_stream("The first half of a long ans", stop_reason="max_tokens"),
        anthropic_message("The first half of a long ans", stop_reason="max_tokens"),
    ],
    ids=["streamed", "json"],
)
def test_an_answer_cut_off_at_the_output_limit_is_an_error_not_a_success(
    server: FakeEndpoint, sleep: RecordingSleep, answer: Any
) -> None:
    server.push(answer)

    with pytest.raises(
        ModelError, match="cut off at its output limit before it finished"
    ) as caught:
        make_model(server, sleep).complete(REQUEST)

    assert type(caught.value) is ModelError  # exit 1, not retried; the run can be resumed
    assert "shorter answers" in str(caught.value) and "4096" in str(caught.value)
    assert server.request_count == 1
    assert caught.value.usage == {"input_tokens": 13, "output_tokens": 9}  # paid all the same


def test_tool_calls_cut_off_at_the_output_limit_reach_the_loop_as_invalid_arguments(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    server.push(
        anthropic_stream(tool_calls=[("read_file", '{"path": "a.t')], stop_reason="max_tokens")
    )

    reply = make_model(server, sleep).complete(REQUEST)

    assert reply.message.tool_calls[0].arguments == {INVALID_ARGUMENTS_KEY: '{"path": "a.t'}


def test_a_summary_cut_off_at_the_limit_it_asked_for_is_kept(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    # The caller chose the limit and shortens the summary itself if needed.
    server.push(anthropic_stream("Facts: a, b and", stop_reason="max_tokens"))
    summary = ModelRequest(messages=REQUEST.messages, max_output_tokens=100, purpose="summary")

    assert make_model(server, sleep).complete(summary).message.content == "Facts: a, b and"


def test_429_waits_for_retry_after_then_succeeds(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    server.push(
        error(429, "rate limited", kind="rate_limit_error", headers={"Retry-After": "1"}),
        anthropic_stream("ok"),
    )

    reply = make_model(server, sleep).complete(REQUEST)

    assert reply.message.content == "ok"
    assert sleep.calls == [1.0]
    assert server.request_count == 2


@pytest.mark.parametrize("status", [500, 529])
def test_server_errors_are_retried(
    server: FakeEndpoint, sleep: RecordingSleep, status: int
) -> None:
    server.push(error(status, "Overloaded", kind="overloaded_error"), anthropic_stream("ok"))

    assert make_model(server, sleep).complete(REQUEST).message.content == "ok"
    assert server.request_count == 2
    assert len(sleep.calls) == 1


def test_overloaded_error_event_is_retried(server: FakeEndpoint, sleep: RecordingSleep) -> None:
    partial = anthropic_events("Hel", stop=False)
    server.push(
        sse([*partial, anthropic_error_event("overloaded_error", "Overloaded")]),
        anthropic_stream("Hello"),
    )

    assert make_model(server, sleep).complete(REQUEST).message.content == "Hello"
    assert server.request_count == 2


def test_invalid_request_error_event_is_final(server: FakeEndpoint, sleep: RecordingSleep) -> None:
    server.push(sse([anthropic_error_event("invalid_request_error", "prompt is too long")]))

    with pytest.raises(ModelError, match="prompt is too long"):
        make_model(server, sleep).complete(REQUEST)

    assert server.request_count == 1


def test_stream_cut_mid_way_is_requested_again(server: FakeEndpoint, sleep: RecordingSleep) -> None:
    server.push(sse(anthropic_events("never fin", stop=False), cut=True), anthropic_stream("done"))

    assert make_model(server, sleep).complete(REQUEST).message.content == "done"
    assert server.request_count == 2


def test_stream_ending_without_message_stop_is_requested_again(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    server.push(anthropic_stream("half", stop=False), anthropic_stream("whole"))

    assert make_model(server, sleep).complete(REQUEST).message.content == "whole"
    assert server.request_count == 2


def test_stream_cut_inside_its_first_event_is_requested_again(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    # Streamed without chunks, a cut looks like a clean end: what arrived is half an event.
    half_event = encode_sse(anthropic_events("hello")[0])[:70].decode()
    server.push(sse([half_event], framed=False), anthropic_stream("whole"))

    assert make_model(server, sleep).complete(REQUEST).message.content == "whole"
    assert server.request_count == 2


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"hello", "text/event-stream"),
        (json.dumps({"type": "message", "content": []}).encode(), "text/plain"),
    ],
)
def test_a_body_that_is_not_an_event_stream_is_a_response_error_not_retried(
    server: FakeEndpoint, sleep: RecordingSleep, body: bytes, content_type: str
) -> None:
    server.push(raw_body(body, content_type=content_type))

    with pytest.raises(ModelResponseError, match="not an event stream; check ANTHROPIC_BASE_URL"):
        make_model(server, sleep).complete(REQUEST)

    assert server.request_count == 1


def test_json_body_cut_short_is_requested_again(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    # Without a Content-Length the body ends where the connection did, even mid-way.
    whole = {"type": "message", "content": [{"type": "text", "text": "a long answer"}]}
    body = json.dumps(whole).encode()
    server.push(raw_body(body[: body.index(b"long")], framed=False), anthropic_message("ok"))

    assert make_model(server, sleep).complete(REQUEST).message.content == "ok"
    assert server.request_count == 2


def test_a_stall_after_the_stop_reason_returns_the_turn(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    # message_delta carried the stop reason and the usage; message_stop never comes.
    *events, _message_stop = anthropic_events("All done.")
    server.push(sse(events, stall=True))

    reply = make_model(server, sleep, idle_timeout_s=0.3).complete(REQUEST)

    assert reply.message.content == "All done."
    assert reply.usage == Usage(13, 9)
    assert server.request_count == 1


def test_a_cut_after_the_stop_reason_returns_the_turn(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    *events, _message_stop = anthropic_events(tool_calls=[("read_file", '{"path": "a"}')])
    server.push(sse(events, cut=True))

    reply = make_model(server, sleep).complete(REQUEST)

    assert reply.message.tool_calls == (ToolCall("toolu_0", "read_file", {"path": "a"}),)
    assert server.request_count == 1


def test_a_stall_before_the_stop_reason_is_requested_again(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    server.push(sse(anthropic_events("half", stop=False), stall=True), anthropic_stream("whole"))

    reply = make_model(server, sleep, idle_timeout_s=0.3).complete(REQUEST)

    assert reply.message.content == "whole"
    assert server.request_count == 2


@pytest.mark.parametrize(
    "events",
    [
        [("message_stop", {"type": "message_stop"})],
        anthropic_events("ignored")[-2:],  # message_delta with its stop_reason, message_stop
    ],
    ids=["message-stop-alone", "no-message-start"],
)
def test_a_stream_without_a_message_is_a_response_error_not_an_empty_answer(
    server: FakeEndpoint, sleep: RecordingSleep, events: list[Any]
) -> None:
    server.push(sse(events))

    with pytest.raises(ModelResponseError, match="sent no turn") as caught:
        make_model(server, sleep).complete(REQUEST)

    assert server.url in str(caught.value) and "ANTHROPIC_BASE_URL" in str(caught.value)
    assert server.request_count == 1


def test_a_message_that_stopped_empty_is_an_empty_turn(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    server.push(anthropic_stream(""))

    assert make_model(server, sleep).complete(REQUEST).message == Message("assistant", "")


def test_malformed_body_is_a_response_error_not_retried(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    server.push(raw_body(b"[1, 2", content_type="application/json"))

    with pytest.raises(ModelResponseError):
        make_model(server, sleep).complete(REQUEST)

    assert server.request_count == 1


def test_event_of_unexpected_shape_is_a_response_error(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    server.push(sse([("content_block_delta", {"type": "content_block_delta", "delta": 3})]))

    with pytest.raises(ModelResponseError, match="unexpected shape"):
        make_model(server, sleep).complete(REQUEST)


def test_hanging_server_times_out_and_is_retried(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    server.push(hang(), hang())
    started = time.monotonic()

    with pytest.raises(ModelUnavailableError, match="2 times"):
        make_model(server, sleep, idle_timeout_s=0.5, max_retries=1).complete(REQUEST)

    assert server.request_count == 2
    assert time.monotonic() - started < 5


def test_slow_but_healthy_stream_is_not_cut(server: FakeEndpoint, sleep: RecordingSleep) -> None:
    # 8 events 0.3 s apart: about 2 s in all, twice the idle timeout.
    server.push(sse(anthropic_events("slow and steady", pieces=2), interval_s=0.3))
    started = time.monotonic()

    reply = make_model(server, sleep, idle_timeout_s=1.0).complete(REQUEST)

    assert reply.message.content == "slow and steady"
    assert time.monotonic() - started > 1.5
    assert server.request_count == 1


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_key_is_an_auth_error_without_the_key(
    server: FakeEndpoint, sleep: RecordingSleep, status: int
) -> None:
    server.push(error(status, f"invalid x-api-key {KEY}", kind="authentication_error"))

    with pytest.raises(ModelAuthError) as caught:
        make_model(server, sleep).complete(REQUEST)

    err = caught.value
    assert "ANTHROPIC_API_KEY" in str(err)
    for text in (str(err), repr(err), repr(make_model(server, sleep))):
        assert KEY not in text and KEY[7:20] not in text
    assert server.request_count == 1


def test_404_is_model_not_found(server: FakeEndpoint, sleep: RecordingSleep) -> None:
    server.push(error(404, "model: claude-test", kind="not_found_error"))

    with pytest.raises(ModelNotFoundError, match="claude-test"):
        make_model(server, sleep).complete(REQUEST)

    assert server.request_count == 1


def test_key_comes_from_the_environment(
    server: FakeEndpoint, sleep: RecordingSleep, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    server.push(anthropic_stream("env"))

    assert AnthropicModel("c", ModelOptions(sleep=sleep)).complete(REQUEST).message.content == "env"
    assert server.requests[0].headers["x-api-key"] == KEY


def test_a_copied_key_with_a_trailing_newline_is_sent_without_it(
    server: FakeEndpoint, sleep: RecordingSleep, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", f"{KEY}\n")
    server.push(anthropic_stream("ok"))

    model = AnthropicModel("c", ModelOptions(base_url=server.url, sleep=sleep))

    assert model.complete(REQUEST).message.content == "ok"
    assert server.requests[0].headers["x-api-key"] == KEY


def test_a_key_no_header_can_carry_is_refused_before_any_request(
    server: FakeEndpoint, sleep: RecordingSleep, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "mytoken-ABC\u2019DEF")

    with pytest.raises(ModelAuthError, match="ANTHROPIC_API_KEY has a character") as caught:
        AnthropicModel("c", ModelOptions(base_url=server.url, sleep=sleep))

    assert "mytoken" not in str(caught.value)
    assert server.request_count == 0
