"""The ``scripted`` provider: an offline, deterministic model that plays the turns of a script.

A script is a JSON or TOML file (chosen by its ``.toml`` suffix; anything else is read as JSON)
with a top-level ``turns`` list. Each turn may have ``content`` (text), ``tool_calls`` (a list
of ``{name, arguments}``), ``delay_s`` (seconds to wait before answering) and ``usage``
(``{input_tokens, output_tokens}``, otherwise estimated). Request ``turn`` N plays turn N of
the script, so a resumed task continues where it stopped. No network here.
"""

from __future__ import annotations

import json
import math
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from agentrun.core.conversation import Message, ModelReply, ModelRequest, ToolCall
from agentrun.core.errors import ModelError, SpecError
from agentrun.models.base import TextCallback, reply_usage
from agentrun.models.options import ModelOptions, wait_between_attempts

_TURN_KEYS = ("content", "tool_calls", "delay_s", "usage")
_CALL_KEYS = ("name", "arguments")
_USAGE_KEYS = ("input_tokens", "output_tokens")
_ALLOWED_KEYS = {keys: frozenset(keys) for keys in (_TURN_KEYS, _CALL_KEYS, _USAGE_KEYS)}
_TURN_KEY_SET, _CALL_KEY_SET, _USAGE_KEY_SET = (
    _ALLOWED_KEYS[_TURN_KEYS],
    _ALLOWED_KEYS[_CALL_KEYS],
    _ALLOWED_KEYS[_USAGE_KEYS],
)

# Builds the SpecError for a fault, prefixed with the script's path.
_Fail = Callable[[str], SpecError]


# Named tuples, not frozen dataclasses: as immutable, and three times cheaper to build, which
# counts for a script of thousands of turns read at the start of a run.
class ScriptedCall(NamedTuple):
    """A tool call of a scripted turn."""

    name: str
    arguments: dict[str, Any]


class ScriptedTurn(NamedTuple):
    """One turn of a script, validated."""

    content: str = ""
    tool_calls: tuple[ScriptedCall, ...] = ()
    delay_s: float = 0.0
    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass(slots=True)
class ScriptedModel:
    """Plays ``path`` turn by turn; ``name`` is the spec, e.g. ``scripted:script.toml``.

    The script is read once, on first use or by ``load()``, and cached on the instance.
    """

    name: str
    path: Path
    options: ModelOptions = field(default_factory=ModelOptions)
    _turns: tuple[ScriptedTurn, ...] | None = field(default=None, init=False, repr=False)

    def load(self) -> tuple[ScriptedTurn, ...]:
        """Read and validate the script (once). Raises ``SpecError`` naming the file and fault."""
        if self._turns is None:
            self._turns = load_script(self.path)
        return self._turns

    def complete(self, request: ModelRequest, *, on_text: TextCallback | None = None) -> ModelReply:
        """Play turn ``request.turn``; past the last turn raises ``ModelError``."""
        started = time.monotonic()
        if request.purpose == "summary":
            return _summary_reply(self.name, request, started)
        turns = self.load()
        if not 0 <= request.turn < len(turns):
            count = f"{len(turns)} turn" + ("" if len(turns) == 1 else "s")
            raise ModelError(
                f"the script {self.path} has {count} but the task asked for turn "
                f"{request.turn + 1}; add turns to the script or end it with a turn without "
                "tool calls"
            )
        turn = turns[request.turn]
        if turn.delay_s > 0:
            wait_between_attempts(turn.delay_s, self.options, "the scripted model was answering")
        calls = tuple(
            [
                ToolCall(
                    f"call_{request.turn}_{index}",
                    call.name,
                    # A fresh copy per reply: the cached script must not change if a caller
                    # mutates it.
                    _copy_plain(call.arguments),
                )
                for index, call in enumerate(turn.tool_calls)
            ]
        )
        message = Message(role="assistant", content=turn.content, tool_calls=calls)
        if turn.content and on_text is not None:
            on_text(turn.content)
        usage = reply_usage(request, message, turn.input_tokens, turn.output_tokens)
        return ModelReply(
            message=message,
            usage=usage,
            model=self.name,
            latency_s=time.monotonic() - started,
        )


