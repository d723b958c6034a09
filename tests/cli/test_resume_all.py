"""``resume --all`` continues every interrupted task and leaves running ones alone."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from agentrun.store.local import LocalTaskStore
from tests.conftest import run_agentrun
from tests.runtime.agents import TestAgent as Agent
from tests.runtime.agents import make_agent


def killed_start(agent: Agent) -> str:
    """Start ``agent`` in a real process killed mid-run (after its fourth sync); the task id."""
    killed = run_agentrun(
        "start",
        "--agent",
        str(agent.spec),
        "-q",
        "g",
        env={**agent.env(), "AGENTRUN_CRASH_AT": "after_sync:4"},
    )
    assert killed.returncode == -signal.SIGKILL
    return killed.stdout.split()[0]


def test_resume_all_finishes_every_interrupted_task_and_skips_a_claimed_one(
    tmp_path: Path, agentrun_home: Path
) -> None:
    agent = make_agent(tmp_path / "agent")
    for _ in range(3):
        killed_start(agent)
    ids = [t["task_id"] for t in json.loads(run_agentrun("ls", "--json").stdout)]
    holder = LocalTaskStore(agentrun_home).open_writer(ids[0])
    try:
        resumed = run_agentrun("resume", "--all", "-q", "--retry-unknown", env=agent.env())
    finally:
        holder.abandon()
    assert resumed.returncode == 0, resumed.stderr
    assert "skipped" in resumed.stderr and ids[0] in resumed.stderr
    statuses = {t["task_id"]: t["status"] for t in json.loads(run_agentrun("ls", "--json").stdout)}
    assert statuses[ids[0]] == "interrupted"
    assert [statuses[i] for i in ids[1:]] == ["succeeded", "succeeded"]


def test_resume_all_reports_a_task_that_cannot_run_and_still_finishes_the_others(
    tmp_path: Path, agentrun_home: Path
) -> None:
    good, broken = make_agent(tmp_path / "good"), make_agent(tmp_path / "broken")
    ids = [killed_start(agent) for agent in (broken, good)]
    (broken.spec.parent / "script.json").unlink()  # this task can no longer load its model
    queued = run_agentrun("submit", "--agent", str(good.spec), "later", env=good.env())
    assert queued.returncode == 0, queued.stderr
    resumed = run_agentrun("resume", "--all", "-q", "--retry-unknown", env=good.env())
    assert resumed.returncode == 2, resumed.stderr  # the worst: an input error in one task
    errors = [line for line in resumed.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and ids[0] in errors[0] and "script" in errors[0]
    statuses = {t["task_id"]: t["status"] for t in json.loads(run_agentrun("ls", "--json").stdout)}
    assert statuses[ids[1]] == "succeeded"
    assert statuses[queued.stdout.split()[0]] == "queued"  # batch's to run, not resume --all's
    assert run_agentrun("verify", "--all").returncode == 0


def test_resume_all_names_a_task_with_a_corrupt_log_and_still_finishes_the_others(
    tmp_path: Path, agentrun_home: Path
) -> None:
    agent = make_agent(tmp_path / "agent")
    corrupt, healthy = killed_start(agent), killed_start(agent)
    segment = sorted((agentrun_home / "tasks" / corrupt / "log").glob("*.seg"))[0]
    data = bytearray(segment.read_bytes())
    data[2] ^= 0x01  # the segment header's magic: the log cannot be read at all
    segment.write_bytes(bytes(data))
    resumed = run_agentrun("resume", "--all", "-q", "--retry-unknown", env=agent.env())
    assert resumed.returncode == 1, resumed.stderr  # the worst: a task that cannot be read
    errors = [line for line in resumed.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, resumed.stderr
    assert errors[0].startswith(f"error: task {corrupt}: corrupt log: "), errors[0]
    assert "Traceback" not in resumed.stderr
    store = LocalTaskStore(agentrun_home)
    assert store.summary(healthy)["status"] == "succeeded"


def test_resume_all_with_nothing_to_resume_says_so(tmp_path: Path, agentrun_home: Path) -> None:
    agent = make_agent(tmp_path / "agent")
    queued = run_agentrun("submit", "--agent", str(agent.spec), "later", env=agent.env())
    assert queued.returncode == 0, queued.stderr  # queued is batch's to run, not resume's
    resumed = run_agentrun("resume", "--all", env=agent.env())
    assert resumed.returncode == 0 and resumed.stdout == ""
    assert resumed.stderr == "nothing to resume: no task is interrupted or paused\n"


def test_resume_with_a_task_and_all_is_a_usage_error(agentrun_home: Path) -> None:
    both = run_agentrun("resume", "some-task", "--all")
    assert both.returncode == 2 and "not both" in both.stderr
