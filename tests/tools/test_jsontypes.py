from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, Optional, Union

import pytest

from agentrun.tools.jsontypes import Mismatch, UnsupportedAnnotationError, json_type


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@pytest.mark.parametrize(
    ("annotation", "schema"),
    [
        (str, {"type": "string"}),
        (int, {"type": "integer"}),
        (float, {"type": "number"}),
        (bool, {"type": "boolean"}),
        (None, {"type": "null"}),
        (Any, {}),
        (list, {"type": "array"}),
        (list[str], {"type": "array", "items": {"type": "string"}}),
        (Sequence[int], {"type": "array", "items": {"type": "integer"}}),
        (set[str], {"type": "array", "items": {"type": "string"}, "uniqueItems": True}),
        (tuple[int, ...], {"type": "array", "items": {"type": "integer"}}),
        (
            tuple[str, int],
            {
                "type": "array",
                "prefixItems": [{"type": "string"}, {"type": "integer"}],
                "minItems": 2,
                "maxItems": 2,
            },
        ),
        (dict, {"type": "object"}),
        (dict[str, int], {"type": "object", "additionalProperties": {"type": "integer"}}),
        (
            Mapping[str, list[str]],
            {
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
            },
        ),
        (Literal["a", "b"], {"type": "string", "enum": ["a", "b"]}),
        (Literal[1, 2], {"type": "integer", "enum": [1, 2]}),
        (Literal["a", 1], {"enum": ["a", 1]}),
        (Color, {"type": "string", "enum": ["red", "blue"]}),
        (Level, {"type": "integer", "enum": [1, 2]}),
        (str | None, {"anyOf": [{"type": "string"}, {"type": "null"}]}),
        (Optional[int], {"anyOf": [{"type": "integer"}, {"type": "null"}]}),  # noqa: UP045
        (Union[int, str], {"anyOf": [{"type": "integer"}, {"type": "string"}]}),  # noqa: UP007
        (Annotated[int, "a count"], {"type": "integer"}),
        (
            list[dict[str, int | None]],
            {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                },
            },
        ),
    ],
)
def test_schema_of_annotation(annotation: Any, schema: dict[str, Any]) -> None:
    assert json_type(annotation).schema() == schema


@pytest.mark.parametrize(
    ("annotation", "match"),
    [
        (bytes, "bytes has no JSON form"),
        (complex, "complex has no JSON form"),
        (dict[int, str], "JSON object keys are str"),
        (list[bytes], "bytes has no JSON form"),
        (Literal[b"x"], "not JSON strings"),
        ("Undefined", "could not be resolved"),
    ],
)
def test_unsupported_annotations(annotation: Any, match: str) -> None:
    with pytest.raises(UnsupportedAnnotationError, match=match):
        json_type(annotation)


@pytest.mark.parametrize(
    ("annotation", "value", "expected"),
    [
        (int, 3, 3),
        (int, 3.0, 3),  # JSON Schema counts 3.0 as an integer
        (float, 2, 2.0),
        (bool, False, False),
        (Color, "blue", Color.BLUE),
        (Level, 2, Level.HIGH),
        (tuple[int, ...], [1, 2], (1, 2)),
        (tuple[str, int], ["a", 1], ("a", 1)),
        (set[int], [1, 1, 2], {1, 2}),
        (str | None, None, None),
        (dict[str, float], {"a": 1}, {"a": 1.0}),
        (Any, {"x": [1]}, {"x": [1]}),
    ],
)
def test_check_converts(annotation: Any, value: Any, expected: Any) -> None:
    result = json_type(annotation).check(value, "x")
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("annotation", "value", "message"),
    [
        (int, True, "argument 'x' must be an integer, got boolean"),
        (int, 1.5, "must be an integer, got number"),
        (float, True, "must be a number, got boolean"),
        (float, "1", "must be a number, got string"),
        (str, 1, "must be a string, got integer"),
        (bool, 1, "must be boolean, got integer"),
        (Literal["a", "b"], "c", 'must be one of "a", "b", got string'),
        (Literal[1], True, "must be one of 1, got boolean"),
        (list[str], ["a", 2], "argument 'x[1]' must be a string, got integer"),
        (tuple[str, int], ["a"], "must be an array of 2 items"),
        (dict[str, int], {"k": "v"}, "argument 'x.k' must be an integer"),
        (str | None, 3, "must be a string or null, got integer"),
    ],
)
def test_check_refuses_with_a_message(annotation: Any, value: Any, message: str) -> None:
    with pytest.raises(Mismatch) as info:
        json_type(annotation).check(value, "x")
    assert message in str(info.value)
