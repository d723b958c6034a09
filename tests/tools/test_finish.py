from __future__ import annotations

from agentrun.tools.context import ToolContext
from agentrun.tools.finish import FINISH, finish
from agentrun.tools.invoke import invoke
from agentrun.tools.outcome import ToolOutcome
from agentrun.tools.registry import make_tool


def test_finish_returns_the_summary(ctx: ToolContext) -> None:
    t = make_tool(finish)
    assert (t.name, t.effect) == (FINISH, "read")
    assert invoke(t, {"outcome": "succeeded", "summary": "all done"}, ctx) == ToolOutcome(
        "all done"
    )


def test_finish_schema_limits_the_outcome(ctx: ToolContext) -> None:
    t = make_tool(finish)
    assert t.parameters["properties"]["outcome"]["enum"] == ["succeeded", "failed"]
    assert t.parameters["required"] == ["outcome", "summary"]
    outcome = invoke(t, {"outcome": "done", "summary": "x"}, ctx)
    assert outcome.is_error and 'must be one of "succeeded", "failed"' in outcome.output
