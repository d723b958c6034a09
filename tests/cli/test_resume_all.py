"""``resume --all`` continues every interrupted task and leaves running ones alone."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from agentrun.store.local import LocalTaskStore
from tests.conftest import run_agentrun
from tests.runtime.agents import make_agent


def test_resume_all_finishes_every_interrupted_task_and_skips_a_claimed_one(
    tmp_path: Path, agentrun_home: Path
) -> None:
    agent = make_agent(tmp_path / "agent")
    for _ in range(3):
        killed = run_agentrun(
            "start",
            "--agent",
            str(agent.spec),
            "-q",
            "g",
            env={**agent.env(), "AGENTRUN_CRASH_AT": "after_sync:4"},
        )
        assert killed.returncode == -signal.SIGKILL
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
