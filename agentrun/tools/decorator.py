"""The ``@tool`` decorator: effect class, reconcile function and name attached to a function.

It only attaches a ``ToolMeta`` record as ``fn.__agentrun_tool__``; the function is returned
unchanged, so calling it directly behaves as before. Schemas are derived later, at load time
(``agentrun.tools.schema``). No I/O here.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from agentrun.core.errors import ToolLoadError

if TYPE_CHECKING:
    from agentrun.tools.context import ToolContext

Effect = Literal["read", "idempotent", "side_effect"]
EFFECTS: tuple[Effect, ...] = ("read", "idempotent", "side_effect")

# Design §5: an undecorated function must not be repeated blindly, so side_effect is the default.
DEFAULT_EFFECT: Effect = "side_effect"

# What every provider accepts as a function name (OpenAI's limit is the strictest).
TOOL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")

TOOL_ATTR = "__agentrun_tool__"

F = TypeVar("F", bound=Callable[..., Any])
Reconcile = Callable[["ToolContext"], Any]


@dataclass(frozen=True, slots=True)
class ToolMeta:
    """What ``@tool`` says about a function; ``name`` is ``None`` to use the function's name."""

    effect: Effect = DEFAULT_EFFECT
    reconcile: Reconcile | None = None
    name: str | None = None


def where(fn: Callable[..., Any]) -> str:
    """``file:line`` of a function's definition, for error messages."""
    code = getattr(inspect.unwrap(fn), "__code__", None)
    if code is None:
        return getattr(fn, "__qualname__", repr(fn))
    return f"{code.co_filename}:{code.co_firstlineno}"


def meta_of(fn: Callable[..., Any]) -> ToolMeta:
    """The metadata attached by ``@tool``, or the defaults for an undecorated function."""
    meta = getattr(fn, TOOL_ATTR, None)
    return meta if isinstance(meta, ToolMeta) else ToolMeta()


def _check(fn: Callable[..., Any], meta: ToolMeta) -> None:
    label = f"{where(fn)}: @tool on {getattr(fn, '__name__', fn)!r}"
    if meta.effect not in EFFECTS:
        raise ToolLoadError(
            f"{label}: effect must be one of {', '.join(EFFECTS)}, not {meta.effect!r}"
        )
    if meta.name is not None and not TOOL_NAME.match(meta.name):
        raise ToolLoadError(
            f"{label}: name {meta.name!r} is not a valid tool name "
            "(letters, digits, '_' and '-', at most 64, not starting with a digit)"
        )
    if meta.reconcile is None:
        return
    if meta.effect != "side_effect":
        raise ToolLoadError(
            f"{label}: reconcile only applies to effect='side_effect' "
            f"(a {meta.effect} call is simply run again on resume)"
        )
    if not callable(meta.reconcile):
        raise ToolLoadError(f"{label}: reconcile must be a function taking the ToolContext")
    try:
        inspect.signature(meta.reconcile).bind(None)
    except TypeError:
        raise ToolLoadError(
            f"{label}: reconcile must accept exactly one argument, the ToolContext"
        ) from None
    except ValueError:  # no signature available (some builtins): trust the author
        pass


@overload
def tool(fn: F, /) -> F: ...


@overload
def tool(
    *,
    effect: Effect = DEFAULT_EFFECT,
    reconcile: Reconcile | None = None,
    name: str | None = None,
) -> Callable[[F], F]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    effect: Effect = DEFAULT_EFFECT,
    reconcile: Reconcile | None = None,
    name: str | None = None,
) -> Any:
    """Mark a function as a tool: ``@tool`` or ``@tool(effect=..., reconcile=..., name=...)``.

    ``effect`` is ``read`` (safe to run again), ``idempotent`` (running again with the same
    arguments is harmless) or ``side_effect`` (the default: never repeated blindly).
    ``reconcile(ctx)`` (side_effect only) returns the call's result if it already happened in the
    world, or ``None`` if it did not. Raises ``ToolLoadError`` at decoration time on bad values.
    """
    meta = ToolMeta(effect=effect, reconcile=reconcile, name=name)

    def attach(target: F) -> F:
        if not callable(target):
            raise ToolLoadError(f"@tool must decorate a function, not {target!r}")
        _check(target, meta)
        setattr(target, TOOL_ATTR, meta)
        return target

    if isinstance(fn, str):
        raise ToolLoadError(f"write @tool(effect={fn!r}), not @tool({fn!r})")
    if fn is not None:
        return attach(fn)
    return attach
