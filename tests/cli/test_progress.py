"""The progress lines of a run without a terminal (``cli.progress``): one short line per event."""

from __future__ import annotations

import pytest

from tests.cli.sample_tasks import call, ledger_env, new_agent, turn  # noqa: F401

pytestmark = pytest.mark.usefixtures("ledger_env")


def progress_lines(cli, tmp_path, turns) -> list[str]:
    agent = new_agent(tmp_path, "progress", turns)
    result = cli("start", "--agent", agent.spec, "--id", "progress", "do it")
    assert result.code == 0, result.err
    return [line.split("] ", 1)[1] for line in result.err.splitlines() if line.startswith("[")]


def test_a_finished_tool_is_named_as_when_it_started(cli, tmp_path) -> None:
    shown = progress_lines(cli, tmp_path, [turn(call("lookup", key="a")), turn(content="ok")])
    assert "running lookup (read)" in shown
    assert "tool done lookup (call_0_0)" in shown


def test_a_failed_tool_is_named_too(cli, tmp_path) -> None:
    turns = [turn(call("read_file", path="missing.txt")), turn(content="gave up")]
    assert "tool failed read_file (call_0_0)" in progress_lines(cli, tmp_path, turns)


def test_a_refused_call_to_an_unknown_tool_is_named_from_the_model_turn(cli, tmp_path) -> None:
    turns = [turn(call("no_such_tool")), turn(content="gave up")]
    assert "tool failed no_such_tool (call_0_0)" in progress_lines(cli, tmp_path, turns)
