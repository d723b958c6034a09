"""The openai provider against a real HTTP server on 127.0.0.1 speaking chat completions."""

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
from agentrun.core.tokens import MESSAGE_OVERHEAD
from agentrun.models.openai import OpenAIModel
from agentrun.models.options import ModelOptions

from .fake_endpoints import (
    FakeEndpoint,
    RecordingSleep,
    disconnect,
    encode_sse,
    error,
    hang,
    json_body,
    openai_completion,
    openai_events,
    openai_stream,
    raw_body,
    sse,
)

KEY = "sk-test-secret-0123456789abcdef"
READ_FILE = ToolSpec(
    name="read_file",
    description="Read a file.",
    parameters={"type": "object", "properties": {"path": {"type": "string"}}},
)
REQUEST = ModelRequest(messages=(Message("system", "Be brief."), Message("user", "Hi")))


def make_model(server: FakeEndpoint, sleep: RecordingSleep, **overrides: Any) -> OpenAIModel:
    settings: dict[str, Any] = {
        "base_url": f"{server.url}/v1",
        "api_key": KEY,
        "connect_timeout_s": 2.0,
        "idle_timeout_s": 5.0,
        "max_retries": 2,
        "sleep": sleep,
    }
    return OpenAIModel("gpt-test", ModelOptions(**{**settings, **overrides}))


def test_streamed_tool_calls_are_assembled(server: FakeEndpoint, sleep: RecordingSleep) -> None:
    server.push(
        openai_stream(
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
            ToolCall("call_fake_0", "read_file", {"path": "a.txt"}),
            ToolCall("call_fake_1", "read_file", {"path": "b/c.txt"}),
        ),
    )
    assert "".join(deltas) == "Reading both." and len(deltas) > 1
    assert reply.usage == Usage(input_tokens=11, output_tokens=7)
    assert reply.model == "openai:fake-model"
    assert reply.latency_s >= 0
    assert server.request_count == 1


def test_request_is_sent_in_the_chat_completions_format(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    server.push(openai_stream("ok"))
    history = ModelRequest(
        messages=(
            Message("system", "Be brief."),
            Message("user", "Read a.txt"),
            Message("assistant", "", (ToolCall("call_0_0", "read_file", {"path": "a.txt"}),)),
            Message("tool", "hello", tool_call_id="call_0_0", name="read_file"),
        ),
        tools=(READ_FILE,),
        turn=1,
        max_output_tokens=256,
    )

    make_model(server, sleep).complete(history)

    [request] = server.requests
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == f"Bearer {KEY}"
    body = request.json()
    assert body["model"] == "gpt-test"
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 256
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Read a.txt"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_0_0",
                    "type": "function",
                    "function": {"name": "read_file", "arguments": '{"path": "a.txt"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_0_0", "content": "hello"},
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "read_file",
                "description": "Read a file.",
                "parameters": READ_FILE.parameters,
            },
        }
    ]


def test_plain_text_turn(server: FakeEndpoint, sleep: RecordingSleep) -> None:
    server.push(openai_stream("The answer is 42."))

    reply = make_model(server, sleep).complete(REQUEST)

    assert reply.message == Message("assistant", "The answer is 42.")


