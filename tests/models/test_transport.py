"""Transport rules that need no server: Retry-After, backoff, redaction, base URLs, cut JSON."""

from __future__ import annotations

import email.utils
import json

import httpx
import pytest

from agentrun.core.errors import ModelAuthError, SpecError
from agentrun.models.options import ModelOptions
from agentrun.models.transport import (
    check_api_key,
    check_base_url,
    json_cut_short,
    parse_retry_after,
    redact,
    retry_delay,
)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "1"}, 1.0),
        ({"Retry-After": "2.5"}, 2.5),
        ({"Retry-After": "-3"}, 0.0),
        ({"retry-after-ms": "1500", "Retry-After": "9"}, 1.5),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "nan"}, None),
        ({"retry-after-ms": "soon", "Retry-After": "4"}, 4.0),
        ({}, None),
    ],
)
def test_retry_after_seconds(headers: dict[str, str], seconds: float | None) -> None:
    assert parse_retry_after(httpx.Headers(headers)) == seconds


def test_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    later = email.utils.formatdate(now + 30, usegmt=True)

    assert parse_retry_after(httpx.Headers({"Retry-After": later}), now=now) == 30.0


def test_retry_after_is_honoured_up_to_its_cap() -> None:
    options = ModelOptions(retry_after_cap_s=10)

    assert retry_delay(0, 3.0, options) == 3.0
    assert retry_delay(0, 3600.0, options) == 10.0


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap() -> None:
    options = ModelOptions(backoff_base_s=1.0, backoff_cap_s=8.0)

    for attempt, ceiling in enumerate([1, 2, 4, 8, 8, 8]):
        delays = [retry_delay(attempt, None, options) for _ in range(50)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)


def test_redact_removes_the_key_and_key_shaped_tokens() -> None:
    text = "bad key sk-live-abcdefghijkl; saw sk-abc***wxyz12 and Bearer t0ken-xyz; mysecret"

    redacted = redact(text, "mysecret", None, "")

    assert "abcdefghijkl" not in redacted
    assert "abc***" not in redacted
    assert "t0ken" not in redacted
    assert "mysecret" not in redacted
    assert redacted.startswith("bad key [redacted]")


def test_redact_finds_a_key_quoted_with_escapes_and_keeps_the_text_after_a_bearer_token() -> None:
    key = "local-token-ABC\t1"
    text = f'Illegal header value b\'Bearer {key!r}\' (json: {{"key": "local-token-ABC\\t1"}})'

    redacted = redact(text, key)

    assert "local-token" not in redacted
    assert redacted.endswith('(json: {"key": "[redacted]"})')


@pytest.mark.parametrize("key", [" sk-abc\n", "\tkey-123 ", None, "", "  \n"])
def test_an_api_key_loses_the_whitespace_around_it(key: str | None) -> None:
    expected = key.strip() or None if key else None
    assert check_api_key(key, "OPENAI_API_KEY") == expected


@pytest.mark.parametrize("key", ["sk-abc\ndef", "sk-abc def", "sk-\u2019abc", "sk-abcé"])
def test_an_api_key_that_no_header_can_carry_is_refused_without_quoting_it(key: str) -> None:
    with pytest.raises(ModelAuthError, match="OPENAI_API_KEY has a character") as caught:
        check_api_key(key, "OPENAI_API_KEY")
    assert "abc" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    ["localhost:11434/v1", "ftp://host/v1", "", "http://", "http://h:abc/v1", "http://[::1/v1"],
)
def test_base_url_must_be_a_valid_http_url(url: str) -> None:
    # An invalid port or host must be refused here, not crash the first request of every run.
    with pytest.raises(SpecError, match="OPENAI_BASE_URL"):
        check_base_url(url, "OPENAI_BASE_URL")


def test_base_url_loses_its_trailing_slash() -> None:
    assert check_base_url("http://127.0.0.1:8080/v1/", "X") == "http://127.0.0.1:8080/v1"


# Every kind of token: strings with escapes, literals, a signed number with an exponent.
WHOLE_JSON = (
    '{"id": "x", "choices": [{"message": {"content": "caf\\u00e9 \\"ok\\"\\n"}, '
    '"finish_reason": null}], "flags": [true, false, null], "usage": {"n": -1.5e+3, "m": 0}}'
)


def json_error(text: str) -> json.JSONDecodeError:
    with pytest.raises(json.JSONDecodeError) as caught:
        json.loads(text)
    return caught.value


def test_every_prefix_of_a_json_document_is_cut_short() -> None:
    for end in range(len(WHOLE_JSON)):
        text = WHOLE_JSON[:end]
        assert json_cut_short(text, json_error(text)), text


@pytest.mark.parametrize(
    "text",
    ["{this is not json", '{"a": 1} and more', '{"a": tru, "b": 2}', "hello", '{"a": "x\\q"}'],
)
def test_json_malformed_before_its_end_is_not_cut_short(text: str) -> None:
    assert not json_cut_short(text, json_error(text))
