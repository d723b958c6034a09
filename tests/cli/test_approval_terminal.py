"""Approval in a terminal (design §5): asked once, recorded before the intent.

A real pseudo-terminal answers the prompt; the process is then killed right after the decision
became durable. The resume (unattended) must neither ask again nor stop for approval, and must
run the approved call exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pexpect

from tests.conftest import run_agentrun
from tests.runtime.agents import TestAgent as Agent
from tests.runtime.agents import call, make_agent, turn


def start_in_a_terminal(agent: Agent, env: dict[str, str] | None = None) -> pexpect.spawn:
    """``agentrun start`` of ``agent`` in a real pseudo-terminal (stdin and stderr are ttys)."""
    return pexpect.spawn(
        sys.executable,
        ["-m", "agentrun", "start", "--agent", str(agent.spec), "pay"],
        env=env or {**os.environ, **agent.env()},
        encoding="utf-8",
        timeout=30,
    )


def paying_agent(tmp_path: Path) -> Agent:
    """An agent whose one call, ``charge``, needs a person's yes."""
    return make_agent(
        tmp_path / "agent",
        [turn(call("charge", amount=9)), turn(content="paid")],
        extra='[policy]\napprove = ["charge"]\n',
    )


def test_an_approval_given_in_a_terminal_survives_a_kill_and_is_never_asked_again(
    tmp_path: Path, agentrun_home: Path
) -> None:
    agent = paying_agent(tmp_path)
    # Syncs: run_started (1), the model turn (2), the approval (3) — die right after it.
    env = {**os.environ, **agent.env(), "AGENTRUN_CRASH_AT": "after_sync:3"}
    child = start_in_a_terminal(agent, env)
    child.expect("charge")
    child.expect(r"approve\? \[y/N\]")
    child.sendline("y")
    child.expect(pexpect.EOF)
    child.close()
    assert child.signalstatus == signal.SIGKILL
    assert not agent.ledger.exists()  # approved, not yet run
    task_id = json.loads(run_agentrun("ls", "--json").stdout)[0]["task_id"]
    resumed = run_agentrun("resume", task_id, "--quiet", env=agent.env())
    assert resumed.returncode == 0, resumed.stderr
    lines = agent.ledger.read_text().splitlines()
    assert [json.loads(line)["tool"] for line in lines] == ["charge"]


def test_ctrl_c_at_the_approval_prompt_stops_the_run_paused_and_runs_nothing(
    tmp_path: Path, agentrun_home: Path
) -> None:
    agent = paying_agent(tmp_path)
    child = start_in_a_terminal(agent)
    child.expect(r"approve\? \[y/N\]")
    child.kill(signal.SIGINT)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    assert not agent.ledger.exists()
    (task,) = json.loads(run_agentrun("ls", "--json").stdout)
    assert (task["status"], task["stop_reason"]) == ("paused", "signal")


def test_a_closed_terminal_stops_the_run_paused_with_129(
    tmp_path: Path, agentrun_home: Path
) -> None:
    # Closing the terminal sends SIGHUP, and every later write to it fails with EIO: that is
    # a stop, not an error.
    slow = [{**turn(call("charge", amount=1)), "delay_s": 0.3}] * 20 + [turn(content="paid")]
    agent = make_agent(tmp_path / "agent", slow)
    child = start_in_a_terminal(agent)
    child.expect("step 2")
    os.close(child.child_fd)  # the terminal window goes away
    _, status = os.waitpid(child.pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 129
    (task,) = json.loads(run_agentrun("ls", "--json").stdout)
    assert (task["status"], task["stop_reason"]) == ("paused", "signal")
