"""``agentrun batch`` with real processes: a time limit (issue: queued work from cron).

A batch given less time than the work stops on time and leaves resumable tasks; the next batch
completes them. The claim tests of batch workers (test plan T8 ii) are
``tests/reliability/test_t08_batch.py``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from agentrun.store.local import LocalTaskStore
from tests.conftest import run_agentrun
from tests.runtime.agents import QUICK_TURNS as QUICK
from tests.runtime.agents import make_agent
from tests.runtime.kill_harness import batch_process, check_effects, queue_tasks


def test_a_batch_with_too_little_time_stops_on_time_and_the_next_completes(
    tmp_path: Path,
) -> None:
    slow = [{**t, "delay_s": 0.25} for t in QUICK]  # about 1 s per task
    agent = make_agent(tmp_path / "agent", slow)
    home = tmp_path / "home"
    ids = queue_tasks(home, agent.spec, 6)
    began = time.monotonic()
    proc = batch_process(home, agent.env(), "--max-time", "2s")
    report = json.loads(proc.communicate(timeout=60)[0])
    elapsed = time.monotonic() - began
    assert proc.returncode == 4  # work left: paused or not started
    # Stops on time: the deadline plus at most one step, plus process start-up.
    assert elapsed < 2 + 0.25 + 1.5, elapsed
    assert report["paused"] + report["not_started"] >= 1
    assert report["succeeded"] < 6
    finish = run_agentrun("batch", "--json", env={"AGENTRUN_HOME": str(home), **agent.env()})
    assert finish.returncode == 0, finish.stderr
    store = LocalTaskStore(home)
    assert all(store.load(t).state.status == "succeeded" for t in ids)
    for task_id in ids:
        check_effects(home, agent, task_id)
