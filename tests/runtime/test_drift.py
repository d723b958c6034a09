"""Workspace drift (design §5 "File state"): files a task wrote and someone changed since are
reported before the task continues, on stderr and in ``run_started``."""

from __future__ import annotations

import shutil
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


def test_a_deleted_file_is_reported_as_deleted(tmp_path: Path) -> None:
    agent = make_agent(tmp_path / "agent")
    env = {"AGENTRUN_HOME": str(tmp_path / "home"), **agent.env()}
    crash = {"AGENTRUN_CRASH_AT": "during_tool:3"}
    run_agentrun("start", "--agent", str(agent.spec), "-q", "g", env={**env, **crash})
    (agent.workspace / "out.txt").unlink()
    task_id = task_ids(tmp_path / "home")[0]
    resumed = run_agentrun("resume", task_id, "-q", "--retry-unknown", env=env)
    assert "workspace drift: out.txt was deleted outside the task" in resumed.stderr


def test_a_workspace_that_is_gone_stops_the_run_before_any_tool_and_says_so(
    tmp_path: Path,
) -> None:
    agent = make_agent(tmp_path / "agent")
    home = tmp_path / "home"
    env = {"AGENTRUN_HOME": str(home), **agent.env()}
    first = run_agentrun(
        "start", "--agent", str(agent.spec), "-q", "--max-steps", "1", "g", env=env
    )
    assert first.returncode == 4
    task_id = task_ids(home)[0]
    shutil.rmtree(agent.workspace)
    resumed = run_agentrun("resume", task_id, "-q", "--max-steps", "9", env=env)
    assert resumed.returncode == 2
    assert resumed.stderr.strip().endswith(f"restore it, then `agentrun resume {task_id}`")
    kinds = [e.kind for e in LocalTaskStore(home).events(task_id)]
    assert kinds[-2:] == ["run_started", "run_stopped"]
    agent.workspace.mkdir()
    assert run_agentrun("resume", task_id, "-q", "--max-steps", "9", env=env).returncode == 0


def test_a_tools_file_broken_before_a_resume_ends_that_run_without_a_second_run_stopped(
    tmp_path: Path,
) -> None:
    extra = tmp_path / "agent" / "extra_tools.py"
    extra.parent.mkdir(parents=True)
    extra.write_text(
        "from agentrun import tool\n\n\n@tool(effect='read')\ndef noop() -> str:\n"
        '    """Nothing."""\n    return \'\'\n'
    )
    agent = make_agent(tmp_path / "agent", tools=("files", str(extra)))
    home = tmp_path / "home"
    env = {"AGENTRUN_HOME": str(home), **agent.env()}
    run_agentrun("start", "--agent", str(agent.spec), "-q", "--max-steps", "1", "g", env=env)
    task_id = task_ids(home)[0]
    extra.write_text(extra.read_text() + "\nundefined_name\n")
    resumed = run_agentrun("resume", task_id, "-q", "--max-steps", "9", env=env)
    assert resumed.returncode == 2 and "NameError" in resumed.stderr
    events = list(LocalTaskStore(home).events(task_id))
    assert [e.kind for e in events[-3:]] == ["run_stopped", "run_started", "run_stopped"]
    assert events[-1].reason == "error"
