"""Running ``ls`` and ``log`` straight from the command line, without building the typer app.

Importing typer and the pydantic it validates options with is most of a cold read command's
start-up, and ``ls`` and ``log`` are what people and scripts run over and over. ``parse``
recognizes only the plain forms of these two commands, each value given as typer would take
it (global options first, long options as ``--name VALUE`` or ``--name=VALUE``, ``-k``/``-g``
/``-f`` on their own, whole numbers in decimal); anything else, from ``--help`` to a typo or a
value that starts with ``-``, answers ``None`` and the typer app parses the command line as
before. ``call`` runs what ``parse`` found under the error handling typer's ``main`` (0.29)
gives a command, so exit codes and output are the same either way. No typer or rich here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentrun.cli.settings import Settings, segment_bytes_from_env

# The options each command takes here, by name: whether it takes a value, whether it may be
# repeated, whether the value is a whole number. A test checks them against the typer command.
FLAG, TEXT, NUMBER, TEXTS = "flag", "text", "number", "texts"
GLOBAL_OPTIONS = {"--home": TEXT, "--allow-network-fs": FLAG, "--debug": FLAG}
COMMAND_OPTIONS = {
    "ls": {"--status": TEXT, "--limit": NUMBER, "--json": FLAG},
    "log": {
        "--kind": TEXTS,
        "-k": TEXTS,
        "--from": NUMBER,
        "--to": NUMBER,
        "--grep": TEXT,
        "-g": TEXT,
        "--full": FLAG,
        "--follow": FLAG,
        "-f": FLAG,
        "--json": FLAG,
    },
}
# Which parameter of the command function each option sets.
PARAMETERS = {
    "--home": "home",
    "--allow-network-fs": "allow_network_fs",
    "--debug": "debug",
    "--status": "status",
    "--limit": "limit",
    "--json": "as_json",
    "--kind": "kind",
    "-k": "kind",
    "--from": "from_seq",
    "--to": "to_seq",
    "--grep": "grep",
    "-g": "grep",
    "--full": "full",
    "--follow": "follow_log",
    "-f": "follow_log",
}
POSITIONALS = {"ls": (), "log": ("task",)}
# Set by a shell asking typer for completions: typer answers those.
_COMPLETION_VARIABLE = "_AGENTRUN_COMPLETE"
_MAX_DIGITS = 18


@dataclass(frozen=True)
class Invocation:
    """A recognized command line: the command, the global options and the command's values."""

    command: str
    settings: dict[str, Any]
    values: dict[str, Any]


def parse(args: list[str]) -> Invocation | None:
    """The ``ls`` or ``log`` command line in ``args``, or ``None`` to let typer parse it."""
    if _COMPLETION_VARIABLE in os.environ:
        return None
    settings: dict[str, Any] = {}
    index = _read_options(args, 0, GLOBAL_OPTIONS, settings)
    if index is None or index >= len(args) or args[index] not in COMMAND_OPTIONS:
        return None
    command = args[index]
    values: dict[str, Any] = {}
    positionals: list[str] = []
    index += 1
    while index < len(args):
        index = _read_options(args, index, COMMAND_OPTIONS[command], values)
        if index is None:
            return None
        if index < len(args):
            positionals.append(args[index])
            index += 1
    names = POSITIONALS[command]
    if len(positionals) > len(names):
        return None
    values.update(dict.fromkeys(names), **dict(zip(names, positionals, strict=False)))
    home = settings.get("home")
    if home is not None:
        if not home.strip():  # the typer path says what is wrong
            return None
        settings["home"] = Path(home)
    return Invocation(command, settings, values)


def _read_options(
    args: list[str], index: int, known: dict[str, str], into: dict[str, Any]
) -> int | None:
    """Read the options from ``args[index]`` on into ``into``, up to the next positional.

    Returns the index of that positional argument (``len(args)`` if there is none), or
    ``None`` for anything this module leaves to typer.
    """
    while index < len(args):
        arg = args[index]
        if not _is_plain(arg):
            return None
        if not arg.startswith("-"):
            return index
        name, has_equals, attached = arg.partition("=")
        kind = known.get(name)
        if kind is None or (has_equals and (kind == FLAG or not name.startswith("--"))):
            return None
        parameter = PARAMETERS[name]
        if kind == FLAG:
            into[parameter] = True
            index += 1
            continue
        if has_equals:
            value, index = attached, index + 1
        elif index + 1 < len(args):
            value, index = args[index + 1], index + 2
        else:
            return None
        if value.startswith("-") or not _is_plain(value):
            return None
        if kind == TEXTS:
            into.setdefault(parameter, []).append(value)
        elif parameter in into:
            return None  # given twice: typer decides
        elif kind == NUMBER:
            if not (value.isascii() and value.isdigit()) or len(value) > _MAX_DIGITS:
                return None
            if value != "0" and value.startswith("0"):
                return None
            into[parameter] = int(value)
        else:
            into[parameter] = value
    return index


def _is_plain(arg: str) -> bool:
    """Whether ``arg`` is text that encodes as UTF-8 (not an undecodable byte) and is not ``--``."""
    if arg == "--":
        return False
    if arg.isascii():
        return True
    try:
        arg.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def call(invocation: Invocation) -> int:
    """Run the command; its exit code. Errors of the command itself propagate.

    Ctrl-C and end of input end the command as typer's ``main`` ends them: 130, and 130 after
    an empty line on stderr. A closed stdout reaches the CLI's error boundary, as on the typer
    path (``cli/app.py``).
    """
    settings = Settings(
        home=invocation.settings.get("home"),
        allow_network_fs=invocation.settings.get("allow_network_fs", False),
        debug=invocation.settings.get("debug", False),
        segment_bytes=segment_bytes_from_env(),
    )
    command = _COMMANDS[invocation.command]()
    try:
        return command(settings, **invocation.values)
    except EOFError:
        print(file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        return 130


def _ls() -> Callable[..., int]:
    from agentrun.cli.listing import list_tasks

    return list_tasks


def _log() -> Callable[..., int]:
    from agentrun.cli.eventlog import print_log

    return print_log


_COMMANDS: dict[str, Callable[[], Callable[..., int]]] = {"ls": _ls, "log": _log}
