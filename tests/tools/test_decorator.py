from __future__ import annotations

from typing import Any

import pytest

from agentrun import tool as exported_tool
from agentrun.core.errors import ToolLoadError
from agentrun.tools.context import ToolContext
from agentrun.tools.decorator import TOOL_ATTR, ToolMeta, meta_of, tool


def test_bare_decorator_keeps_function_and_defaults_to_side_effect() -> None:
    @tool
    def add(a: int, b: int) -> int:
        return a + b

    assert add(2, 3) == 5
    assert getattr(add, TOOL_ATTR) == ToolMeta(effect="side_effect")


def test_called_decorator_records_effect_reconcile_and_name() -> None:
    def check(ctx: ToolContext) -> Any:
        return None

    @tool(effect="side_effect", reconcile=check, name="post")
    def post_message(text: str) -> str:
        return text

    assert post_message("hi") == "hi"
    assert meta_of(post_message) == ToolMeta("side_effect", check, "post")


@pytest.mark.parametrize("effect", ["read", "idempotent", "side_effect"])
def test_every_effect_class_is_accepted(effect: Any) -> None:
    @tool(effect=effect)
    def f() -> None: ...

    assert meta_of(f).effect == effect


def test_undecorated_function_gets_the_defaults() -> None:
    def f() -> None: ...

    assert meta_of(f) == ToolMeta(effect="side_effect", reconcile=None, name=None)


def test_bad_effect_is_refused_at_decoration_naming_the_function() -> None:
    with pytest.raises(ToolLoadError, match=r"test_decorator\.py:\d+: @tool on 'f': effect must"):

        @tool(effect="write")  # type: ignore[arg-type]
        def f() -> None: ...


def test_positional_string_is_refused_with_the_right_spelling() -> None:
    with pytest.raises(ToolLoadError, match=r"@tool\(effect='read'\)"):
        tool("read")  # type: ignore[call-overload]


@pytest.mark.parametrize("name", ["", "has space", "9lives", "x" * 65, "dots.not.allowed"])
def test_bad_name_is_refused(name: str) -> None:
    with pytest.raises(ToolLoadError, match="not a valid tool name"):
        tool(name=name)(lambda: None)


def test_reconcile_only_for_side_effects() -> None:
    with pytest.raises(ToolLoadError, match="reconcile only applies"):
        tool(effect="idempotent", reconcile=lambda ctx: None)(lambda: None)


def test_reconcile_must_take_the_context() -> None:
    with pytest.raises(ToolLoadError, match="exactly one argument"):
        tool(reconcile=lambda: None)(lambda: None)


def test_package_exports_the_decorator() -> None:
    assert exported_tool is tool
