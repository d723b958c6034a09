"""Helpers shared by the providers: token estimates and tool-argument parsing."""

from __future__ import annotations

import pytest

from agentrun.core.conversation import INVALID_ARGUMENTS_KEY, Message, ToolCall
from agentrun.core.tokens import MESSAGE_OVERHEAD
from agentrun.models.base import estimate_message_tokens, estimate_tokens, parse_tool_arguments


@pytest.mark.parametrize(("text", "tokens"), [("", 0), ("a", 1), ("abcd", 1), ("abcde", 2)])
def test_estimate_tokens_is_about_four_characters_each(text: str, tokens: int) -> None:
    assert estimate_tokens(text) == tokens


def test_estimate_message_tokens_counts_tool_calls() -> None:
    plain = Message("assistant", "12345678")
    calling = Message("assistant", "12345678", (ToolCall("c", "ls", {"path": "."}),))

    assert estimate_message_tokens([plain]) == 2 + MESSAGE_OVERHEAD
    assert estimate_message_tokens([calling]) > 2 + MESSAGE_OVERHEAD


@pytest.mark.parametrize(
    ("raw", "arguments"),
    [
        ('{"path": "a"}', {"path": "a"}),
        ("", {}),
        ("  ", {}),
        ('{"path": ', {INVALID_ARGUMENTS_KEY: '{"path": '}),
        ('"a string"', {INVALID_ARGUMENTS_KEY: '"a string"'}),
        ("null", {INVALID_ARGUMENTS_KEY: "null"}),
    ],
)
def test_parse_tool_arguments(raw: str, arguments: dict[str, object]) -> None:
    assert parse_tool_arguments(raw) == arguments
