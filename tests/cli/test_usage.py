"""Usage errors from the command-line parser are exit 2 with a usage line, never an internal error.

typer bundles its own copy of click (0.29+); the boundary must know both kinds of exceptions.
"""

from __future__ import annotations

import re

import pytest

from agentrun import __version__
from tests.conftest import run_agentrun


@pytest.mark.parametrize("args", [["lss"], ["ls", "--bogus"], ["show"], ["batch", "-j", "x"]])
def test_a_parser_error_exits_2_with_usage_and_no_internal_error(args: list[str]) -> None:
    result = run_agentrun(*args)
    assert result.returncode == 2
    assert "Usage:" in result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr


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
    # ... and submit does not list the endpoint, which a queued task does not keep.
    assert "--base-url" in start and "--base-url" not in submit
    assert start - {"--from", "--skip-bad", "--base-url"} == submit - {"--from", "--skip-bad"}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["start", "--skip-bad", "--model", "scripted:x.json", "goal"], "agentrun submit --from"),
        (["start", "--from", "goals.txt"], "agentrun submit --from"),
        (["submit", "--skip-bad", "--model", "scripted:x.json", "goal"], "goes with --from"),
        (
            ["submit", "--base-url", "http://127.0.0.1:1/v1", "--model", "openai:m", "goal"],
            "OPENAI_BASE_URL",
        ),
    ],
)
def test_an_option_is_refused_where_it_would_be_ignored(
    cli, args: list[str], says: str
) -> None:
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
