"""The scripted provider: plays JSON or TOML scripts turn by turn, offline."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentrun.core.conversation import Message, ModelRequest, ToolCall, Usage
from agentrun.core.errors import ModelError, SpecError
from agentrun.core.tokens import MESSAGE_OVERHEAD
from agentrun.models import scripted as scripted_module
from agentrun.models.options import ModelOptions
from agentrun.models.scripted import ScriptedModel

from .fake_endpoints import RecordingSleep

SCRIPT = {
    "turns": [
        {
            "content": "Let me look.",
            "tool_calls": [
                {"name": "list_files", "arguments": {"path": "."}},
                {"name": "read_file", "arguments": {"path": "a.txt"}},
            ],
        },
        {"tool_calls": [{"name": "write_file", "arguments": {"path": "b.txt", "text": "x"}}]},
        {"content": "Done.", "usage": {"input_tokens": 120, "output_tokens": 3}},
    ]
}

SCRIPT_TOML = """
[[turns]]
content = "Let me look."
[[turns.tool_calls]]
name = "list_files"
arguments = { path = "." }
[[turns.tool_calls]]
name = "read_file"
arguments = { path = "a.txt" }

[[turns]]
[[turns.tool_calls]]
name = "write_file"
arguments = { path = "b.txt", text = "x" }

