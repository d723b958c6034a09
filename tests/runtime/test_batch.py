"""``agentrun batch`` with real processes (test plan T8 ii; issue: queued work from cron).

Several batch processes share one queue and never run a task twice; a killed batch is picked up
by the next; a batch given less time than the work stops on time and leaves resumable tasks.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from agentrun.core.events import RunStarted
from agentrun.runtime.spec import SpecOverrides, load_spec
from agentrun.runtime.tasks import create_task
from agentrun.store.local import LocalTaskStore
from tests.conftest import run_agentrun
from tests.runtime.agents import call, make_agent, turn
from tests.runtime.kill_harness import check_effects, ledger, resume_until_done

QUICK = [
    turn(call("lookup", key="a")),
    turn(call("charge", amount=1)),
    turn(call("notify", text="hi")),
    turn(content="done"),
]


def queue_tasks(home: Path, agent_spec: Path, count: int) -> list[str]:
    store = LocalTaskStore(home)
    spec = load_spec(agent_spec, SpecOverrides(), cwd=agent_spec.parent)
    return [create_task(store, spec, f"task {n}") for n in range(count)]


def batch_process(home: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "agentrun", "batch", "--json", *args],
        env={**os.environ, "AGENTRUN_HOME": str(home), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_four_batches_over_forty_tasks_run_each_task_exactly_once(tmp_path: Path) -> None:
    agent = make_agent(tmp_path / "agent", QUICK)
    home = tmp_path / "home"
    ids = queue_tasks(home, agent.spec, 40)
    procs = [batch_process(home, agent.env(), "-j", "2") for _ in range(4)]
    reports = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sum(r["succeeded"] for r in reports) == 40
    store = LocalTaskStore(home)
    for task_id in ids:
        assert store.load(task_id).state.status == "succeeded"
        runs = [e for e in store.events(task_id) if isinstance(e, RunStarted)]
        assert len(runs) == 1  # one claim, one run
        check_effects(home, agent, task_id)
    executions = Counter(e["key"] for e in ledger(agent))
    assert len(executions) == 40 * 3 and set(executions.values()) == {1}


def test_a_killed_batch_is_picked_up_by_the_next_and_no_side_effect_runs_twice(
    tmp_path: Path,
) -> None:
    agent = make_agent(tmp_path / "agent", QUICK)
    home = tmp_path / "home"
    ids = queue_tasks(home, agent.spec, 10)
    env = {**agent.env(), "AGENTRUN_TEST_TOOL_DELAY": "0.05"}
    proc = batch_process(home, env, "-j", "2")
    while len(ledger(agent)) < 8:  # wait for real progress, observed in the ledger
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    second = run_agentrun("batch", "--json", env={"AGENTRUN_HOME": str(home), **agent.env()})
    report = json.loads(second.stdout)
    store = LocalTaskStore(home)
    for task_id in ids:
        if store.load(task_id).state.status == "needs_attention":
            resume_until_done(home, agent, task_id)
    assert report["succeeded"] + report["needs_attention"] >= 1
    for task_id in ids:
        assert store.load(task_id).state.status == "succeeded"
        check_effects(home, agent, task_id)


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
