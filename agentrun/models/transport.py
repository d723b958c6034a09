"""HTTP for the network providers: one POST with timeouts, retries, and error translation.

Owns the transport rules both providers share:

- a connect timeout and an *idle* timeout (the longest silence between two chunks), never a
  total timeout, so a long but healthy streamed generation is never cut;
- retries with exponential backoff and jitter for 408, 429, 5xx, connection failures, idle
  timeouts and bodies cut mid-way, even inside the first event or mid-JSON (``TransientError``
  from a reader), honouring ``Retry-After`` / ``retry-after-ms`` up to a cap;
- translation of everything else into ``agentrun.core.errors``: 401/403 → ``ModelAuthError``,
  404 → ``ModelNotFoundError``, other 4xx → ``ModelError``, a body that is not what the API
  promises → ``ModelResponseError`` (not retried: a server that speaks another protocol will
  not start speaking ours), budget exhausted → ``ModelUnavailableError``;
- API keys never reach a message: every text put in an error goes through ``redact``.

Imports httpx; only the openai and anthropic modules import this one.
"""

from __future__ import annotations

import email.utils
import functools
import json
import math
import random
import re
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from agentrun.core.errors import (
    ModelAuthError,
    ModelError,
    ModelNotFoundError,
    ModelResponseError,
    ModelUnavailableError,
    SpecError,
)
from agentrun.models.options import ModelOptions, wait_between_attempts
from agentrun.models.sse import SseEvent, SseParser, starts_like_sse

T = TypeVar("T")

USER_AGENT = "agentrun"
# What httpx raises while a response body stops coming: the idle timeout, a reset, a cut.
BROKEN_BODY_ERRORS = (httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError)
_EXCERPT_CHARS = 300
_REDACTED = "[redacted]"
# Things that look like keys (OpenAI and Anthropic keys start with "sk-"; bearer tokens and
# basic credentials), in case a server echoes a key, or a partly masked one, back in an error.
_KEY_PATTERN = re.compile(
    r"\bsk-[A-Za-z0-9_\-*.]{8,}|\b(?<=Bearer )[\w.~+/=*\-]+|\b(?<=Basic )[\w.~+/=*\-]+",
    re.IGNORECASE,
)
# Enough of a body's first bytes to tell whether it starts like an event stream.
_HEAD_BYTES = 64
# What may follow the point where the JSON decoder gave up in a text cut short: nothing, or the
# start of a literal, the rest of a number, or a \u escape (one the decoder saw no end after).
_CUT_JSON_TAIL = re.compile(
    r"t(r(ue?)?)?|f(a(l(se?)?)?)?|n(u(ll?)?)?|[-+.0-9eE]*|u[0-9a-fA-F]{0,4}"
)
# The user and password of a URL (``http://user:password@host``): httpx sends them as basic
# credentials, and a URL is quoted in error messages, which reach the log (run_stopped).
_URL_USERINFO = re.compile(r"(?<=://)[^/\s@]+@")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and how to POST: the URL, the headers (with the key) and words for messages.

    ``key_env`` and ``base_env`` name the environment variables a message tells the user to
    check. ``headers`` and ``api_key`` are kept out of ``repr``.
    """

    provider: str
    url: str
    model: str
    key_env: str
    base_env: str
    api_key: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)

    def redact(self, text: str) -> str:
        """``text`` with this endpoint's key, and anything shaped like a key, blanked out."""
        return redact(text, self.api_key)

    @property
    def shown_url(self) -> str:
        """The URL for messages: without a user and password it may carry."""
        return redact(self.url)


class SecretHeaders(dict[str, str]):
    """Request headers whose ``repr`` hides the values: tracebacks that show locals print it."""

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{name!r}: '…'" for name in self) + "}"


class TransientError(Exception):
    """A failure worth retrying; readers raise it for cut streams and transient error events.

    Never leaves the models layer: the retry loop turns it into ``ModelUnavailableError``.
    """

    def __init__(self, reason: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s


def redact(text: str, *secrets: str | None) -> str:
    """Replace each secret, and any key-shaped token, in ``text`` with ``[redacted]``.

    A secret is also found as Python or JSON quote it (with escapes). Redact before cutting a
    text short: a cut can leave a piece of a key that no longer matches.
    """
    for secret in secrets:
        if secret:
            for form in {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1]}:
                text = text.replace(form, _REDACTED)
    text = _URL_USERINFO.sub(f"{_REDACTED}@", text)
    return _KEY_PATTERN.sub(_REDACTED, text)


def check_api_key(key: str | None, env_name: str) -> str | None:
    """``key`` without surrounding whitespace (``None`` if empty); ``ModelAuthError`` if what is
    left cannot be sent in an HTTP header (a line break inside, a non-ASCII character).

    Copying a key often brings a trailing newline or a typographic quote; sending it would fail
    in the HTTP library with the key quoted in its message.
    """
    if key is None:
        return None
    key = key.strip()
    if not key:
        return None
    if not all("!" <= char <= "~" for char in key):
        raise ModelAuthError(
            f"the API key in {env_name} has a character an HTTP header cannot carry (a space, a "
            "line break or a non-ASCII character, often from copying it); set it again"
        )
    return key


