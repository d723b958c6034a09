"""Calling a tool: check the arguments, inject the context, run it, turn the result into text.

Whatever the tool does, the caller gets a ``ToolOutcome``: exceptions become ``error: …`` for
the model (the traceback goes to ``ctx.logger`` at debug level, never to the user). Output is not
capped here; the runtime decides how much of it to keep in the conversation.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Mapping
from typing import Any

from agentrun.core.errors import ToolArgumentError, WorkspaceEscapeError
from agentrun.tools.context import ToolContext
from agentrun.tools.outcome import ToolError, ToolOutcome, render
from agentrun.tools.registry import Tool
from agentrun.tools.schema import validate_arguments

# Exceptions whose message is written for the model already; others get their type name.
_PLAIN_MESSAGE = (ToolError, ToolArgumentError, WorkspaceEscapeError)


def describe_exception(exc: BaseException) -> str:
    """``exc`` as the model should read it (without the ``error:`` prefix)."""
    text = str(exc)
    if isinstance(exc, _PLAIN_MESSAGE) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _run(fn: Any, /, *args: Any, **kwargs: Any) -> Any:
    result = fn(*args, **kwargs)
    if inspect.iscoroutine(result):  # an ``async def`` tool
        result = asyncio.run(result)
    return result


def invoke(tool: Tool, arguments: Mapping[str, Any], ctx: ToolContext) -> ToolOutcome:
    """Run ``tool`` with a model's ``arguments``; never raises for anything the tool does.

    ``KeyboardInterrupt`` is not caught: stopping is the runtime's decision (rule 29).
    """
    try:
        kwargs = validate_arguments(tool, arguments)
    except ToolArgumentError as exc:
        return ToolOutcome.failure(str(exc))
    if tool.signature.context_param is not None:
        kwargs[tool.signature.context_param] = ctx
    try:
        result = _run(tool.fn, **kwargs)
    except (Exception, SystemExit) as exc:  # a tool calling sys.exit must not end agentrun
        ctx.logger.debug("tool %s raised", tool.name, exc_info=True)
        return ToolOutcome.failure(describe_exception(exc))
    if isinstance(result, ToolOutcome):
        return result
    return ToolOutcome(render(result))


def reconcile(tool: Tool, ctx: ToolContext) -> ToolOutcome | None:
    """Ask a side-effect tool's reconcile function whether an in-doubt call happened (design §5).

    Returns the call's outcome if it did, ``None`` if it did not (then it is safe to run again).
    Exceptions propagate: a reconcile that cannot decide leaves the call in doubt. Raises
    ``ValueError`` if the tool has no reconcile function.
    """
    if tool.reconcile is None:
        raise ValueError(f"tool {tool.name} has no reconcile function")
    result = _run(tool.reconcile, ctx)
    if result is None or isinstance(result, ToolOutcome):
        return result
    return ToolOutcome(render(result))