def test_non_streamed_json_response_is_accepted(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    server.push(openai_completion("Sure.", [("read_file", '{"path": "x"}')]))
    deltas: list[str] = []

    reply = make_model(server, sleep).complete(REQUEST, on_text=deltas.append)

    assert reply.message.content == "Sure."
    assert reply.message.tool_calls == (ToolCall("call_fake_0", "read_file", {"path": "x"}),)
    assert reply.usage == Usage(11, 7)
    assert deltas == ["Sure."]


def test_invalid_tool_arguments_are_kept_for_the_loop(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    server.push(openai_stream(tool_calls=[("read_file", '{"path": "a.txt"'), ("ls", "[1, 2]")]))

    reply = make_model(server, sleep).complete(REQUEST)

    first, second = reply.message.tool_calls
    assert first.arguments == {INVALID_ARGUMENTS_KEY: '{"path": "a.txt"'}
    assert second.arguments == {INVALID_ARGUMENTS_KEY: "[1, 2]"}


def test_empty_tool_arguments_mean_no_arguments(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    server.push(openai_stream(tool_calls=[("list_tasks", "")]))

    reply = make_model(server, sleep).complete(REQUEST)

    assert reply.message.tool_calls[0].arguments == {}


@pytest.mark.parametrize(
    "answer",
    [
        openai_stream("The first half of a long ans", finish_reason="length"),
        openai_completion("The first half of a long ans", finish_reason="length"),
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
    assert "shorter answers" in str(caught.value) and "OPENAI_BASE_URL" in str(caught.value)
    assert server.request_count == 1
    assert caught.value.usage == {"input_tokens": 11, "output_tokens": 7}  # paid all the same


def test_tool_calls_cut_off_at_the_output_limit_reach_the_loop_as_invalid_arguments(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    server.push(openai_stream(tool_calls=[("read_file", '{"path": "a.t')], finish_reason="length"))

    reply = make_model(server, sleep).complete(REQUEST)

    assert reply.message.tool_calls[0].arguments == {INVALID_ARGUMENTS_KEY: '{"path": "a.t'}


def test_a_summary_cut_off_at_the_limit_it_asked_for_is_kept(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    # The caller chose the limit and shortens the summary itself if needed.
    server.push(openai_stream("Facts: a, b and", finish_reason="length"))
    summary = ModelRequest(messages=REQUEST.messages, max_output_tokens=100, purpose="summary")

    assert make_model(server, sleep).complete(summary).message.content == "Facts: a, b and"


def test_429_waits_for_retry_after_then_succeeds(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    server.push(error(429, "slow down", headers={"Retry-After": "1"}), openai_stream("ok"))

    reply = make_model(server, sleep).complete(REQUEST)

    assert reply.message.content == "ok"
    assert sleep.calls == [1.0]
    assert server.request_count == 2


def test_500_is_retried_with_backoff(server: FakeEndpoint, sleep: RecordingSleep) -> None:
    server.push(error(500, "boom"), openai_stream("ok"))

    reply = make_model(server, sleep, backoff_base_s=2.0).complete(REQUEST)

    assert reply.message.content == "ok"
    assert server.request_count == 2
    [waited] = sleep.calls
    assert 1.0 <= waited <= 2.0


def test_retry_budget_exhausted_raises_unavailable(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    server.push(*[error(503, "overloaded")] * 3)

    with pytest.raises(ModelUnavailableError) as caught:
        make_model(server, sleep, max_retries=2).complete(REQUEST)

    assert server.request_count == 3
    assert len(sleep.calls) == 2
    assert "3 times" in str(caught.value) and "HTTP 503" in str(caught.value)


@pytest.mark.parametrize(
    "answer",
    [
        sse(["data: [DONE]\n\n"]),
        sse([{"object": "chat.completion.chunk", "model": "m"}, "data: [DONE]\n\n"]),
        sse(openai_events("ignored")[-2:]),  # the usage chunk (no choices) and [DONE] only
        json_body({"object": "chat.completion", "model": "m", "choices": []}),
    ],
    ids=["done-alone", "chunks-without-choices", "usage-alone", "json-without-choices"],
)
def test_a_response_without_a_choice_is_a_response_error_not_an_empty_answer(
    server: FakeEndpoint, sleep: RecordingSleep, answer: Any
) -> None:
    server.push(answer)

    with pytest.raises(ModelResponseError, match="sent no turn") as caught:
        make_model(server, sleep).complete(REQUEST)

    assert server.url in str(caught.value) and "OPENAI_BASE_URL" in str(caught.value)
    assert server.request_count == 1


def test_a_choice_that_finished_empty_is_an_empty_turn(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    server.push(openai_stream(""))

    assert make_model(server, sleep).complete(REQUEST).message == Message("assistant", "")


def test_malformed_body_is_a_response_error_not_retried(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    server.push(raw_body(b"{this is not json", content_type="application/json"))

    with pytest.raises(ModelResponseError):
        make_model(server, sleep).complete(REQUEST)

    assert server.request_count == 1


def test_malformed_stream_chunk_is_a_response_error(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    server.push(sse(["data: {oops\n\n"]))

    with pytest.raises(ModelResponseError):
        make_model(server, sleep).complete(REQUEST)


def test_html_page_is_a_response_error(server: FakeEndpoint, sleep: RecordingSleep) -> None:
    server.push(raw_body(b"<html>hello</html>", content_type="text/html"))

    with pytest.raises(ModelResponseError, match="web page"):
        make_model(server, sleep).complete(REQUEST)


def test_hanging_server_times_out_and_is_retried(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    server.push(hang(), hang())
    started = time.monotonic()

    with pytest.raises(ModelUnavailableError, match=r"no data for 0\.5 s"):
        make_model(server, sleep, idle_timeout_s=0.5, max_retries=1).complete(REQUEST)

    assert server.request_count == 2
    assert time.monotonic() - started < 5


def test_slow_but_healthy_stream_is_not_cut(server: FakeEndpoint, sleep: RecordingSleep) -> None:
    words = [f"w{i} " for i in range(4)]
    server.push(sse(openai_events("".join(words), pieces=len(words)), interval_s=0.3))
    started = time.monotonic()

    reply = make_model(server, sleep, idle_timeout_s=1.0).complete(REQUEST)

    assert reply.message.content == "".join(words)
    assert time.monotonic() - started > 1.5  # well past the idle timeout, as intended
    assert server.request_count == 1


def test_stream_cut_mid_way_is_requested_again(server: FakeEndpoint, sleep: RecordingSleep) -> None:
    partial = openai_events("never finis", done=False, finish=False, usage=None)
    server.push(sse(partial, cut=True), openai_stream("finished"))
    deltas: list[str] = []

    reply = make_model(server, sleep).complete(REQUEST, on_text=deltas.append)

    assert reply.message.content == "finished"
    assert server.request_count == 2
    assert "".join(deltas).endswith("finished")


def test_stream_ending_without_finish_is_requested_again(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    server.push(openai_stream("half", done=False, finish=False), openai_stream("whole"))

    reply = make_model(server, sleep).complete(REQUEST)

    assert reply.message.content == "whole"
    assert server.request_count == 2


def test_stream_cut_inside_its_first_event_is_requested_again(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    # Streamed without chunks, a cut looks like a clean end: what arrived is half an event.
    half_event = encode_sse(openai_events("hello there")[1])[:70].decode()
    server.push(sse([half_event], framed=False), openai_stream("whole"))

    reply = make_model(server, sleep).complete(REQUEST)

    assert reply.message.content == "whole"
    assert server.request_count == 2


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"hello", "text/event-stream"),
        (json.dumps({"choices": [{"message": {"content": "hi"}}]}).encode(), "text/plain"),
    ],
)
def test_a_body_that_is_not_an_event_stream_is_a_response_error_not_retried(
    server: FakeEndpoint, sleep: RecordingSleep, body: bytes, content_type: str
) -> None:
    server.push(raw_body(body, content_type=content_type))

    with pytest.raises(ModelResponseError, match="not an event stream; check OPENAI_BASE_URL"):
        make_model(server, sleep).complete(REQUEST)

    assert server.request_count == 1


def test_json_body_cut_short_is_requested_again(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    # Without a Content-Length the body ends where the connection did, even mid-way.
    whole = {"model": "m", "choices": [{"message": {"content": "a long answer"}}]}
    body = json.dumps(whole).encode()
    server.push(raw_body(body[: body.index(b"long")], framed=False), openai_completion("ok"))

    reply = make_model(server, sleep).complete(REQUEST)

    assert reply.message.content == "ok"
    assert server.request_count == 2


def test_json_body_malformed_in_the_middle_is_a_response_error_even_unframed(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    server.push(raw_body(b'{"choices": [oops], "model": "m"}', framed=False))

    with pytest.raises(ModelResponseError, match="malformed response"):
        make_model(server, sleep).complete(REQUEST)

    assert server.request_count == 1


def test_a_finished_turn_is_returned_once_its_usage_arrived_even_without_done(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    # The finish chunk, then the usage chunk; no [DONE], and the connection stays open.
    server.push(sse(openai_events("All done.", done=False), stall=True))
    started = time.monotonic()

    reply = make_model(server, sleep, idle_timeout_s=2.0).complete(REQUEST)

    assert reply.message.content == "All done."
    assert reply.usage == Usage(11, 7)
    assert time.monotonic() - started < 1.5  # no wait for the idle timeout
    assert server.request_count == 1


def test_a_stall_after_the_finish_returns_the_turn_with_usage_estimated(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    server.push(sse(openai_events("12345678", usage=None, done=False), stall=True))

    reply = make_model(server, sleep, idle_timeout_s=0.3).complete(REQUEST)

    assert reply.message.content == "12345678"
    assert reply.usage.output_tokens == 2 + MESSAGE_OVERHEAD  # estimated
    assert server.request_count == 1


def test_a_cut_after_the_finish_returns_the_turn(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    events = openai_events(tool_calls=[("read_file", '{"path": "a"}')], usage=None, done=False)
    server.push(sse(events, cut=True))

    reply = make_model(server, sleep).complete(REQUEST)

    assert reply.message.tool_calls == (ToolCall("call_fake_0", "read_file", {"path": "a"}),)
    assert server.request_count == 1


def test_a_stall_before_the_finish_is_requested_again(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    half = openai_events("half", finish=False, usage=None, done=False)
    server.push(sse(half, stall=True), openai_stream("whole"))

    reply = make_model(server, sleep, idle_timeout_s=0.3).complete(REQUEST)

    assert reply.message.content == "whole"
    assert server.request_count == 2


def test_dropped_connection_is_retried(server: FakeEndpoint, sleep: RecordingSleep) -> None:
    server.push(disconnect(), openai_stream("ok"))

    assert make_model(server, sleep).complete(REQUEST).message.content == "ok"
    assert server.request_count == 2


def test_connection_refused_ends_unavailable(sleep: RecordingSleep) -> None:
    with FakeEndpoint() as gone:
        url = gone.url
    model = OpenAIModel("m", ModelOptions(base_url=url, max_retries=1, sleep=sleep))

    with pytest.raises(ModelUnavailableError, match="connection failed"):
        model.complete(REQUEST)


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_key_is_an_auth_error_without_the_key(
    server: FakeEndpoint, sleep: RecordingSleep, status: int
) -> None:
    # Servers echo the key back, partly masked or whole; neither may reach the message.
    server.push(error(status, f"Incorrect API key provided: {KEY} ({KEY[:8]}****cdef)"))

    with pytest.raises(ModelAuthError) as caught:
        make_model(server, sleep).complete(REQUEST)

    err = caught.value
    assert "OPENAI_API_KEY" in str(err)
    for text in (str(err), repr(err), repr(make_model(server, sleep))):
        assert KEY not in text and KEY[3:12] not in text
    assert server.request_count == 1


def test_missing_key_sends_no_authorization(server: FakeEndpoint, sleep: RecordingSleep) -> None:
    server.push(openai_stream("local"), error(401, "no key"))
    model = make_model(server, sleep, api_key=None)

    assert model.complete(REQUEST).message.content == "local"
    assert "authorization" not in server.requests[0].headers
    with pytest.raises(ModelAuthError, match="set OPENAI_API_KEY"):
        model.complete(REQUEST)


def test_404_is_model_not_found(server: FakeEndpoint, sleep: RecordingSleep) -> None:
    server.push(error(404, "The model `gpt-test` does not exist"))

    with pytest.raises(ModelNotFoundError, match="gpt-test"):
        make_model(server, sleep).complete(REQUEST)

    assert server.request_count == 1


def test_400_is_a_model_error_quoting_the_server(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    server.push(error(400, "messages: too many tokens", kind="invalid_request_error"))

    with pytest.raises(ModelError, match="too many tokens") as caught:
        make_model(server, sleep).complete(REQUEST)

    assert type(caught.value) is ModelError
    assert server.request_count == 1


def test_insufficient_quota_is_not_retried(server: FakeEndpoint, sleep: RecordingSleep) -> None:
    body = {"error": {"message": "You exceeded your quota.", "code": "insufficient_quota"}}
    server.push(json_body(body, status=429))

    with pytest.raises(ModelError, match="no quota left"):
        make_model(server, sleep).complete(REQUEST)

    assert server.request_count == 1


def test_error_inside_the_stream_is_retried(server: FakeEndpoint, sleep: RecordingSleep) -> None:
    server.push(sse([{"error": {"message": "upstream overloaded"}}]), openai_stream("ok"))

    assert make_model(server, sleep).complete(REQUEST).message.content == "ok"
    assert server.request_count == 2


def test_an_error_field_that_is_null_is_no_error(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    # Some servers put "error": null in every chunk, or in a whole completion.
    chunks = [{**e, "error": None} if isinstance(e, dict) else e for e in openai_events("fine")]
    completion = {
        "model": "m",
        "choices": [{"index": 0, "message": {"content": "fine"}, "finish_reason": "stop"}],
        "error": None,
    }
    server.push(sse(chunks), json_body(completion))
    model = make_model(server, sleep)

    assert model.complete(REQUEST).message.content == "fine"
    assert model.complete(REQUEST).message.content == "fine"
    assert server.request_count == 2


def test_usage_is_estimated_when_the_server_reports_none(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    server.push(openai_stream("12345678", usage=None))

    reply = make_model(server, sleep).complete(REQUEST)

    assert reply.usage.output_tokens == 2 + MESSAGE_OVERHEAD  # 8 characters + framing
    assert reply.usage.input_tokens > 0


def test_base_url_and_key_come_from_the_environment(
    server: FakeEndpoint, sleep: RecordingSleep, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", f"{server.url}/v1/")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    server.push(openai_stream("env"))

    reply = OpenAIModel("m", ModelOptions(sleep=sleep)).complete(REQUEST)

    assert reply.message.content == "env"
    assert server.requests[0].path == "/v1/chat/completions"
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_tool_call_without_id_gets_a_deterministic_one(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    chunk = {
        "model": "local",
        "choices": [
            {
                "index": 0,
                "delta": {"tool_calls": [{"function": {"name": "ls", "arguments": "{}"}}]},
                "finish_reason": "tool_calls",
            }
        ],
    }
    server.push(sse([chunk, "data: [DONE]\n\n"]))

    reply = make_model(server, sleep).complete(ModelRequest(messages=REQUEST.messages, turn=4))

    assert reply.message.tool_calls == (ToolCall("call_4_0", "ls", {}),)


def test_a_key_the_server_quotes_at_the_end_of_a_long_message_is_not_cut_in_half(
    server: FakeEndpoint, sleep: RecordingSleep
) -> None:
    # Messages are cut to a few hundred characters; the cut must not leave part of the key.
    local_key = "vllm-local-token-ABCDEFGHIJKL"
    server.push(error(400, "x" * 280 + f" key={local_key}", kind="invalid_request_error"))

    with pytest.raises(ModelError) as caught:
        make_model(server, sleep, api_key=local_key).complete(REQUEST)

    assert "vllm-local" not in str(caught.value)
