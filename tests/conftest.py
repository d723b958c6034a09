"""Shared fixtures: each test gets its own home; the CLI runs in-process or as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from agentrun.store.crashpoints import reload_from_env


@pytest.fixture(autouse=True)
def agentrun_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point AGENTRUN_HOME at a temp dir so no test touches the real home."""
    home = tmp_path / "home"
    monkeypatch.setenv("AGENTRUN_HOME", str(home))
    monkeypatch.delenv("AGENTRUN_CRASH_AT", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    reload_from_env()
    return home


@dataclass(frozen=True)
class CliResult:
    """What a CLI call printed and returned."""

    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run ``agentrun ARGS`` in-process through the real error boundary."""
    from agentrun.cli.app import run

    def invoke(*args: str) -> CliResult:
        capsys.readouterr()
        code = run([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return invoke


def run_agentrun(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m agentrun ARGS`` as a real process."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "agentrun", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=cwd,
    )
