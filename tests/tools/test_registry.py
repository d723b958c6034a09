from __future__ import annotations

import json
from typing import Any

import pytest

from agentrun.core.conversation import ToolSpec
from agentrun.core.errors import ToolArgumentError, ToolLoadError
from agentrun.tools.context import ToolContext
from agentrun.tools.decorator import tool
from agentrun.tools.registry import Toolbox, make_tool


@tool(effect="read")
def lookup(key: str) -> str:
    """Look a key up.

    Args:
        key: The key.
    """
    return key


def _never(ctx: ToolContext) -> Any:
    return None


@tool(effect="side_effect", reconcile=_never, name="send")
def send_message(text: str, ctx: ToolContext) -> str:
    """Send a message."""
    return text


def plain(x: int) -> int:
    return x


def test_make_tool_reads_decorator_and_signature() -> None:
    t = make_tool(send_message)
    assert (t.name, t.effect, t.reconcile, t.wants_ctx) == ("send", "side_effect", _never, True)
    assert t.description == "Send a message."
    assert t.spec() == ToolSpec("send", "Send a message.", t.parameters)
    assert "test_registry.py:" in t.source


def test_undecorated_function_is_a_side_effect_without_context() -> None:
    t = make_tool(plain, source="tools.py:3")
    assert (t.effect, t.wants_ctx, t.source) == ("side_effect", False, "tools.py:3")


def test_toolbox_keeps_order_and_offers_specs() -> None:
    box = Toolbox([make_tool(lookup), make_tool(send_message), make_tool(plain)])
    assert list(box) == ["lookup", "send", "plain"] == list(box.names())
    assert len(box) == 3 and "send" in box and "nope" not in box
    assert [s.name for s in box.specs()] == ["lookup", "send", "plain"]
    assert box["lookup"].fn is lookup


def test_manifest_is_plain_data() -> None:
    manifest = Toolbox([make_tool(lookup), make_tool(send_message)]).manifest()
    assert manifest[0] == {
        "name": "lookup",
        "description": "Look a key up.",
        "parameters": {
            "type": "object",
            "properties": {"key": {"type": "string", "description": "The key."}},
            "required": ["key"],
            "additionalProperties": False,
        },
        "effect": "read",
        "has_reconcile": False,
    }
    assert manifest[1]["has_reconcile"] is True
    assert json.loads(json.dumps(manifest)) == manifest


def test_manifest_survives_msgpack() -> None:
    msgpack = pytest.importorskip("msgpack")
    manifest = Toolbox([make_tool(lookup), make_tool(send_message)]).manifest()
    assert msgpack.unpackb(msgpack.packb(manifest)) == manifest


def test_unknown_tool_is_explained_to_the_model() -> None:
    box = Toolbox([make_tool(lookup)])
    with pytest.raises(ToolArgumentError, match=r"unknown tool 'lokup'; available: lookup"):
        box.get("lokup")


def test_duplicate_names_name_both_sources() -> None:
    first = make_tool(lookup, source="tools.py:1")
    second = make_tool(lookup, source="more_tools.py:9")
    with pytest.raises(
        ToolLoadError, match=r"'lookup' is defined twice: in tools\.py:1 and in more_tools\.py:9"
    ):
        Toolbox([first, second])


def test_lambda_has_no_tool_name() -> None:
    with pytest.raises(ToolLoadError, match="not a valid tool name"):
        make_tool(lambda: None)
