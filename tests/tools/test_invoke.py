from __future__ import annotations

import logging
import sys
from typing import Any

import pytest

from agentrun.core.conversation import INVALID_ARGUMENTS_KEY
from agentrun.core.errors import WorkspaceEscapeError
from agentrun.tools.context import ToolContext
from agentrun.tools.decorator import tool
from agentrun.tools.invoke import invoke, reconcile
from agentrun.tools.outcome import ToolError, ToolOutcome
from agentrun.tools.registry import make_tool

calls: list[dict[str, Any]] = []


def record(text: str, times: int = 1, *, ctx: ToolContext) -> str:
    calls.append({"text": text, "times": times, "key": ctx.idempotency_key})
    return text * times


def fails(kind: str) -> str:
    if kind == "value":
        raise ValueError("bad value")
    if kind == "tool":
        raise ToolError("the file is locked")
    if kind == "escape":
        raise WorkspaceEscapeError("path '../x' leaves the workspace")
    if kind == "exit":
        sys.exit(3)
    if kind == "bare":
        raise RuntimeError
    return "ok"


def structured(n: int) -> dict[str, int]:
    return {"n": n}


def explicit(flag: bool) -> ToolOutcome:
    return ToolOutcome("custom", is_error=flag)


async def later(x: int) -> int:
    return x + 1


def test_arguments_are_validated_and_context_injected(ctx: ToolContext) -> None:
    calls.clear()
    outcome = invoke(make_tool(record), {"text": "ab", "times": 2}, ctx)
    assert outcome == ToolOutcome("abab")
    assert calls == [{"text": "ab", "times": 2, "key": "agentrun-t1-c1-7"}]


def test_invalid_arguments_become_an_error_outcome_without_running(ctx: ToolContext) -> None:
    calls.clear()
    outcome = invoke(make_tool(record), {"times": 2}, ctx)
    assert outcome == ToolOutcome("error: tool record: missing required argument 'text'", True)
    outcome = invoke(make_tool(record), {INVALID_ARGUMENTS_KEY: "{oops"}, ctx)
    assert outcome.output == "error: tool record: arguments were not valid JSON: {oops"
    assert calls == []


@pytest.mark.parametrize(
    ("kind", "output"),
    [
        ("value", "error: ValueError: bad value"),
        ("tool", "error: the file is locked"),
        ("escape", "error: path '../x' leaves the workspace"),
        ("exit", "error: SystemExit: 3"),
        ("bare", "error: RuntimeError"),
    ],
)
def test_exceptions_become_error_outcomes(ctx: ToolContext, kind: str, output: str) -> None:
    assert invoke(make_tool(fails), {"kind": kind}, ctx) == ToolOutcome(output, is_error=True)


def test_traceback_goes_to_the_logger_only(
    ctx: ToolContext, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    with caplog.at_level(logging.DEBUG, logger="agentrun.tool"):
        invoke(make_tool(fails), {"kind": "value"}, ctx)
    assert "Traceback" in caplog.text
    assert capsys.readouterr() == ("", "")


def test_keyboard_interrupt_is_not_swallowed(ctx: ToolContext) -> None:
    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        invoke(make_tool(interrupted), {}, ctx)


def test_return_values_become_text(ctx: ToolContext) -> None:
    assert invoke(make_tool(structured), {"n": 2}, ctx) == ToolOutcome('{"n": 2}')
    assert invoke(make_tool(explicit), {"flag": True}, ctx) == ToolOutcome("custom", True)
    assert invoke(make_tool(later), {"x": 1}, ctx) == ToolOutcome("2")


def test_huge_outputs_are_not_capped_here(ctx: ToolContext) -> None:
    def big() -> str:
        return "x" * 5_000_000

    assert len(invoke(make_tool(big), {}, ctx).output) == 5_000_000


def test_reconcile(ctx: ToolContext) -> None:
    seen: list[str] = []

    def check(c: ToolContext) -> Any:
        seen.append(c.idempotency_key)
        return {"id": 7} if c.call_id == "done" else None

    @tool(reconcile=check)
    def post(text: str) -> str:
        return text

    t = make_tool(post)
    assert reconcile(t, ctx) is None
    done = ToolContext(task_id="t1", call_id="done", workspace=ctx.workspace)
    assert reconcile(t, done) == ToolOutcome('{"id": 7}')
    assert seen == ["agentrun-t1-c1-7", "agentrun-t1-done"]
    with pytest.raises(ValueError, match="no reconcile"):
        reconcile(make_tool(structured), ctx)
