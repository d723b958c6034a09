"""agentrun: durable execution for AI agents on the command line.

The public API for tool authors is ``tool`` and ``ToolContext``; they are loaded lazily so that
``agentrun --help`` does not pay for the tools layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from agentrun.tools.context import ToolContext
    from agentrun.tools.decorator import tool

__all__ = ["ToolContext", "__version__", "tool"]


def __getattr__(name: str) -> Any:
    if name == "tool":
        from agentrun.tools.decorator import tool

        return tool
    if name == "ToolContext":
        from agentrun.tools.context import ToolContext

        return ToolContext
    raise AttributeError(name)
