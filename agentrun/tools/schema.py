"""A function's signature and docstring as the JSON schema a model sees, and argument checks.

``derive_schema`` reads the signature (types via ``jsontypes``) and the docstring (via
``docstring``); a parameter annotated ``ToolContext`` or named ``ctx`` is injected by the runtime
and left out. ``validate_arguments`` checks what a model sent against it and returns the
arguments converted for the call; its messages are written for the model. No I/O here.
"""

from __future__ import annotations

import contextlib
import enum
import inspect
import json
import math
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentrun.core.conversation import INVALID_ARGUMENTS_KEY
from agentrun.core.errors import ToolArgumentError, ToolLoadError
from agentrun.tools.context import ToolContext
from agentrun.tools.docstring import parse_docstring
from agentrun.tools.jsontypes import JsonType, Mismatch, UnsupportedAnnotationError, json_type

if TYPE_CHECKING:
    from agentrun.tools.registry import Tool

CONTEXT_NAME = "ctx"
_SHOWN_RAW_CHARS = 200


@dataclass(frozen=True, slots=True)
class Parameter:
    """One parameter the model fills in."""

    name: str
    type: JsonType
    is_required: bool
    default: Any
    description: str

    def schema(self) -> dict[str, Any]:
        schema = self.type.schema()
        if self.description:
            schema["description"] = self.description
        if not self.is_required and (default := _json_default(self.default)) is not _NO_DEFAULT:
            schema["default"] = default
        return schema


@dataclass(frozen=True, slots=True)
class FunctionSchema:
    """What a function offers a model: description, parameters and their JSON schema."""

    description: str
    parameters: dict[str, Any]
    params: tuple[Parameter, ...]
    context_param: str | None
    # Derived from ``params`` once, for ``validate_arguments`` (called on every tool call).
    by_name: dict[str, Parameter] = field(init=False, repr=False, compare=False)
    required: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {p.name: p for p in self.params})
        object.__setattr__(self, "required", tuple(p.name for p in self.params if p.is_required))


_NO_DEFAULT = object()


def _json_default(value: Any) -> Any:
    """``value`` as JSON for the schema's ``default``, or ``_NO_DEFAULT`` if it has none."""
    if isinstance(value, enum.Enum):
        value = value.value
    elif isinstance(value, tuple):
        value = list(value)
    elif isinstance(value, set | frozenset):
        try:
            value = sorted(value)
        except TypeError:
            return _NO_DEFAULT
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return _NO_DEFAULT
    if isinstance(value, float) and not math.isfinite(value):
        return _NO_DEFAULT
    return value


def _is_context(annotation: Any) -> bool:
    if isinstance(annotation, str):  # unresolvable, e.g. imported under TYPE_CHECKING
        return re.search(r"\bToolContext\b", annotation) is not None
    if isinstance(annotation, type):
        return issubclass(annotation, ToolContext)
    # ``ToolContext | None`` or ``Annotated[ToolContext, ...]``
    return any(_is_context(arg) for arg in typing.get_args(annotation) if arg is not type(None))


def _resolve(fn: Callable[..., Any], params: list[inspect.Parameter]) -> dict[str, Any]:
    """The parameters' annotations, with strings (``from __future__ import annotations``) evaluated.

    A string that cannot be evaluated stays a string, so a ``ToolContext`` imported only under
    ``TYPE_CHECKING`` is still recognised; any other one is reported by ``json_type``.
    """
    try:
        return typing.get_type_hints(fn, include_extras=True)
    except Exception:  # one bad name: fall back to evaluating the annotations one by one
        pass
    namespace = getattr(inspect.unwrap(fn), "__globals__", {})
    hints: dict[str, Any] = {}
    for param in params:
        annotation = param.annotation
        if isinstance(annotation, str):
            with contextlib.suppress(Exception):  # what get_type_hints does, name by name
                annotation = eval(annotation, namespace)
        hints[param.name] = annotation
    return hints


def _described(annotation: Any) -> str:
    """The first string in ``Annotated[X, "text"]``, if any."""
    if typing.get_origin(annotation) is typing.Annotated:
        for extra in annotation.__metadata__:
            if isinstance(extra, str):
                return extra.strip()
    return ""


