"""The vocabulary exchanged with models: messages, tool calls, tool specs, usage, replies.

Plain frozen records with ``to_dict``/``from_dict`` so events can carry them as msgpack maps.
No I/O here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]

# A provider that receives tool-call arguments that are not a JSON object stores the raw
# text under this key, so the loop can tell the model its call was malformed and go on.
INVALID_ARGUMENTS_KEY = "__invalid_arguments__"


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool call the model requested: provider-given ``id``, tool ``name``, JSON arguments."""

    id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "arguments": self.arguments}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolCall:
        return cls(
            id=data.get("id") or "",
            name=data.get("name") or "",
            arguments=dict(data.get("arguments") or {}),
        )


@dataclass(frozen=True, slots=True)
class Message:
    """One message of the conversation.

    ``tool_calls`` only on assistant messages; ``tool_call_id`` (and ``name``, the tool) only on
    tool messages, which carry the tool's output as ``content``.
    """

    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            data["tool_calls"] = [call.to_dict() for call in self.tool_calls]
        if self.tool_call_id is not None:
            data["tool_call_id"] = self.tool_call_id
        if self.name is not None:
            data["name"] = self.name
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        return cls(
            role=data["role"],
            content=data.get("content") or "",
            tool_calls=tuple(ToolCall.from_dict(c) for c in data.get("tool_calls") or ()),
            tool_call_id=data.get("tool_call_id"),
            name=data.get("name"),
        )


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """What the model sees of a tool: name, description and a JSON schema of its parameters."""

    name: str
    description: str
    parameters: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "parameters": self.parameters}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolSpec:
        return cls(data["name"], data.get("description", ""), dict(data.get("parameters") or {}))


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens of one model turn as the provider reported them (or as estimated)."""

    input_tokens: int = 0
    output_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Usage:
        return cls(int(data.get("input_tokens", 0)), int(data.get("output_tokens", 0)))


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """One model turn to request.

    ``turn`` is the 0-based number of model turns the task has already recorded; an offline
    scripted model uses it to pick its turn, so a resumed task continues the script. A
    ``summary`` request asks for a summary of old messages and is not a turn of the script.
    """

    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    turn: int = 0
    max_output_tokens: int | None = None
    purpose: str = "turn"  # or "summary": shrinking the context, not a step of the task


@dataclass(frozen=True, slots=True)
class ModelReply:
    """A complete model turn: the assistant message, usage, the model that answered, latency."""

    message: Message
    usage: Usage
    model: str
    latency_s: float = 0.0
