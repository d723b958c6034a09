"""T8 (ii): ``agentrun batch`` workers sharing one queue claim each task once (rules 20, 21).

Four real ``batch`` processes share 40 queued tasks, in 3 independent waves (100 extended):
each task has exactly one ``run_started`` and every side effect ran once (INV-CLAIM,
INV-EFFECT). A batch killed mid-queue is picked up by the next one, and no side effect runs
twice. The killed batch is stopped once the ledger shows real progress, never after a guessed
sleep. ``batch --max-time`` is in ``tests/runtime/test_batch.py``.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from agentrun.core.events import RunStarted
from agentrun.store.local import LocalTaskStore
from tests.conftest import run_agentrun
from tests.runtime.agents import QUICK_TURNS as QUICK
from tests.runtime.agents import make_agent
from tests.runtime.kill_harness import (
    batch_process,
    check_effects,
    ledger,
    queue_tasks,
    resume_until_done,
)
from tests.trials import trials

WAVES = trials(3, 100)  # the plan's CI and extended counts for T8 (ii)


@pytest.mark.parametrize("wave", range(WAVES))
def test_four_batches_over_forty_tasks_run_each_task_exactly_once(
    tmp_path: Path, wave: int
) -> None:
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