def derive_schema(fn: Callable[..., Any], *, name: str, where: str) -> FunctionSchema:
    """The schema of ``fn`` as tool ``name``; ``where`` (e.g. ``tools.py:12``) prefixes errors.

    Raises ``ToolLoadError`` for a signature a model cannot fill in: ``*args``, ``**kwargs``,
    positional-only parameters, two context parameters, or an annotation with no JSON form.
    """
    label = f"{where}: tool {name}"
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise ToolLoadError(f"{label}: cannot read its signature ({exc})") from None
    raw = list(signature.parameters.values())
    hints = _resolve(fn, raw)
    doc = parse_docstring(inspect.getdoc(fn))

    params: list[Parameter] = []
    context_param: str | None = None
    for param in raw:
        annotation = hints.get(param.name, param.annotation)
        if param.name == CONTEXT_NAME or _is_context(annotation):
            if context_param is not None:
                raise ToolLoadError(
                    f"{label}: parameters {context_param!r} and {param.name!r} both ask for the "
                    "ToolContext; keep one"
                )
            context_param = param.name
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            star = "*" if param.kind is param.VAR_POSITIONAL else "**"
            raise ToolLoadError(
                f"{label}: parameter {star}{param.name} cannot be filled in by a model; "
                "name each parameter"
            )
        if param.kind is param.POSITIONAL_ONLY:
            raise ToolLoadError(
                f"{label}: parameter {param.name!r} is positional-only; models pass arguments "
                "by name, so remove the '/'"
            )
        try:
            node = json_type(annotation)
        except UnsupportedAnnotationError as exc:
            raise ToolLoadError(f"{label}: parameter {param.name!r}: {exc}") from None
        is_required = param.default is inspect.Parameter.empty
        description = _described(annotation) or doc.params.get(param.name, "")
        params.append(Parameter(param.name, node, is_required, param.default, description))

    parameters: dict[str, Any] = {
        "type": "object",
        "properties": {p.name: p.schema() for p in params},
    }
    required = [p.name for p in params if p.is_required]
    if required:
        parameters["required"] = required
    parameters["additionalProperties"] = False
    return FunctionSchema(doc.description, parameters, tuple(params), context_param)


def _names(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names)


def validate_arguments(tool: Tool, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Check a model's arguments for ``tool``; return them converted for the call.

    Converts where the function asks for it (an ``Enum`` member, a ``tuple``, a ``float`` for an
    integer). A ``null`` for an optional parameter that does not accept null means "use the
    default". Raises ``ToolArgumentError`` with a message for the model.
    """
    label = f"tool {tool.name}"
    if type(arguments) is not dict and not isinstance(arguments, Mapping):  # an ABC check is slow
        raise ToolArgumentError(f"{label}: arguments must be a JSON object")
    if INVALID_ARGUMENTS_KEY in arguments:
        raw = str(arguments[INVALID_ARGUMENTS_KEY])
        if len(raw) > _SHOWN_RAW_CHARS:
            raw = raw[:_SHOWN_RAW_CHARS] + "…"
        raise ToolArgumentError(f"{label}: arguments were not valid JSON: {raw}")

    params = tool.signature.by_name
    if not arguments.keys() <= params.keys():
        unknown = [name for name in arguments if name not in params]
        expected = ", ".join(params) or "no arguments"
        noun = "argument" if len(unknown) == 1 else "arguments"
        raise ToolArgumentError(f"{label}: unknown {noun} {_names(unknown)}; expected: {expected}")

    missing = [name for name in tool.signature.required if name not in arguments]
    if missing:
        noun = "argument" if len(missing) == 1 else "arguments"
        raise ToolArgumentError(f"{label}: missing required {noun} {_names(missing)}")

    converted: dict[str, Any] = {}
    for name, value in arguments.items():
        param = params[name]
        if value is None and not param.is_required and not param.type.accepts_null():
            continue
        try:
            converted[name] = param.type.check(value, name)
        except Mismatch as exc:
            raise ToolArgumentError(f"{label}: {exc}") from None
    return converted
