from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from agentrun.tools import shell as shell_module
from agentrun.tools.context import ToolContext
from agentrun.tools.invoke import invoke
from agentrun.tools.outcome import ToolOutcome
from agentrun.tools.registry import make_tool

SHELL = make_tool(shell_module.shell)


def run(ctx: ToolContext, command: str, **arguments: Any) -> ToolOutcome:
    return invoke(SHELL, {"command": command, **arguments}, ctx)


def is_gone(pid: int, within_s: float = 1.0) -> bool:
    """Whether ``pid`` has exited (a zombie waiting for init to reap it counts as gone)."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def test_schema_and_effect() -> None:
    assert SHELL.effect == "side_effect"
    assert SHELL.parameters["required"] == ["command"]
    assert SHELL.parameters["properties"]["timeout_s"]["default"] == 60


def test_exit_code_and_merged_output(ctx: ToolContext) -> None:
    assert run(ctx, "echo out; echo err >&2; exit 3") == ToolOutcome("exit code 3\nout\nerr\n")
    assert run(ctx, "true") == ToolOutcome("exit code 0\n(no output)")


def test_runs_in_the_workspace_with_empty_stdin(ctx: ToolContext, workspace: Path) -> None:
    output = run(ctx, "pwd; cat; echo done").output
    assert output == f"exit code 0\n{os.path.realpath(workspace)}\ndone\n"


def test_runs_in_its_own_session(ctx: ToolContext) -> None:
    # rule 30: a terminal Ctrl-C must reach agentrun, which decides when to stop the command
    output = run(ctx, "echo $$ $(cut -d' ' -f5,6 /proc/$$/stat)").output
    pid, pgrp, sid = output.splitlines()[1].split()
    assert pid == pgrp == sid
    assert int(sid) != os.getsid(0)


def test_environment_has_the_call_ids_and_no_provider_keys(
    ctx: ToolContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret")
    monkeypatch.setenv("SOME_SETTING", "kept")
    output = run(
        ctx,
        'echo "$AGENTRUN_IDEMPOTENCY_KEY $AGENTRUN_TASK_ID $AGENTRUN_CALL_ID $SOME_SETTING";'
        'echo "[${OPENAI_API_KEY-}${ANTHROPIC_API_KEY-}]"',
    ).output
    assert output == "exit code 0\nagentrun-t1-c1-7 t1 c1-7 kept\n[]\n"


def test_output_keeps_head_and_tail(ctx: ToolContext) -> None:
    output = run(ctx, "head -c 200000 /dev/zero | tr '\\0' a; echo; echo END").output
    kept = shell_module.HEAD_BYTES + shell_module.TAIL_BYTES
    dropped = 200000 + 1 + 4 - kept
    assert output.startswith("exit code 0\naaaa")
    assert f"\n… [{dropped} bytes of output dropped] …\n" in output
    assert output.endswith("a\nEND\n")
    assert len(output) < kept + 100


def test_timeout_kills_the_whole_process_group(ctx: ToolContext, workspace: Path) -> None:
    started = time.monotonic()
    outcome = run(ctx, "sleep 30 & echo $! > child.pid; echo started; wait", timeout_s=1)
    assert time.monotonic() - started < 15  # not the 30 s of the sleep; slack for a busy CI
    assert outcome.output.startswith("timed out after 1 s; the command and its child processes")
    assert "started" in outcome.output
    assert is_gone(int((workspace / "child.pid").read_text()))


def test_sigterm_ignoring_group_gets_sigkill(
    ctx: ToolContext, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shell_module, "KILL_GRACE_S", 0.3)
    started = time.monotonic()
    outcome = run(ctx, "trap '' TERM; sleep 30 & echo $! > child.pid; wait", timeout_s=1)
    assert time.monotonic() - started < 15  # not the 30 s of the sleep; slack for a busy CI
    assert outcome.output.startswith("timed out")
    assert is_gone(int((workspace / "child.pid").read_text()))


def test_closed_output_does_not_escape_the_timeout(ctx: ToolContext) -> None:
    started = time.monotonic()
    outcome = run(ctx, "exec >&- 2>&-; sleep 30", timeout_s=1)
    assert outcome.output.startswith("timed out")
    assert time.monotonic() - started < 15  # not the 30 s of the sleep; slack for a busy CI


def test_background_process_holding_the_pipe_is_not_waited_for(
    ctx: ToolContext, workspace: Path
) -> None:
    started = time.monotonic()
    outcome = run(ctx, "sleep 30 & echo $! > bg.pid; echo ok")
    pid = int((workspace / "bg.pid").read_text())
    try:
        assert outcome == ToolOutcome("exit code 0\nok\n")
        assert time.monotonic() - started < 15  # not the 30 s of the sleep; slack for a busy CI
    finally:
        os.kill(pid, 9)


def test_stop_request_ends_the_command(ctx: ToolContext) -> None:
    timer = threading.Timer(0.3, ctx.stop.set)
    timer.start()
    started = time.monotonic()
    outcome = run(ctx, "sleep 30")
    timer.join()
    assert outcome.output.startswith("stopped because agentrun is stopping")
    assert time.monotonic() - started < 15  # not the 30 s of the sleep; slack for a busy CI


def test_killed_by_signal_is_reported(ctx: ToolContext) -> None:
    assert run(ctx, "kill -9 $$").output.startswith("killed by signal SIGKILL")


def test_timeout_must_be_positive(ctx: ToolContext) -> None:
    assert run(ctx, "true", timeout_s=0) == ToolOutcome.failure("timeout_s must be at least 1")


def test_missing_workspace(make_ctx: Any, tmp_path: Path) -> None:
    outcome = run(make_ctx(workspace=tmp_path / "gone"), "true")
    assert outcome.is_error and "is not an existing directory" in outcome.output
