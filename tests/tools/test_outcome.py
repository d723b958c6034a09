from __future__ import annotations

import dataclasses
import enum
from pathlib import Path
from typing import Any

import pytest

from agentrun.tools import ToolError as Exported
from agentrun.tools.outcome import ToolError, ToolOutcome, render


class Colour(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Opaque:
    def __str__(self) -> str:
        return "opaque!"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("plain text", "plain text"),
        ("", ""),
        (None, "null"),
        (3, "3"),
        (True, "true"),
        ({"a": [1, "é"]}, '{"a": [1, "é"]}'),
        ((1, 2), "[1, 2]"),
        (b"bytes \xff", "bytes \ufffd"),
        (Point(1, 2), '{"x": 1, "y": 2}'),
        ({"c": Colour.RED, "p": Path("a/b")}, '{"c": "red", "p": "a/b"}'),
        ({3, 1}, "[1, 3]"),
        (Opaque(), '"opaque!"'),
    ],
)
def test_render(value: Any, text: str) -> None:
    assert render(value) == text


def test_render_never_fails() -> None:
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    assert render(cyclic) == "[[...]]"


def test_failure_outcome() -> None:
    assert ToolOutcome.failure("boom") == ToolOutcome("error: boom", is_error=True)
    assert ToolOutcome("x").to_dict() == {"output": "x", "is_error": False}


def test_tool_error_is_exported_from_the_package() -> None:
    assert Exported is ToolError