def load_script(path: Path) -> tuple[ScriptedTurn, ...]:
    """Read a JSON or TOML script into validated turns. Raises ``SpecError`` on any fault."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(
            f"model script {path} does not exist; check the path after 'scripted:'"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SpecError(f"model script {path} cannot be read ({reason}); check the file") from exc
    try:
        data: Any = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"model script {path} is not valid TOML: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise SpecError(
            f"model script {path} is not valid JSON: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno} (use a .toml suffix for TOML)"
        ) from exc
    return _parse_script(data, path)


def _parse_script(data: Any, path: Path) -> tuple[ScriptedTurn, ...]:
    def fail(what: str) -> SpecError:
        return SpecError(f"model script {path}: {what}")

    if not isinstance(data, dict) or "turns" not in data:
        raise fail("expected a top-level 'turns' list")
    raw_turns = data["turns"]
    if not isinstance(raw_turns, list) or not raw_turns:
        raise fail("'turns' must be a non-empty list of turns")
    # A script of a thousand turns is read before its first turn plays: the plain well-formed
    # turn takes a quick path; anything else the one that says what is wrong.
    return tuple(
        [
            _quick_turn(raw) or _parse_turn(raw, number, fail)
            for number, raw in enumerate(raw_turns, start=1)
        ]
    )


def _quick_turn(raw: Any) -> ScriptedTurn | None:
    """``raw``'s turn if it is plainly well formed (exact types, no delay), else ``None``.

    Stricter than ``_parse_turn``, never looser: what it declines, ``_parse_turn`` decides.
    """
    if type(raw) is not dict or "delay_s" in raw or not _TURN_KEY_SET.issuperset(raw):
        return None
    content = raw.get("content", "")
    raw_calls = raw.get("tool_calls", ())
    if type(content) is not str or (raw_calls != () and type(raw_calls) is not list):
        return None
    calls = []
    for call in raw_calls:
        if type(call) is not dict or not _CALL_KEY_SET.issuperset(call):
            return None
        name, arguments = call.get("name"), call.get("arguments", _MISSING)
        if arguments is _MISSING:
            arguments = {}
        if type(name) is not str or not name or type(arguments) is not dict:
            return None
        calls.append(ScriptedCall(name, arguments))
    usage = raw.get("usage", _MISSING)
    if usage is _MISSING:
        return ScriptedTurn(content, tuple(calls))
    if type(usage) is not dict or not _USAGE_KEY_SET.issuperset(usage):
        return None
    input_tokens, output_tokens = usage.get("input_tokens"), usage.get("output_tokens")
    for value in (input_tokens, output_tokens):
        if value is not None and (type(value) is not int or value < 0):
            return None
    return ScriptedTurn(content, tuple(calls), 0.0, input_tokens, output_tokens)


_MISSING = object()


def _parse_turn(raw: Any, number: int, fail: _Fail) -> ScriptedTurn:
    where = f"turn {number}"
    if not isinstance(raw, dict):
        raise fail(f"{where} must be a table/object, not {_type_name(raw)}")
    _reject_unknown(raw, _TURN_KEYS, where, fail)
    content = raw.get("content", "")
    if not isinstance(content, str):
        raise fail(f"{where}: 'content' must be a string, not {_type_name(content)}")
    raw_calls = raw.get("tool_calls", [])
    if not isinstance(raw_calls, list):
        raise fail(f"{where}: 'tool_calls' must be a list, not {_type_name(raw_calls)}")
    calls = tuple(
        [_parse_call(call, where, index, fail) for index, call in enumerate(raw_calls, start=1)]
    )
    delay_s = raw.get("delay_s", 0)
    if not _is_number(delay_s) or not math.isfinite(delay_s) or delay_s < 0:
        raise fail(f"{where}: 'delay_s' must be a number of seconds >= 0, not {delay_s!r}")
    input_tokens = output_tokens = None
    if "usage" in raw:
        usage = raw["usage"]
        if not isinstance(usage, dict):
            raise fail(f"{where}: 'usage' must be a table/object, not {_type_name(usage)}")
        _reject_unknown(usage, _USAGE_KEYS, f"{where} usage", fail)
        for key in _USAGE_KEYS:
            value = usage.get(key)
            if value is not None and (not _is_int(value) or value < 0):
                raise fail(f"{where}: usage '{key}' must be an integer >= 0, not {value!r}")
        input_tokens = usage.get("input_tokens")
        output_tokens = usage.get("output_tokens")
    return ScriptedTurn(
        content=content,
        tool_calls=calls,
        delay_s=float(delay_s),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
    )


def _parse_call(raw: Any, turn: str, index: int, fail: _Fail) -> ScriptedCall:
    where = f"{turn}, tool call {index}"
    if not isinstance(raw, dict):
        raise fail(f"{where} must be a table/object with 'name', not {_type_name(raw)}")
    _reject_unknown(raw, _CALL_KEYS, where, fail)
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise fail(f"{where}: 'name' must be a non-empty string")
    arguments = raw.get("arguments", {})
    if not isinstance(arguments, dict):
        raise fail(f"{where}: 'arguments' must be a table/object, not {_type_name(arguments)}")
    return ScriptedCall(name=name, arguments=arguments)


def _reject_unknown(raw: dict[str, Any], allowed: tuple[str, ...], where: str, fail: _Fail) -> None:
    if raw.keys() <= _ALLOWED_KEYS[allowed]:
        return
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise fail(f"{where} has unknown key '{unknown[0]}'; allowed keys: {', '.join(allowed)}")


def _copy_plain(value: Any) -> Any:
    """A copy of parsed JSON/TOML data: maps and lists copied, the rest (immutable) shared.

    What ``copy.deepcopy`` gives for such data, at a fraction of its cost (one reply a step).
    """
    if type(value) is dict:
        return {key: _copy_plain(item) for key, item in value.items()}
    if type(value) is list:
        return [_copy_plain(item) for item in value]
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _type_name(value: Any) -> str:
    return {dict: "a table", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _summary_reply(name: str, request: ModelRequest, started: float) -> ModelReply:
    """A deterministic stand-in for a summary: the first words of each summarized line.

    Offline tests and demos need summaries that do not consume the script's turns.
    """
    text = request.messages[-1].content if request.messages else ""
    heads = [line[:60] for line in text.splitlines() if line.strip()]
    summary = "; ".join(heads)[:800]
    message = Message(role="assistant", content=summary)
    usage = reply_usage(request, message)
    return ModelReply(message, usage, name, time.monotonic() - started)