def check_base_url(url: str, env_name: str) -> str:
    """Return ``url`` without a trailing slash; ``SpecError`` if it is not a valid http(s) URL."""
    valid = bool(re.match(r"^https?://[^/\s]+", url))
    try:
        httpx.URL(url)  # a port that is not a number, a broken IPv6 host: refused now, not later
    except (httpx.InvalidURL, ValueError):
        valid = False
    if not valid:
        raise SpecError(
            f"the model base URL {redact(url)!r} is not a valid http:// or https:// URL; "
            f"fix it with --base-url or {env_name}"
        )
    return url.rstrip("/")


def post_with_retries(
    endpoint: Endpoint,
    payload: Mapping[str, Any],
    read: Callable[[httpx.Response], T],
    options: ModelOptions,
) -> T:
    """POST ``payload`` as JSON and return what ``read`` makes of a 2xx response.

    ``read`` consumes the (streaming) response; it raises ``TransientError`` to have the whole
    request sent again. Raises ``ModelError`` subclasses as described in the module docstring.
    """
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    headers = SecretHeaders(
        {"content-type": "application/json", "user-agent": USER_AGENT, **endpoint.headers}
    )
    timeout = httpx.Timeout(
        connect=options.connect_timeout_s,
        read=options.idle_timeout_s,
        write=options.idle_timeout_s,
        pool=options.connect_timeout_s,
    )
    attempts = max(options.max_retries, 0) + 1
    reason = ""
    with httpx.Client(timeout=timeout, verify=_tls_context(), follow_redirects=False) as client:
        for attempt in range(attempts):
            try:
                with client.stream("POST", endpoint.url, content=body, headers=headers) as response:
                    if response.status_code >= 300:
                        raise _status_error(response, endpoint)
                    return read(response)
            except TransientError as exc:
                reason, retry_after_s = exc.reason, exc.retry_after_s
            except httpx.TimeoutException as exc:
                reason, retry_after_s = _describe_timeout(exc, options), None
            except httpx.RequestError as exc:
                reason, retry_after_s = f"connection failed ({_describe(exc)})", None
            if attempt + 1 < attempts:
                delay = retry_delay(attempt, retry_after_s, options)
                wait_between_attempts(delay, options, f"waiting {delay:.1f} s to retry the model")
    raise ModelUnavailableError(
        endpoint.redact(
            f"the {endpoint.provider} endpoint {endpoint.shown_url} failed {attempts} times in a "
            f"row (last: {reason}); check that it is up and reachable, then try again"
        )
    )


def retry_delay(attempt: int, retry_after_s: float | None, options: ModelOptions) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (0-based).

    The server's ``Retry-After`` wins, capped at ``retry_after_cap_s``; otherwise exponential
    backoff from ``backoff_base_s`` capped at ``backoff_cap_s``, with jitter in [50%, 100%] so
    many clients do not retry in lockstep.
    """
    if retry_after_s is not None:
        return min(max(retry_after_s, 0.0), options.retry_after_cap_s)
    ceiling = min(options.backoff_cap_s, options.backoff_base_s * 2 ** min(attempt, 32))
    return ceiling * random.uniform(0.5, 1.0)


def parse_retry_after(headers: httpx.Headers, now: float | None = None) -> float | None:
    """Seconds asked for by ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date)."""
    millis = _seconds(headers.get("retry-after-ms"))
    if millis is not None:
        return millis / 1000
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _seconds(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def _seconds(value: str | None) -> float | None:
    """A header's number, at least 0; ``None`` if absent or not a finite number."""
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return max(number, 0.0) if math.isfinite(number) else None


def iter_sse(response: httpx.Response, endpoint: Endpoint) -> Iterator[SseEvent]:
    """Yield the server-sent events of ``response`` as they arrive.

    A body that ends before its first event is a cut connection (``TransientError``) when it
    is empty or starts like an event stream (``starts_like_sse``); anything else is not an event
    stream (``ModelResponseError``).
    """
    parser = SseParser()
    head = b""
    seen_events = 0
    for chunk in response.iter_bytes():
        if len(head) < _HEAD_BYTES:
            head += chunk[: _HEAD_BYTES - len(head)]
        for event in parser.feed(chunk):
            seen_events += 1
            yield event
    for event in parser.close():
        seen_events += 1
        yield event
    if not head:
        raise TransientError("the response ended before any data arrived")
    if seen_events == 0:
        if starts_like_sse(head):
            raise TransientError("the stream was cut before its first event")
        raise ModelResponseError(
            f"the {endpoint.provider} endpoint {endpoint.shown_url} answered with something that "
            f"is not an event stream; check {endpoint.base_env}"
        )


