"""``ls`` and ``log`` run without typer (``cli.dispatch``) exactly as the typer app runs them.

The direct path takes only the plain forms of the two commands; everything else goes to typer.
Its option table must match the typer commands, and both paths must print the same bytes and
return the same exit codes.
"""

from __future__ import annotations

import errno
import json
from pathlib import Path
from typing import Any

import pytest
import typer

from agentrun.cli import dispatch
from agentrun.cli.app import _new_app
from agentrun.cli.commands import history, inspect
from agentrun.cli.settings import Settings
from tests.cli.sample_tasks import finished_task, interrupted_task


@pytest.mark.parametrize(
    ("args", "command", "settings", "values"),
    [
        (["ls"], "ls", {}, {}),
        (["ls", "--json"], "ls", {}, {"as_json": True}),
        (["--home", "h", "ls", "--status=paused"], "ls", {"home": Path("h")}, {"status": "paused"}),
        (["--debug", "ls", "--limit", "10"], "ls", {"debug": True}, {"limit": 10}),
        (["log", "t1", "--json"], "log", {}, {"task": "t1", "as_json": True}),
        (["log", "--json", "t1"], "log", {}, {"task": "t1", "as_json": True}),
        (
            ["--home=h", "log", "t", "-k", "a", "--kind=b", "--from", "2", "--to=0", "-g", "x y"],
            "log",
            {"home": Path("h")},
            {"task": "t", "kind": ["a", "b"], "from_seq": 2, "to_seq": 0, "grep": "x y"},
        ),
        (["log", "--grep", "x"], "log", {}, {"task": None, "grep": "x"}),
        (["log", "t", "-f", "--full"], "log", {}, {"task": "t", "follow_log": True, "full": True}),
    ],
)
def test_the_plain_forms_are_read_as_typer_reads_them(
    args: list[str], command: str, settings: dict[str, Any], values: dict[str, Any]
) -> None:
    found = dispatch.parse(args)
    assert found is not None
    assert (found.command, found.settings) == (command, settings)
    expected = {"task": None, **values} if command == "log" else values
    assert found.values == expected


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--help"],
        ["--version"],
        ["ls", "--help"],
        ["ls", "-h"],
        ["show", "t"],
        ["ls", "extra"],
        ["ls", "--limit", "x"],
        ["ls", "--limit", "-1"],
        ["ls", "--limit", "010"],
        ["ls", "--limit", "+1"],
        ["ls", "--limit", "1", "--limit", "2"],
        ["ls", "--limit"],
        ["ls", "--json=1"],
        ["ls", "--home", "h"],
        ["--home", "", "ls"],
        ["--home", "--debug", "ls"],
        ["--unknown", "ls"],
        ["log", "a", "b"],
        ["log", "--", "t"],
        ["log", "-t"],
        ["log", "t", "-kx"],
        ["log", "t", "-fk", "x"],
        ["log", "t", "-k=x"],
        ["log", "t", "--grep", "-x"],
        ["log", "t", "--from", "1.5"],
        ["log", "t", "--from", "²"],
        ["log", "t\udcff"],
    ],
)
def test_anything_else_is_left_to_typer(args: list[str]) -> None:
    assert dispatch.parse(args) is None


def test_a_shell_asking_for_completions_is_left_to_typer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_AGENTRUN_COMPLETE", "bash_complete")
    assert dispatch.parse(["ls"]) is None


def _options(command: Any) -> dict[str, tuple[str, str]]:
    """Each option name of a click command: (parameter name, dispatch's kind of value)."""
    found = {}
    for param in command.params:
        if param.param_type_name != "option":
            continue
        if param.is_flag:
            kind = dispatch.FLAG
        elif param.multiple:
            kind = dispatch.TEXTS
        elif _is_whole_number(param):
            kind = dispatch.NUMBER
        else:
            kind = dispatch.TEXT
        for name in param.opts:
            found[name] = (param.name, kind)
    return found


def _is_whole_number(param: Any) -> bool:
    """Whether the option takes an int: typer 0.29 keeps the annotation, click the type."""
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is not None:
        return "int" in repr(descriptor.annotation)
    return getattr(param.type, "name", "") == "integer"


