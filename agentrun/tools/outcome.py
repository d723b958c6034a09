"""What a tool call gives back to the model: ``ToolOutcome``, and ``ToolError`` to fail cleanly.

A tool that raises ``ToolError("message")`` produces the outcome ``error: message``; any other
exception also becomes an error outcome, with its type name (see ``invoke``). No I/O here.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
from dataclasses import dataclass
from typing import Any


class ToolError(Exception):
    """Raise from a tool to tell the model it failed; the message is all the model sees."""


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """The text the model reads as the tool's result; ``is_error`` if the call failed."""

    output: str
    is_error: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"output": self.output, "is_error": self.is_error}

    @classmethod
    def failure(cls, message: str) -> ToolOutcome:
        return cls(f"error: {message}", is_error=True)


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, set | frozenset):
        try:
            return sorted(value)
        except TypeError:
            return list(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def render(value: Any) -> str:
    """A tool's return value as text: a ``str`` as is, anything else as JSON.

    Never fails: a value JSON cannot hold falls back to ``str`` piece by piece, because the call
    has already happened and must not be reported as failed.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    try:
        return json.dumps(value, ensure_ascii=False, default=_jsonable)
    except (TypeError, ValueError, RecursionError):
        return str(value)
