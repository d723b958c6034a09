"""Tools: the ``@tool`` decorator, schemas from signatures, ``ToolContext`` and built-in toolsets.

Uses only ``agentrun.core``. Tool authors need ``agentrun.tool``, ``agentrun.ToolContext`` and,
to fail with a clean message, ``agentrun.tools.ToolError``; the runtime uses ``load_toolbox``
(``loader``), ``invoke`` and ``reconcile`` (``invoke``). Nothing is imported eagerly here, so
that importing the decorator stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentrun.tools.outcome import ToolError

__all__ = ["ToolError"]


def __getattr__(name: str) -> Any:
    if name == "ToolError":
        from agentrun.tools.outcome import ToolError

        return ToolError
    raise AttributeError(name)