def _dispatch_options(table: dict[str, str]) -> dict[str, tuple[str, str]]:
    return {name: (dispatch.PARAMETERS[name], kind) for name, kind in table.items()}


def test_the_option_tables_are_the_typer_commands_options() -> None:
    app = _new_app()
    inspect.register(app)
    history.register(app)
    group = typer.main.get_command(app)
    assert _dispatch_options(dispatch.GLOBAL_OPTIONS) == {
        name: value for name, value in _options(group).items() if name != "--version"
    }
    for name in ("ls", "log"):
        command = group.commands[name]  # type: ignore[attr-defined]
        assert _dispatch_options(dispatch.COMMAND_OPTIONS[name]) == _options(command)
        positionals = [p.name for p in command.params if p.param_type_name == "argument"]
        assert tuple(positionals) == dispatch.POSITIONALS[name]


@pytest.fixture
def two_tasks(agentrun_home: Path, tmp_path: Path) -> list[str]:
    return [finished_task(agentrun_home, tmp_path), interrupted_task(agentrun_home, tmp_path)]


def _without_ages(out: str) -> Any:
    rows = json.loads(out)
    for row in rows:
        row.pop("age_seconds")
    return rows


@pytest.mark.parametrize(
    "args",
    [
        ["log", "{task}"],
        ["log", "{task}", "--json"],
        ["log", "{task}", "--json", "--kind", "tool_completed", "--from", "2"],
        ["log", "{task}", "--full", "--to", "3"],
        ["log", "--grep", "charge", "--json"],
        ["log", "--grep", "charge"],
        ["log", "{task}", "--from", "0"],
        ["log", "{task}", "--to", "9999"],
        ["log", "{task}", "-k", "nothing"],
        ["log", "missing"],
        ["log"],
        ["ls", "--status", "bogus"],
        ["ls", "--limit", "0"],
        ["ls", "--status", "paused"],
    ],
)
def test_both_paths_print_the_same_and_exit_the_same(
    cli, monkeypatch: pytest.MonkeyPatch, two_tasks: list[str], args: list[str]
) -> None:
    args = [a.replace("{task}", two_tasks[0]) for a in args]
    assert dispatch.parse(args) is not None
    direct = cli(*args)
    monkeypatch.setattr(dispatch, "parse", lambda _args: None)
    through_typer = cli(*args)
    assert direct == through_typer


def test_ls_json_is_the_same_on_both_paths(
    cli, monkeypatch: pytest.MonkeyPatch, two_tasks: list[str]
) -> None:
    direct = cli("ls", "--json")
    monkeypatch.setattr(dispatch, "parse", lambda _args: None)
    through_typer = cli("ls", "--json")
    assert direct.code == through_typer.code == 0
    assert _without_ages(direct.out) == _without_ages(through_typer.out)
    assert len(_without_ages(direct.out)) == 2


def _settings() -> Settings:
    return Settings(home=None, allow_network_fs=False, debug=False)


def _invocation(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> dispatch.Invocation:
    def command(settings: Settings, **_values: Any) -> int:
        raise error

    monkeypatch.setitem(dispatch._COMMANDS, "ls", lambda: command)
    return dispatch.Invocation("ls", {}, {})


def test_ctrl_c_ends_the_command_with_130_and_no_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert dispatch.call(_invocation(monkeypatch, KeyboardInterrupt())) == 130
    assert capsys.readouterr() == ("", "")


def test_end_of_input_ends_the_command_with_130_after_an_empty_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert dispatch.call(_invocation(monkeypatch, EOFError())) == 130
    assert capsys.readouterr() == ("", "\n")


def test_a_closed_stdout_goes_to_the_error_boundary_as_on_the_typer_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(BrokenPipeError):
        dispatch.call(_invocation(monkeypatch, BrokenPipeError(errno.EPIPE, "Broken pipe")))


def test_other_errors_of_the_command_propagate(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(PermissionError):
        dispatch.call(_invocation(monkeypatch, PermissionError(errno.EACCES, "denied")))
