"""Python annotations as JSON types: the schema a model sees and the check of what it sends.

``json_type(annotation)`` compiles an annotation once into a small tree; each node gives its JSON
schema, a short human name ("array of string") and ``check(value, where)``, which returns the
value converted to what the function expects (an ``Enum`` member, a ``tuple``, a ``float``) or
raises ``Mismatch``. Keeping both in one node keeps the schema and the validation in step.
No I/O here.
"""

from __future__ import annotations

import enum
import inspect
import json
import types
import typing
from collections import abc
from dataclasses import dataclass
from typing import Any, Literal, Protocol

SUPPORTED = (
    "str, int, float, bool, None, list[X], tuple[X, ...], tuple[X, Y], set[X], dict[str, X], "
    "Literal[...], an Enum, X | Y, Annotated[X, 'description'] or Any"
)


class UnsupportedAnnotationError(TypeError):
    """An annotation has no JSON form; the message names it."""


class Mismatch(ValueError):
    """A value does not fit its JSON type; ``where`` is the argument path, e.g. ``paths[2]``."""

    def __init__(self, where: str, expected: str, value: Any):
        self.where = where
        self.expected = expected
        self.value = value
        super().__init__(f"argument {where!r} must be {expected}, got {json_name(value)}")


def json_name(value: Any) -> str:
    """The JSON type name of a decoded JSON value, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


class JsonType(Protocol):
    """One node of a compiled annotation."""

    def schema(self) -> dict[str, Any]: ...

    def describe(self) -> str: ...

    def accepts_null(self) -> bool: ...

    def check(self, value: Any, where: str) -> Any: ...


@dataclass(frozen=True, slots=True)
class AnyJson:
    def schema(self) -> dict[str, Any]:
        return {}

    def describe(self) -> str:
        return "any JSON value"

    def accepts_null(self) -> bool:
        return True

    def check(self, value: Any, where: str) -> Any:
        return value


_ARTICLE = {"string": "a string", "integer": "an integer", "number": "a number"}


@dataclass(frozen=True, slots=True)
class Primitive:
    kind: Literal["string", "integer", "number", "boolean", "null"]

    def schema(self) -> dict[str, Any]:
        return {"type": self.kind}

    def describe(self) -> str:
        return _ARTICLE.get(self.kind, self.kind)

    def accepts_null(self) -> bool:
        return self.kind == "null"

    def check(self, value: Any, where: str) -> Any:
        kind = self.kind
        if kind == "string" and isinstance(value, str):
            return value
        if kind == "boolean" and isinstance(value, bool):
            return value
        if kind == "null" and value is None:
            return None
        if isinstance(value, bool):  # bool is an int subclass; JSON keeps them apart
            raise Mismatch(where, self.describe(), value)
        if kind == "integer":
            if isinstance(value, int):
                return value
            # JSON Schema counts 2.0 as an integer; so do we.
            if isinstance(value, float) and value.is_integer():
                return int(value)
        if kind == "number" and isinstance(value, int | float):
            return float(value)
        raise Mismatch(where, self.describe(), value)


@dataclass(frozen=True, slots=True)
class Array:
    item: JsonType
    container: type = list
    unique: bool = False

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "array"}
        if item := self.item.schema():
            schema["items"] = item
        if self.unique:
            schema["uniqueItems"] = True
        return schema

    def describe(self) -> str:
        return (
            "an array" if isinstance(self.item, AnyJson) else f"an array of {self.item.describe()}"
        )

    def accepts_null(self) -> bool:
        return False

    def check(self, value: Any, where: str) -> Any:
        if not isinstance(value, list | tuple):
            raise Mismatch(where, self.describe(), value)
        items = [self.item.check(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if self.container is list:
            return items
        try:
            return self.container(items)
        except TypeError:  # unhashable items for a set
            raise Mismatch(where, self.describe(), value) from None


@dataclass(frozen=True, slots=True)
class FixedTuple:
    items: tuple[JsonType, ...]

    def schema(self) -> dict[str, Any]:
        return {
            "type": "array",
            "prefixItems": [item.schema() for item in self.items],
            "minItems": len(self.items),
            "maxItems": len(self.items),
        }

    def describe(self) -> str:
        return (
            f"an array of {len(self.items)} items ({', '.join(i.describe() for i in self.items)})"
        )

    def accepts_null(self) -> bool:
        return False

    def check(self, value: Any, where: str) -> Any:
        if not isinstance(value, list | tuple) or len(value) != len(self.items):
            raise Mismatch(where, self.describe(), value)
        return tuple(
            t.check(v, f"{where}[{i}]")
            for i, (t, v) in enumerate(zip(self.items, value, strict=True))
        )


@dataclass(frozen=True, slots=True)
class Object:
    values: JsonType

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "object"}
        if values := self.values.schema():
            schema["additionalProperties"] = values
        return schema

    def describe(self) -> str:
        if isinstance(self.values, AnyJson):
            return "an object"
        return f"an object of {self.values.describe()}"

    def accepts_null(self) -> bool:
        return False

    def check(self, value: Any, where: str) -> Any:
        if not isinstance(value, dict):
            raise Mismatch(where, self.describe(), value)
        return {k: self.values.check(v, f"{where}.{k}") for k, v in value.items()}


def _same_json_value(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


@dataclass(frozen=True, slots=True)
class Choice:
    """``Literal[...]`` or an ``Enum``: one of a fixed set of JSON scalars."""

    values: tuple[Any, ...]
    enum_class: type[enum.Enum] | None = None

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {}
        kinds = {json_name(v) for v in self.values}
        if len(kinds) == 1:
            schema["type"] = kinds.pop()
        schema["enum"] = list(self.values)
        return schema

    def describe(self) -> str:
        return "one of " + ", ".join(json.dumps(v) for v in self.values)

    def accepts_null(self) -> bool:
        return any(v is None for v in self.values)

    def check(self, value: Any, where: str) -> Any:
        for allowed in self.values:
            if _same_json_value(value, allowed):
                return self.enum_class(allowed) if self.enum_class else allowed
        raise Mismatch(where, self.describe(), value)


@dataclass(frozen=True, slots=True)
class AnyOf:
    options: tuple[JsonType, ...]

    def schema(self) -> dict[str, Any]:
        return {"anyOf": [option.schema() for option in self.options]}

    def describe(self) -> str:
        return " or ".join(option.describe() for option in self.options)

    def accepts_null(self) -> bool:
        return any(option.accepts_null() for option in self.options)

    def check(self, value: Any, where: str) -> Any:
        for option in self.options:
            try:
                return option.check(value, where)
            except Mismatch:
                continue
        raise Mismatch(where, self.describe(), value)


_PRIMITIVES: dict[Any, JsonType] = {
    str: Primitive("string"),
    int: Primitive("integer"),
    float: Primitive("number"),
    bool: Primitive("boolean"),
    None: Primitive("null"),
    type(None): Primitive("null"),
}
_ARRAYS = (list, abc.Sequence, abc.MutableSequence, abc.Iterable, abc.Collection)
_SETS = (set, frozenset, abc.Set, abc.MutableSet)
_MAPPINGS = (dict, abc.Mapping, abc.MutableMapping)
_SCALARS = (str, int, float, bool, type(None))


def _name(annotation: Any) -> str:
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__qualname__
    return repr(annotation).replace("typing.", "")


def _choice(values: tuple[Any, ...], annotation: Any) -> Choice:
    if not values or not all(isinstance(v, _SCALARS) for v in values):
        raise UnsupportedAnnotationError(
            f"{_name(annotation)} has values that are not JSON strings, numbers, booleans or null"
        )
    return Choice(values)


def json_type(annotation: Any) -> JsonType:
    """Compile an annotation; raises ``UnsupportedAnnotationError`` naming what is unsupported."""
    if annotation is inspect.Parameter.empty or annotation is Any:
        return AnyJson()
    if isinstance(annotation, str):
        raise UnsupportedAnnotationError(f"the annotation {annotation!r} could not be resolved")
    if annotation in _PRIMITIVES:
        return _PRIMITIVES[annotation]
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        values = tuple(member.value for member in annotation)
        return Choice(_choice(values, annotation).values, enum_class=annotation)

    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return json_type(args[0])
    if origin is Literal:
        return _choice(args, annotation)
    if origin in (typing.Union, types.UnionType):
        return AnyOf(tuple(json_type(arg) for arg in args))
    if annotation is tuple or origin is tuple:
        if not args:
            return Array(AnyJson(), container=tuple)
        if len(args) == 2 and args[1] is Ellipsis:
            return Array(json_type(args[0]), container=tuple)
        if args == ((),):  # tuple[()]
            return FixedTuple(())
        return FixedTuple(tuple(json_type(arg) for arg in args))
    if annotation in _ARRAYS or origin in _ARRAYS:
        return Array(json_type(args[0]) if args else AnyJson())
    if annotation in _SETS or origin in _SETS:
        container = frozenset if frozenset in (annotation, origin) else set
        return Array(json_type(args[0]) if args else AnyJson(), container=container, unique=True)
    if annotation in _MAPPINGS or origin in _MAPPINGS:
        if args and args[0] is not str:
            raise UnsupportedAnnotationError(
                f"{_name(annotation)} has keys of type {_name(args[0])}; JSON object keys are str"
            )
        return Object(json_type(args[1]) if args else AnyJson())
    raise UnsupportedAnnotationError(f"{_name(annotation)} has no JSON form; use {SUPPORTED}")