[[turns]]
content = "Done."
usage = { input_tokens = 120, output_tokens = 3 }
"""


def request(turn: int) -> ModelRequest:
    return ModelRequest(messages=(Message("user", "Tidy the notes, please."),), turn=turn)


def scripted(path: Path, sleep: RecordingSleep | None = None) -> ScriptedModel:
    options = ModelOptions(sleep=sleep or RecordingSleep())
    return ScriptedModel(name=f"scripted:{path.name}", path=path, options=options)


@pytest.fixture(params=["json", "toml"])
def script_path(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    if request.param == "json":
        path = tmp_path / "script.json"
        path.write_text(json.dumps(SCRIPT))
    else:
        path = tmp_path / "script.toml"
        path.write_text(SCRIPT_TOML)
    return path


def test_first_turn_plays_content_and_tool_calls(script_path: Path) -> None:
    reply = scripted(script_path).complete(request(0))

    assert reply.message == Message(
        role="assistant",
        content="Let me look.",
        tool_calls=(
            ToolCall("call_0_0", "list_files", {"path": "."}),
            ToolCall("call_0_1", "read_file", {"path": "a.txt"}),
        ),
    )
    assert reply.model == f"scripted:{script_path.name}"


@pytest.mark.parametrize("turn", [0, 1, 2])
def test_request_turn_selects_the_script_turn(script_path: Path, turn: int) -> None:
    # A resumed task asks for turn N directly; earlier turns need not have been played.
    reply = scripted(script_path).complete(request(turn))

    expected = [["list_files", "read_file"], ["write_file"], []][turn]
    assert [call.name for call in reply.message.tool_calls] == expected
    assert all(call.id.startswith(f"call_{turn}_") for call in reply.message.tool_calls)


def test_replies_are_deterministic(script_path: Path) -> None:
    first = scripted(script_path).complete(request(1))
    second = scripted(script_path).complete(request(1))

    assert (first.message, first.usage) == (second.message, second.usage)


def test_usage_from_the_script(script_path: Path) -> None:
    assert scripted(script_path).complete(request(2)).usage == Usage(120, 3)


def test_usage_estimated_without_one(script_path: Path) -> None:
    usage = scripted(script_path).complete(request(0)).usage

    assert usage.input_tokens == 6 + MESSAGE_OVERHEAD  # 23 characters at ~4 per token
    assert usage.output_tokens > 0


def test_text_is_reported_through_on_text(script_path: Path) -> None:
    deltas: list[str] = []

    scripted(script_path).complete(request(0), on_text=deltas.append)
    scripted(script_path).complete(request(1), on_text=deltas.append)

    assert deltas == ["Let me look."]


def test_delay_is_slept_before_answering(tmp_path: Path) -> None:
    path = tmp_path / "slow.json"
    path.write_text(json.dumps({"turns": [{"content": "zzz", "delay_s": 2.5}]}))
    sleep = RecordingSleep()

    scripted(path, sleep).complete(request(0))

    assert sleep.calls == [2.5]


def test_real_delay_takes_its_time(tmp_path: Path) -> None:
    path = tmp_path / "slow.toml"
    path.write_text("[[turns]]\ncontent = 'zzz'\ndelay_s = 0.2\n")
    model = ScriptedModel(name="scripted:slow.toml", path=path)

    assert model.complete(request(0)).latency_s >= 0.2


def test_past_the_last_turn_is_a_model_error(script_path: Path) -> None:
    with pytest.raises(ModelError, match="has 3 turns") as caught:
        scripted(script_path).complete(request(3))

    assert str(script_path) in str(caught.value)
    assert "turn 4" in str(caught.value)


def test_script_is_read_once(tmp_path: Path) -> None:
    path = tmp_path / "script.json"
    path.write_text(json.dumps({"turns": [{"content": "first"}]}))
    model = scripted(path)
    model.complete(request(0))

    path.write_text(json.dumps({"turns": [{"content": "changed"}]}))

    assert model.complete(request(0)).message.content == "first"


def test_mutating_a_reply_does_not_change_the_script(script_path: Path) -> None:
    model = scripted(script_path)
    model.complete(request(0)).message.tool_calls[0].arguments["path"] = "/etc"

    assert model.complete(request(0)).message.tool_calls[0].arguments == {"path": "."}


def test_missing_script_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"nope\.json does not exist"):
        scripted(tmp_path / "nope.json").load()


def test_directory_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot be read"):
        scripted(tmp_path).load()


def test_bad_json_is_a_spec_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"turns": [')

    with pytest.raises(SpecError, match=r"bad\.json is not valid JSON.*line 1"):
        scripted(path).load()


def test_bad_toml_is_a_spec_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[[turns]\ncontent = ")

    with pytest.raises(SpecError, match=r"bad\.toml is not valid TOML"):
        scripted(path).load()


@pytest.mark.parametrize(
    ("script", "complaint"),
    [
        ([], "top-level 'turns'"),
        ({"steps": []}, "top-level 'turns'"),
        ({"turns": []}, "non-empty list"),
        ({"turns": "hello"}, "non-empty list"),
        ({"turns": ["hello"]}, "turn 1 must be a table"),
        ({"turns": [{"content": 3}]}, "turn 1: 'content' must be a string"),
        ({"turns": [{}, {"tool_call": []}]}, "turn 2 has unknown key 'tool_call'"),
        ({"turns": [{"tool_calls": {"name": "x"}}]}, "'tool_calls' must be a list"),
        ({"turns": [{"tool_calls": ["ls"]}]}, "tool call 1 must be a table"),
        ({"turns": [{"tool_calls": [{"arguments": {}}]}]}, "'name' must be a non-empty string"),
        ({"turns": [{"tool_calls": [{"name": "ls", "arguments": [1]}]}]}, "'arguments' must be"),
        ({"turns": [{"tool_calls": [{"name": "ls", "id": "x"}]}]}, "unknown key 'id'"),
        ({"turns": [{"delay_s": -1}]}, "'delay_s' must be a number"),
        ({"turns": [{"delay_s": "1s"}]}, "'delay_s' must be a number"),
        ({"turns": [{"delay_s": True}]}, "'delay_s' must be a number"),
        ({"turns": [{"usage": 5}]}, "'usage' must be a table"),
        ({"turns": [{"usage": {"input_tokens": -2}}]}, "usage 'input_tokens' must be"),
        ({"turns": [{"usage": {"input_tokens": 1.5}}]}, "usage 'input_tokens' must be"),
        ({"turns": [{"usage": {"tokens": 1}}]}, "unknown key 'tokens'"),
    ],
)
def test_malformed_script_is_a_spec_error_naming_the_fault(
    tmp_path: Path, script: Any, complaint: str
) -> None:
    path = tmp_path / "script.json"
    path.write_text(json.dumps(script))

    with pytest.raises(SpecError) as caught:
        scripted(path).load()

    assert str(path) in str(caught.value)
    assert complaint in str(caught.value)


def test_infinite_delay_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "script.json"
    path.write_text('{"turns": [{"delay_s": Infinity}]}')

    with pytest.raises(SpecError, match="delay_s"):
        scripted(path).load()


# Turn-like values: mostly well formed, often slightly off, as a hand-written script might be.
_values = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(), st.text(max_size=3))
_calls = st.one_of(
    st.fixed_dictionaries(
        {"name": st.sampled_from(["ls", "", 3])},
        optional={"arguments": st.one_of(st.just({"a": 1}), st.none(), st.lists(_values))},
    ),
    st.dictionaries(st.sampled_from(["name", "arguments", "id"]), _values, max_size=2),
    _values,
)
_turns = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "content": st.one_of(st.text(max_size=5), _values),
            "tool_calls": st.one_of(st.lists(_calls, max_size=3), _values),
            "delay_s": st.one_of(st.just(0), st.just(0.5), _values),
            "usage": st.one_of(
                st.dictionaries(
                    st.sampled_from(["input_tokens", "output_tokens", "tokens"]),
                    st.one_of(st.integers(-2, 5), _values),
                    max_size=2,
                ),
                _values,
            ),
            "steps": _values,
        },
    ),
    _values,
)


@settings(max_examples=400, deadline=None)
@given(raw=_turns)
def test_the_quick_path_reads_a_turn_as_the_full_check_does_or_leaves_it_to_it(
    raw: Any,
) -> None:
    def fail(what: str) -> SpecError:
        return SpecError(what)

    try:
        full = scripted_module._parse_turn(raw, 1, fail)
    except SpecError:
        full = None
    quick = scripted_module._quick_turn(raw)
    assert quick is None or quick == full


@pytest.mark.parametrize(
    "value",
    [{}, {"a": [1, {"b": None}], "c": "x"}, [{"d": 1.5}, [True]], "s", 3, None],
)
def test_a_reply_copies_script_data_as_deepcopy_would(value: Any) -> None:
    copied = scripted_module._copy_plain(value)
    assert copied == copy.deepcopy(value)
    if isinstance(value, dict | list):
        assert copied is not value
        if isinstance(value, dict) and "a" in value:
            assert copied["a"] is not value["a"] and copied["a"][1] is not value["a"][1]
