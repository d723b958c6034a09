"""Mistakes the command-line parser finds are one line on stderr and exit 2 (design §8).

The line says what was wrong and which help to read: ``error: no such option: --bogus; see
`agentrun ls --help```; no usage block, no "Try ..." line, no traceback. ``--help`` is
unchanged. typer bundles its own copy of click (0.29+); the boundary must know both kinds of
exceptions.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from agentrun import __version__
from tests.conftest import CliResult, run_agentrun

Cli = Callable[..., CliResult]

PARSER_ERRORS = [
    ("unknown option", ["ls", "--bogus"], "no such option: --bogus", "agentrun ls"),
    ("missing argument", ["show"], "missing argument 'task'", "agentrun show"),
    ("bad value", ["show", "x", "--at", "x"], "invalid value for '--at'", "agentrun show"),
    ("bad short option value", ["batch", "-j", "x"], "invalid value for", "agentrun batch"),
    ("option without value", ["ls", "--status"], "option '--status' requires", "agentrun ls"),
    ("extra argument", ["diff", "a", "b", "c"], "got unexpected extra argument", "agentrun diff"),
    ("unknown command", ["lss"], "no such command 'lss'", "agentrun"),
    ("global option without value", ["--home"], "option '--home' requires", "agentrun"),
]
IDS = [case[0] for case in PARSER_ERRORS]


def assert_parser_error_line(err: str, says: str, command_path: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {lines!r}"
    assert lines[0].startswith(f"error: {says}"), lines[0]
    assert lines[0].endswith(f"; see `{command_path} --help`"), lines[0]
    assert "Usage:" not in err and "Traceback" not in err and "internal error" not in err


@pytest.mark.parametrize(("case", "args", "says", "command_path"), PARSER_ERRORS, ids=IDS)
def test_a_parser_error_is_one_line_naming_the_help_and_exit_2(
    cli: Cli, case: str, args: list[str], says: str, command_path: str
) -> None:
    result = cli(*args)
    assert result.code == 2, result
    assert result.out == ""
    assert_parser_error_line(result.err, says, command_path)


@pytest.mark.parametrize("args", [["lss"], ["ls", "--bogus"], ["show"], ["batch", "-j", "x"]])
def test_a_parser_error_in_a_real_process_is_one_line_and_exit_2(args: list[str]) -> None:
    result = run_agentrun(*args)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error: ")
    assert "--help`" in result.stderr and "Traceback" not in result.stderr


def test_an_unknown_option_line_is_exactly_what_was_wrong_and_where_to_look(cli: Cli) -> None:
    result = cli("ls", "--bogus")
    assert result.err == "error: no such option: --bogus; see `agentrun ls --help`\n"


def test_a_parser_error_of_two_sentences_reads_as_one_line_of_clauses(cli: Cli) -> None:
    # click says "No such command 'lss'. Did you mean 'ls'?"
    result = cli("lss")
    assert result.err == "error: no such command 'lss'; did you mean 'ls'; see `agentrun --help`\n"


@pytest.mark.parametrize("command", ["ls", "show", "diff", "batch"])
def test_command_help_is_the_usage_on_stdout_and_exit_0(command: str) -> None:
    result = run_agentrun(command, "--help")
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith(f"Usage: agentrun {command} [OPTIONS]")
    assert "Options:" in result.stdout and "error:" not in result.stdout


def test_no_command_still_prints_the_help() -> None:
    result = run_agentrun()
    assert result.returncode == 2
    assert result.stderr.startswith("Usage: agentrun [OPTIONS] COMMAND [ARGS]...")
    assert "Commands:" in result.stderr and "error:" not in result.stderr


def test_version_and_help_exit_0() -> None:
    version = run_agentrun("--version")
    assert (version.returncode, version.stdout.strip()) == (0, f"agentrun {__version__}")
    help_text = run_agentrun("--help")
    assert help_text.returncode == 0 and "resume" in help_text.stdout


def option_names(help_text: str) -> set[str]:
    """The long options a --help lists."""
    return set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", help_text))


def test_start_lists_no_option_that_only_submit_uses(cli) -> None:
    start, submit = (
        option_names(cli("start", "--help").out),
        option_names(cli("submit", "--help").out),
    )
    assert {"--from", "--skip-bad"} <= submit
    assert not {"--from", "--skip-bad"} & start
    assert start == submit - {"--from", "--skip-bad"}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["start", "--skip-bad", "--model", "scripted:x.json", "goal"], "agentrun submit --from"),
        (["start", "--from", "goals.txt"], "agentrun submit --from"),
        (["submit", "--skip-bad", "--model", "scripted:x.json", "goal"], "goes with --from"),
        (
            ["submit", "--base-url", "http://u:pw@127.0.0.1:1/v1", "-m", "openai:m", "goal"],
            "carries a user or password",
        ),
        (
            ["submit", "--base-url", "http://127.0.0.1:1/v1", "-m", "scripted:x.json", "goal"],
            "a base URL is for openai: and anthropic: models",
        ),
    ],
)
def test_an_option_is_refused_where_it_would_be_ignored(cli, args: list[str], says: str) -> None:
    result = cli(*args)
    assert result.code == 2 and result.out == ""
    assert result.err.startswith("error: ") and result.err.count("\n") == 1 and says in result.err
    assert cli("ls", "--json").out.strip() == "[]"


def json_help(cli, command: str) -> str:
    """What ``COMMAND --help`` says of ``--json``, on one line."""
    lines = [line.strip() for line in cli(command, "--help").out.splitlines()]
    first = next(i for i, line in enumerate(lines) if line.startswith("--json "))
    said = [lines[first].removeprefix("--json")]
    for line in lines[first + 1 :]:
        if not line or line.startswith("-"):
            break
        said.append(line)
    return " ".join(" ".join(said).split())


def test_json_help_of_submit_says_it_prints_the_queued_task_not_a_stream(cli) -> None:
    said = json_help(cli, "submit")
    assert "id and status" in said and "--from" in said and "Stream" not in said
    assert json_help(cli, "start") == "Stream events as JSON lines."


def test_json_help_of_diff_says_it_prints_one_document_not_lines(cli) -> None:
    said = json_help(cli, "diff")
    assert "one JSON document" in said and "lines" not in said
    assert json_help(cli, "log") == "Print each event as a JSON line."


COMMANDS = ["start", "submit", "resume", "resolve", "batch", "cancel", "prune", "ls", "show"]
COMMANDS += ["log", "diff", "export", "fork", "stats", "verify"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_names_its_value_in_words_not_a_python_type(cli, command: str) -> None:
    text = cli(command, "--help").out
    options = text.split("Options:", 1)[1]
    assert "<" not in options, options
    assert "list[" not in text


def test_repeatable_options_name_one_value(cli) -> None:
    assert re.search(r"-t, --tool TOOL\s", cli("start", "--help").out)
    assert re.search(r"-k, --kind KIND\s", cli("log", "--help").out)
    assert re.search(r"--status STATUS\s", cli("prune", "--help").out)
