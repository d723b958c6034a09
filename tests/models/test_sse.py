"""The incremental server-sent-events parser."""

from __future__ import annotations

import pytest

from agentrun.models.sse import SseEvent, SseParser, starts_like_sse

STREAM = (
    b": keep-alive comment\n"
    b"event: message_start\n"
    b'data: {"a": 1}\n'
    b"\n"
    b"data: first line\r\n"
    b"data:second line\r\n"
    b"\r\n"
    b"data: [DONE]\n"
    b"\n"
)
EVENTS = [
    SseEvent("message_start", '{"a": 1}'),
    SseEvent("message", "first line\nsecond line"),
    SseEvent("message", "[DONE]"),
]


def parse(*chunks: bytes) -> list[SseEvent]:
    parser = SseParser()
    events = [event for chunk in chunks for event in parser.feed(chunk)]
    return events + parser.close()


def test_events_names_multiline_data_and_comments() -> None:
    assert parse(STREAM) == EVENTS


def test_any_split_into_chunks_gives_the_same_events() -> None:
    for cut in range(len(STREAM) + 1):
        assert parse(STREAM[:cut], STREAM[cut:]) == EVENTS, cut
    assert parse(*(STREAM[i : i + 1] for i in range(len(STREAM)))) == EVENTS


def test_utf8_split_across_chunks() -> None:
    data = "data: héllo ✓\n\n".encode()

    assert parse(data[:8], data[8:]) == [SseEvent("message", "héllo ✓")]


def test_complete_last_event_without_blank_line_is_kept() -> None:
    assert parse(b"data: [DONE]\n") == [SseEvent("message", "[DONE]")]


def test_cut_last_line_is_dropped() -> None:
    assert parse(b'data: {"a": 1}\n\ndata: {"b": ') == [SseEvent("message", '{"a": 1}')]


def test_event_without_data_is_not_dispatched() -> None:
    assert parse(b"event: ping\n\n") == []


@pytest.mark.parametrize(
    "head",
    [
        b'data: {"choices": [{"delta": {"content": "hel',
        b"event: message_start\ndata: {",
        b": keep-alive\n",
        b"id: 7\n",
        b"retry: 1000\n",
        b"\xef\xbb\xbf\r\ndata: {",
        b"da",
        b"\n\n",
    ],
)
def test_what_starts_with_an_sse_field_or_comment_starts_like_an_event_stream(head: bytes) -> None:
    # A body cut this early is a cut stream, to request again, not another protocol.
    assert starts_like_sse(head)


@pytest.mark.parametrize(
    "head",
    [
        b"hello",
        b'{"choices": []}',
        b"<html>",
        b"database error\n",
        b" data: indented\n",
        b"data without a colon\n",
    ],
)
def test_anything_else_does_not_start_like_an_event_stream(head: bytes) -> None:
    assert not starts_like_sse(head)