def read_json(response: httpx.Response, endpoint: Endpoint) -> dict[str, Any]:
    """The whole body of ``response`` as a JSON object, or ``ModelResponseError``.

    A body cut short (``json_cut_short``) is ``TransientError`` unless the response declared its
    length: httpx reports a body shorter than its Content-Length, so such a body is whole, and
    only a body that ends where the connection does can be cut without a word.
    """
    text = response.read().decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if "content-length" not in response.headers and json_cut_short(text, exc):
            raise TransientError("the response body was cut before it ended") from None
        data = None
    return _json_object(data, text, endpoint)


def parse_json_object(text: str, endpoint: Endpoint) -> dict[str, Any]:
    """``text`` as a JSON object, or ``ModelResponseError`` quoting the start of it."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    return _json_object(data, text, endpoint)


def json_cut_short(text: str, error: json.JSONDecodeError) -> bool:
    """Whether ``text`` failed to parse only because it ends too early (the decoder ran out of
    input), rather than because something before its end is wrong."""
    if error.msg.startswith("Unterminated string"):
        return True  # the decoder reached the end inside a string
    return _CUT_JSON_TAIL.fullmatch(text, error.pos) is not None


def _json_object(data: Any, text: str, endpoint: Endpoint) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ModelResponseError(
            f"the {endpoint.provider} endpoint {endpoint.shown_url} sent a malformed response "
            f"({_excerpt(endpoint.redact(text)) or 'empty'}); check {endpoint.base_env}"
        )
    return data


def no_turn_error(endpoint: Endpoint, what: str) -> ModelResponseError:
    """The error for a response that holds no turn at all (``what``: no choice, no message).

    Not an empty answer: a turn that says nothing still comes as a choice or a message.
    """
    return ModelResponseError(
        endpoint.redact(
            f"the {endpoint.provider} endpoint {endpoint.shown_url} sent no turn ({what}); "
            f"check {endpoint.base_env}"
        )
    )


def is_json(response: httpx.Response) -> bool:
    """Whether the response says its body is JSON (a server that ignored ``stream: true``)."""
    return "json" in response.headers.get("content-type", "").lower()


def check_not_html(response: httpx.Response, endpoint: Endpoint) -> None:
    """``ModelResponseError`` if the endpoint answered with a web page (a wrong base URL)."""
    if "text/html" in response.headers.get("content-type", "").lower():
        raise ModelResponseError(
            f"the {endpoint.provider} endpoint {endpoint.shown_url} answered with a web page, not "
            f"an API response; check {endpoint.base_env}"
        )


def _status_error(response: httpx.Response, endpoint: Endpoint) -> Exception:
    """The error for a non-2xx response: ``TransientError`` to retry, else a ``ModelError``."""
    status = response.status_code
    text = endpoint.redact(response.read().decode("utf-8", errors="replace"))
    detail = _server_message(text)
    said = f"HTTP {status}" + (f": {detail}" if detail else "")
    if status == 429 and "insufficient_quota" in text:
        return ModelError(
            f"the account behind {endpoint.key_env} has no quota left ({said}); "
            "check its plan and billing"
        )
    if status in (408, 409, 425, 429) or status >= 500:
        return TransientError(said, retry_after_s=parse_retry_after(response.headers))
    if status in (401, 403):
        if endpoint.api_key:
            return ModelAuthError(
                f"the {endpoint.provider} endpoint rejected the API key ({said}); "
                f"check {endpoint.key_env}"
            )
        return ModelAuthError(
            f"the {endpoint.provider} endpoint requires an API key ({said}); set {endpoint.key_env}"
        )
    if status == 404:
        return ModelNotFoundError(
            f"the {endpoint.provider} endpoint {endpoint.shown_url} does not know model "
            f"{endpoint.model!r} ({said}); check the model name and {endpoint.base_env}"
        )
    if status < 400:
        location = endpoint.redact(response.headers.get("location", "elsewhere"))
        return ModelError(
            f"the {endpoint.provider} endpoint {endpoint.shown_url} redirects to {location} "
            f"(HTTP {status}); set {endpoint.base_env} to the final URL"
        )
    return ModelError(
        f"the {endpoint.provider} endpoint refused the request ({said}); "
        "check the model name, the agent spec and the conversation"
    )


def _server_message(text: str) -> str:
    """The human part of an error body: ``error.message``, ``detail`` … or the raw text."""
    try:
        data = json.loads(text)
    except ValueError:
        return _excerpt(text)
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return _excerpt(error["message"])
        for key in ("error", "message", "detail"):
            if isinstance(data.get(key), str):
                return _excerpt(data[key])
    return _excerpt(text)


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _EXCERPT_CHARS else text[: _EXCERPT_CHARS - 1] + "…"


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Loading the CA bundle takes ~40 ms; do it once per process, not once per model call.
    return httpx.create_ssl_context()


def _describe_timeout(exc: httpx.TimeoutException, options: ModelOptions) -> str:
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return f"could not connect within {options.connect_timeout_s:g} s"
    return f"no data for {options.idle_timeout_s:g} s"


def _describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
