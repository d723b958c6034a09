"""SIGINT and SIGTERM during a run (design §9, rules 29-30, test plan T10).

The run stops at the next safe point, records ``run_stopped``, exits 130/143, and a resume
completes. A second SIGINT exits at once and the log is still consistent. The test waits for
events on the ``--json`` stream, never for a guessed amount of time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agentrun.core.events import RunStopped, ToolIntended
from agentrun.store.local import LocalTaskStore
from agentrun.store.verify import verify_task
from tests.runtime.agents import MIXED_TURNS, make_agent
from tests.runtime.kill_harness import check_effects, resume_until_done, task_ids

SLOW_TURNS = [{**t, "delay_s": 0.2} for t in MIXED_TURNS]


def start_streaming(tmp_path: Path) -> tuple[subprocess.Popen[str], Path, object]:
    agent = make_agent(tmp_path / "agent", SLOW_TURNS)
    home = tmp_path / "home"
    env = {**os.environ, "AGENTRUN_HOME": str(home), **agent.env()}
    argv = [sys.executable, "-m", "agentrun", "start", "--agent", str(agent.spec), "--json", "g"]
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    return proc, home, agent


def wait_for_kind(proc: subprocess.Popen[str], kind: str, count: int) -> None:
    seen = 0
    assert proc.stdout is not None
    for line in proc.stdout:
        if json.loads(line)["kind"] == kind:
            seen += 1
            if seen == count:
                return
    raise AssertionError(f"the run ended before {count} {kind} events")


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
@pytest.mark.parametrize("after_completions", [1, 3, 5])
def test_a_signal_stops_at_a_safe_point_and_resume_completes(
    tmp_path: Path, signum: int, code: int, after_completions: int
) -> None:
    proc, home, agent = start_streaming(tmp_path)
    wait_for_kind(proc, "tool_completed", after_completions)
    proc.send_signal(signum)
    proc.communicate(timeout=30)
    assert proc.returncode == code
    task_id = task_ids(home)[0]
    events = list(LocalTaskStore(home).events(task_id))
    stopped = [e for e in events if isinstance(e, RunStopped)]
    assert stopped and stopped[-1].reason == "signal"
    assert stopped[-1].detail == f"stopped by {signal.Signals(signum).name}"
    # Never between intent and tool: every intent of the run has its completion.
    intents = {e.call_id for e in events if isinstance(e, ToolIntended)}
    completed = {e.call_id for e in events if e.kind == "tool_completed"}
    assert intents <= completed
    assert resume_until_done(home, agent, task_id) == [0]
    check_effects(home, agent, task_id)


def test_a_second_sigint_exits_at_once_and_the_log_stays_consistent(tmp_path: Path) -> None:
    proc, home, agent = start_streaming(tmp_path)
    wait_for_kind(proc, "tool_completed", 2)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode == 130
    task_id = task_ids(home)[0]
    store = LocalTaskStore(home)
    assert verify_task(store.ops, store.task_dir(task_id), task_id).is_ok
    resume_until_done(home, agent, task_id)
    check_effects(home, agent, task_id)
