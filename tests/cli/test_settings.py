"""Global settings from the environment: ``AGENTRUN_SEGMENT_BYTES`` sizes log segments.

Unset or empty means the store's default; a whole number of at least 4096 bytes makes the CLI's
store roll segments at that size (the crash tests use it to reach the roll and repair points in
real processes); anything else is a usage error: one line on stderr, exit 2, nothing created.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from agentrun.cli.settings import MIN_SEGMENT_BYTES, segment_bytes_from_env
from agentrun.core.errors import UsageError
from tests.conftest import CliResult, run_agentrun
from tests.runtime.agents import make_agent

Cli = Callable[..., CliResult]
BAD_VALUES = ["abc", "4k", "1e6", "0", "-4096", "4095", "4096.0"]


@pytest.mark.parametrize(("raw", "expected"), [("", None), ("4096", 4096), (" 65536 ", 65536)])
def test_segment_bytes_come_from_the_environment(raw: str, expected: int | None) -> None:
    assert segment_bytes_from_env({"AGENTRUN_SEGMENT_BYTES": raw}) == expected
    assert segment_bytes_from_env({}) is None


@pytest.mark.parametrize("raw", BAD_VALUES)
def test_a_bad_segment_size_is_a_usage_error(raw: str) -> None:
    with pytest.raises(UsageError, match=f"at least {MIN_SEGMENT_BYTES}"):
        segment_bytes_from_env({"AGENTRUN_SEGMENT_BYTES": raw})


@pytest.mark.parametrize("raw", ["abc", "100"])
def test_a_bad_segment_size_exits_2_with_one_line_and_creates_nothing(
    cli: Cli, agentrun_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    agent = make_agent(tmp_path / "agent")
    monkeypatch.setenv("AGENTRUN_SEGMENT_BYTES", raw)
    result = cli("start", "--agent", agent.spec, "-q", "goal")
    assert result.code == 2 and result.out == ""
    assert result.err.count("\n") == 1
    assert result.err.startswith("error: AGENTRUN_SEGMENT_BYTES must be a whole number")
    assert not agentrun_home.exists()


def test_a_bad_segment_size_in_a_real_process_is_one_line_and_exit_2() -> None:
    result = run_agentrun("ls", env={"AGENTRUN_SEGMENT_BYTES": "small"})
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "AGENTRUN_SEGMENT_BYTES" in result.stderr


def segments_after_a_run(cli: Cli, home: Path, agent_root: Path) -> list[str]:
    agent = make_agent(agent_root)
    assert cli("start", "--agent", agent.spec, "--id", "job-segments", "-q", "goal").code == 0
    return sorted(p.name for p in (home / "tasks" / "job-segments" / "log").glob("*.seg"))


def test_a_small_segment_size_makes_the_log_roll(
    cli: Cli, agentrun_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTRUN_LEDGER", str(tmp_path / "ledger.jsonl"))
    monkeypatch.setenv("AGENTRUN_SEGMENT_BYTES", str(MIN_SEGMENT_BYTES))
    assert len(segments_after_a_run(cli, agentrun_home, tmp_path / "agent")) >= 3
    assert cli("verify", "job-segments").code == 0


def test_without_the_variable_the_log_keeps_one_segment(
    cli: Cli, agentrun_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTRUN_LEDGER", str(tmp_path / "ledger.jsonl"))
    monkeypatch.delenv("AGENTRUN_SEGMENT_BYTES", raising=False)
    assert len(segments_after_a_run(cli, agentrun_home, tmp_path / "agent")) == 1
