"""``log --follow`` against a real running task: events appear as they land; it ends with the run.

While the task runs, ``ls`` shows it running with the pid of the process that holds it.

Synchronised on output: the test reads the follower's lines as they come and checks the
running task had not finished when the first model turn was printed.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

from tests.runtime.agents import call, make_agent, turn

TIMEOUT_S = 30


def spawn(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "agentrun", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


def lines_of(process: subprocess.Popen[str]) -> queue.Queue[str | None]:
    """The process's stdout lines, as they arrive; ``None`` at the end."""
    found: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            found.put(line)
        found.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return found


def test_follow_prints_events_as_they_land_and_ends_with_the_run(tmp_path: Path):
    turns = [
        turn(call("lookup", key="a"), delay_s=0.2),
        turn(call("lookup", key="b"), delay_s=0.2),
        turn(content="done", delay_s=2.5),  # the run is surely still going when we look
    ]
    agent = make_agent(tmp_path / "agent", turns)
    env = agent.env()
    start = spawn("start", "--agent", str(agent.spec), "look things up", "--quiet", env=env)
    started = lines_of(start)
    task_id = (started.get(timeout=TIMEOUT_S) or "").strip()
    assert task_id, start.stderr.read() if start.stderr else ""
    follower = spawn("log", task_id, "--follow", "--json", env=env)
    printed = lines_of(follower)
    records = []
    while True:
        line = printed.get(timeout=TIMEOUT_S)
        if line is None:
            break
        record = json.loads(line)
        if record["kind"] == "model_responded" and not any(
            r["kind"] == "model_responded" for r in records
        ):
            assert start.poll() is None, "the first turn was printed only after the run ended"
            listed = subprocess.run(
                [sys.executable, "-m", "agentrun", "ls", "--json"],
                capture_output=True,
                text=True,
                env={**os.environ, **env},
                timeout=TIMEOUT_S,
            )
            (row,) = json.loads(listed.stdout)
            assert (row["status"], row["claimed"]) == ("running", True)
            assert row["run"]["pid"] == start.pid
        records.append(record)
    assert follower.wait(timeout=TIMEOUT_S) == 0
    assert start.wait(timeout=TIMEOUT_S) == 0
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    assert records[0]["kind"] == "task_created" and records[-1]["kind"] == "task_finished"
    assert [r["kind"] for r in records].count("model_responded") == 3
