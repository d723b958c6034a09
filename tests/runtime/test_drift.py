"""Workspace drift (design §5 "File state"): files a task wrote and someone changed since are
reported before the task continues, on stderr and in ``run_started``."""

from __future__ import annotations

import signal
from pathlib import Path

from agentrun.core.events import RunStarted
from agentrun.store.local import LocalTaskStore
from tests.conftest import run_agentrun
from tests.runtime.agents import make_agent
from tests.runtime.kill_harness import task_ids


def test_a_file_changed_outside_the_task_is_reported_on_resume(tmp_path: Path) -> None:
    agent = make_agent(tmp_path / "agent")
    home = tmp_path / "home"
    env = {"AGENTRUN_HOME": str(home), **agent.env()}
    # MIXED_TURNS writes out.txt in its second tool call; stop the run right after that.
    killed = run_agentrun(
        "start",
        "--agent",
        str(agent.spec),
        "-q",
        "g",
        env={**env, "AGENTRUN_CRASH_AT": "during_tool:3"},
    )
    assert killed.returncode == -signal.SIGKILL
    (agent.workspace / "out.txt").write_text("edited by a person\n")
    task_id = task_ids(home)[0]
    resumed = run_agentrun("resume", task_id, "-q", "--retry-unknown", env=env)
    assert "workspace drift: out.txt" in resumed.stderr
    runs = [e for e in LocalTaskStore(home).events(task_id) if isinstance(e, RunStarted)]
    assert any(note.get("drift") == "out.txt" for note in runs[-1].recovery)
