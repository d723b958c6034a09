"""Knobs shared by the network providers: endpoint, key, timeouts, retry budget, sleep.

A plain frozen record; no I/O. The API key is kept out of ``repr`` so a traceback or a log line
that prints the options never shows it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from agentrun.core.errors import ModelStoppedError


@dataclass(frozen=True, slots=True)
class ModelOptions:
    """How to reach a model endpoint and how patiently.

    ``base_url`` and ``api_key`` override the provider's environment variables
    (``OPENAI_BASE_URL``/``OPENAI_API_KEY``, ``ANTHROPIC_BASE_URL``/``ANTHROPIC_API_KEY``).
    ``idle_timeout_s`` bounds the silence between two chunks of a response, never the whole
    call: a long but healthy streamed generation is not cut. ``max_retries`` counts the retries
    after the first attempt. ``sleep`` is what waits between attempts (and for a scripted
    turn's ``delay_s``); tests inject a fake one. ``stopped`` says whether the run was asked
    to stop (a signal, design §9): checked after every wait, it ends the call with
    ``ModelStoppedError`` instead of another attempt.
    """

    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    connect_timeout_s: float = 10.0
    idle_timeout_s: float = 300.0
    max_retries: int = 6
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 60.0
    # A server's Retry-After is honoured up to this; beyond it we would rather fail and say so.
    retry_after_cap_s: float = 300.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    stopped: Callable[[], bool] = field(default=lambda: False, repr=False, compare=False)


def wait_between_attempts(seconds: float, options: ModelOptions, what: str) -> None:
    """Sleep ``seconds``; raise ``ModelStoppedError`` if a stop was asked meanwhile."""
    options.sleep(seconds)
    if options.stopped():
        raise ModelStoppedError(f"stopped while {what}; the turn was not recorded")
