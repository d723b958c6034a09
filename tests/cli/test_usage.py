"""Usage errors from the command-line parser are exit 2 with a usage line, never an internal error.

typer bundles its own copy of click (0.29+); the boundary must know both kinds of exceptions.
"""

from __future__ import annotations

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
