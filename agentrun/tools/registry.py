"""``Tool`` (one callable with its schema and effect class) and ``Toolbox`` (the tools of a task).

A ``Toolbox`` is what the runtime offers the model (``specs``) and records in ``task_created``
(``manifest``). Building one from entries of an agent spec is ``loader``'s job; calling a tool is
``invoke``'s. No I/O here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from agentrun.core.conversation import ToolSpec
from agentrun.core.errors import ToolArgumentError, ToolLoadError
from agentrun.tools.decorator import TOOL_NAME, Effect, Reconcile, meta_of, where
from agentrun.tools.schema import FunctionSchema, derive_schema


@dataclass(frozen=True, slots=True, eq=False)
class Tool:
    """A tool: what the model sees (name, description, parameters) and how to run it.

    ``source`` says where it was defined (``tools.py:12`` or ``built-in toolset files``), for
    messages only; it is not part of the manifest.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    effect: Effect
    fn: Callable[..., Any]
    reconcile: Reconcile | None
    wants_ctx: bool
    signature: FunctionSchema = field(repr=False)
    source: str = ""

    def spec(self) -> ToolSpec:
        """The tool as a model sees it."""
        return ToolSpec(self.name, self.description, self.parameters)

    def manifest_entry(self) -> dict[str, Any]:
        """Plain data for the log (msgpack-safe): name, description, parameters, effect."""
        return {
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
            "effect": self.effect,
            "has_reconcile": self.reconcile is not None,
        }


def make_tool(fn: Callable[..., Any], *, source: str | None = None) -> Tool:
    """Build a ``Tool`` from a function, decorated with ``@tool`` or not (then ``side_effect``).

    Raises ``ToolLoadError`` naming the function's file and line for a signature a model cannot
    fill in.
    """
    meta = meta_of(fn)
    name = meta.name or getattr(fn, "__name__", "")
    location = source or where(fn)
    if not TOOL_NAME.match(name):
        raise ToolLoadError(f"{location}: {name!r} is not a valid tool name; use @tool(name=...)")
    schema = derive_schema(fn, name=name, where=location)
    return Tool(
        name=name,
        description=schema.description,
        parameters=schema.parameters,
        effect=meta.effect,
        fn=fn,
        reconcile=meta.reconcile,
        wants_ctx=schema.context_param is not None,
        signature=schema,
        source=location,
    )


class Toolbox:
    """The tools of a task by name, in the order they were given.

    Raises ``ToolLoadError`` on two tools with one name, naming both sources.
    """

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            if (first := self._tools.get(tool.name)) is not None:
                raise ToolLoadError(
                    f"tool {tool.name!r} is defined twice: in {first.source} and in "
                    f"{tool.source}; rename one, e.g. with @tool(name=...)"
                )
            self._tools[tool.name] = tool

    def get(self, name: str) -> Tool:
        """The tool called ``name``; ``ToolArgumentError`` (for the model) if there is none."""
        try:
            return self._tools[name]
        except KeyError:
            available = ", ".join(self._tools) or "none"
            raise ToolArgumentError(f"unknown tool {name!r}; available: {available}") from None

    def __getitem__(self, name: str) -> Tool:
        return self._tools[name]

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[str]:
        return iter(self._tools)

    def __len__(self) -> int:
        return len(self._tools)

    def __repr__(self) -> str:
        return f"Toolbox({', '.join(self._tools)})"

    def names(self) -> tuple[str, ...]:
        return tuple(self._tools)

    def tools(self) -> tuple[Tool, ...]:
        return tuple(self._tools.values())

    def specs(self) -> tuple[ToolSpec, ...]:
        """What the model is offered, in order."""
        return tuple(tool.spec() for tool in self._tools.values())

    def manifest(self) -> list[dict[str, Any]]:
        """The tools as plain data for ``task_created`` (design §4)."""
        return [tool.manifest_entry() for tool in self._tools.values()]
