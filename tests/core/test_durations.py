"""Durations as people type them."""

from __future__ import annotations

import pytest

from agentrun.core.durations import format_duration, parse_duration
from agentrun.core.errors import UsageError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30d", 30 * 86400),
        ("55m", 3300),
        ("2h", 7200),
        ("1h30m", 5400),
        ("90s", 90),
        ("1.5h", 5400),
    ],
)
def test_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "5", "m", "5x", "-3h", "5m junk", "99999999999d", "5300w"])
def test_malformed_durations_are_usage_errors(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_duration(bad)


def test_format_is_short() -> None:
    assert format_duration(0.25) == "250ms"
    assert format_duration(192) == "3m12s"
    assert format_duration(3 * 86400 + 4 * 3600) == "3d04h"
