"""Fixtures for the models tests: a clean provider environment and a fake endpoint."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .fake_endpoints import FakeEndpoint, RecordingSleep

_PROVIDER_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL")
_PROXY_ENV = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


@pytest.fixture(autouse=True)
def clean_provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No real key or endpoint leaks in, and loopback traffic never goes through a proxy."""
    for name in _PROVIDER_ENV + _PROXY_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[FakeEndpoint]:
    with FakeEndpoint() as endpoint:
        yield endpoint


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()
