from __future__ import annotations

import enum
import re
from typing import Annotated, Any, Literal

import pytest

from agentrun.core.conversation import INVALID_ARGUMENTS_KEY
from agentrun.core.errors import ToolArgumentError, ToolLoadError
from agentrun.tools.context import ToolContext
from agentrun.tools.registry import make_tool
from agentrun.tools.schema import derive_schema, validate_arguments


class Mode(enum.Enum):
    FAST = "fast"
    SAFE = "safe"


def write_file(path: str, content: str, mode: Mode = Mode.SAFE, *, ctx: ToolContext) -> str:
    """Write a file.

    Args:
        path: Where, relative to the workspace.
        content: What to write.
    """
    return path


def search(
    pattern: str,
    limit: int = 10,
    paths: tuple[str, ...] = (),
    kind: Literal["text", "code"] | None = None,
    scale: float = 1.0,
    note: Annotated[str, "Free text."] = "",
) -> str:
    """Search.

    :param pattern: A regex.
    :param note: Overridden by Annotated.
    """
    return pattern


def schema_of(fn: Any) -> dict[str, Any]:
    return derive_schema(fn, name=fn.__name__, where="here").parameters


def test_parameters_descriptions_defaults_and_required() -> None:
    derived = derive_schema(write_file, name="write_file", where="here")
    assert derived.description == "Write a file."
    assert derived.context_param == "ctx"
    assert derived.parameters == {
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "Where, relative to the workspace."},
            "content": {"type": "string", "description": "What to write."},
            "mode": {"type": "string", "enum": ["fast", "safe"], "default": "safe"},
        },
        "required": ["path", "content"],
        "additionalProperties": False,
    }


def test_rest_docstring_annotated_and_json_defaults() -> None:
    props = schema_of(search)["properties"]
    assert props["pattern"]["description"] == "A regex."
    assert props["note"] == {"type": "string", "description": "Free text.", "default": ""}
    assert props["paths"]["default"] == []
    assert props["kind"]["default"] is None
    assert schema_of(search)["required"] == ["pattern"]


def test_no_parameters_has_no_required_list() -> None:
    def ping() -> str:
        return "pong"

    assert schema_of(ping) == {"type": "object", "properties": {}, "additionalProperties": False}


def test_context_is_injected_by_annotation_or_name() -> None:
    def by_type(x: int, context: ToolContext) -> None: ...

    def by_name(ctx, x: int) -> None: ...  # type: ignore[no-untyped-def]

    # As with ``if TYPE_CHECKING: import agentrun``: the string cannot be evaluated.
    def by_string(x: int, c: agentrun.ToolContext) -> None: ...  # type: ignore[name-defined]  # noqa: F821

    def optional(x: int, c: agentrun.ToolContext | None = None) -> None: ...  # type: ignore[name-defined]  # noqa: F821

    cases = [(by_type, "context"), (by_name, "ctx"), (by_string, "c"), (optional, "c")]
    for fn, param in cases:
        derived = derive_schema(fn, name="f", where="here")
        assert derived.context_param == param
        assert list(derived.parameters["properties"]) == ["x"]


def test_unannotated_parameter_accepts_any_json() -> None:
    def f(x) -> None: ...  # type: ignore[no-untyped-def]

    assert schema_of(f)["properties"] == {"x": {}}


@pytest.mark.parametrize(
    ("source", "match"),
    [
        ("def f(*args: int) -> None: ...", r"\*args cannot be filled in"),
        ("def f(**kw: int) -> None: ...", r"\*\*kw cannot be filled in"),
        ("def f(a: int, /) -> None: ...", "positional-only"),
        ("def f(a: bytes) -> None: ...", "parameter 'a': bytes has no JSON form"),
        ("def f(a: 'Nope') -> None: ...", "parameter 'a': the annotation 'Nope' could not be"),
        ("def f(ctx, c: ToolContext) -> None: ...", "both ask for the ToolContext"),
    ],
)
def test_unusable_signatures_name_the_tool(source: str, match: str) -> None:
    namespace: dict[str, Any] = {"ToolContext": ToolContext}
    exec(source, namespace)
    with pytest.raises(ToolLoadError, match=f"tools.py:3: tool f: .*{match}"):
        derive_schema(namespace["f"], name="f", where="tools.py:3")


# validate_arguments


WRITE = make_tool(write_file)
SEARCH = make_tool(search)


def test_valid_arguments_are_converted() -> None:
    args = validate_arguments(SEARCH, {"pattern": "x", "limit": 5.0, "paths": ["a", "b"]})
    assert args == {"pattern": "x", "limit": 5, "paths": ("a", "b")}
    assert (
        validate_arguments(WRITE, {"path": "p", "content": "c", "mode": "fast"})["mode"]
        is Mode.FAST
    )


def test_null_for_an_optional_parameter_means_its_default() -> None:
    assert validate_arguments(SEARCH, {"pattern": "x", "limit": None, "kind": None}) == {
        "pattern": "x",
        "kind": None,  # kind accepts null, so null is a value
    }


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        (WRITE, {"content": "c"}, "tool write_file: missing required argument 'path'"),
        (WRITE, {}, "tool write_file: missing required arguments 'path', 'content'"),
        (
            WRITE,
            {"path": "p", "content": "c", "colour": 1},
            "tool write_file: unknown argument 'colour'; expected: path, content, mode",
        ),
        (WRITE, {"path": "p", "content": "c", "ctx": 1}, "unknown argument 'ctx'"),
        (
            WRITE,
            {"path": 3, "content": "c"},
            "tool write_file: argument 'path' must be a string, got integer",
        ),
        (
            WRITE,
            {"path": "p", "content": "c", "mode": "slow"},
            'must be one of "fast", "safe", got string',
        ),
        (
            SEARCH,
            {"pattern": "x", "limit": True},
            "argument 'limit' must be an integer, got boolean",
        ),
        (SEARCH, {"pattern": "x", "scale": "2"}, "argument 'scale' must be a number, got string"),
        (WRITE, {"path": None, "content": "c"}, "argument 'path' must be a string, got null"),
        (WRITE, ["p", "c"], "tool write_file: arguments must be a JSON object"),
    ],
)
def test_invalid_arguments_are_explained_to_the_model(
    tool: Any, arguments: Any, message: str
) -> None:
    with pytest.raises(ToolArgumentError) as info:
        validate_arguments(tool, arguments)
    assert str(info.value) == message or message in str(info.value)


def test_floats_accept_ints_but_ints_are_not_bools() -> None:
    assert validate_arguments(SEARCH, {"pattern": "x", "scale": 2})["scale"] == 2.0


def test_arguments_that_were_not_json() -> None:
    raw = '{"path": "a.txt", "content": "unterminated'
    with pytest.raises(
        ToolArgumentError,
        match=re.escape('tool write_file: arguments were not valid JSON: {"path"'),
    ):
        validate_arguments(WRITE, {INVALID_ARGUMENTS_KEY: raw})


def test_long_invalid_json_is_shortened() -> None:
    with pytest.raises(ToolArgumentError) as info:
        validate_arguments(WRITE, {INVALID_ARGUMENTS_KEY: "x" * 10_000})
    assert len(str(info.value)) < 300
