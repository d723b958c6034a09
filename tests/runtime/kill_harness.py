"""Driving real ``agentrun`` processes through kills and resumes, and checking the invariants.

Used by the named-crash-point test (T6), the random-kill test (T7), the batch tests (T8 ii) and
the signal tests (T10). The ledger written by the test tools is the ground truth for side effects
(test plan F3).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from agentrun.core.events import ToolIntended, ToolResolved
from agentrun.runtime.reporter import SilentReporter
from agentrun.runtime.runner import Runner
from agentrun.runtime.spec import SpecOverrides, load_spec
from agentrun.runtime.tasks import create_task
from agentrun.store.local import LocalTaskStore
from agentrun.store.verify import verify_task
from tests.conftest import run_agentrun
from tests.runtime.agents import TestAgent, make_agent

SIDE_EFFECT_TOOLS = {"charge", "notify"}
VOLATILE = {"run", "attempts", "crashes", "active_seconds", "updated_at", "created_at"}
VOLATILE |= {"last_seq", "calls", "task_id", "needed_person", "stop_reason", "stop_detail"}
VOLATILE |= {"resolutions"}  # how in-doubt calls were settled differs by where the kill landed


def comparable(state_dict: dict[str, Any]) -> dict[str, Any]:
    """The parts of a final state that must equal an uninterrupted run's (INV-DETERMINISM)."""
    data = {k: v for k, v in state_dict.items() if k not in VOLATILE}
    data["files"] = {p: f["after"] for p, f in state_dict["files"].items()}
    # Seqs shift with every extra run_started; what was said must not.
    data["messages"] = [{k: v for k, v in m.items() if k != "seq"} for m in data["messages"]]
    data["agent"] = {k: v for k, v in state_dict["agent"].items() if k not in ("base_dir",)}
    data.pop("workspace", None)
    data["agent"].pop("workspace", None)
    return data


# The agent-spec lines of each fsync policy the crash tests cover (rule 7).
FSYNC = {"always": "", "batch": 'fsync = "batch"\n'}


def reference_states(
    root: Path, turns: list[dict[str, Any]] | None = None
) -> dict[str, dict[str, Any]]:
    """``reference_state`` of the agent playing ``turns``, per fsync policy, under ``root``."""
    return {
        policy: reference_state(
            make_agent(root / policy / "agent", turns, extra=extra), root / policy / "home"
        )
        for policy, extra in FSYNC.items()
    }


def reference_state(agent: TestAgent, home: Path) -> dict[str, Any]:
    """The final state of an uninterrupted in-process run of ``agent``."""
    store = LocalTaskStore(home)
    spec = load_spec(agent.spec, SpecOverrides(), cwd=agent.spec.parent)
    old = os.environ.get("AGENTRUN_LEDGER")
    os.environ["AGENTRUN_LEDGER"] = str(agent.ledger)
    try:
        task_id = create_task(store, spec, "goal")
        Runner(store, task_id, SilentReporter()).run()
    finally:
        if old is None:
            os.environ.pop("AGENTRUN_LEDGER")
        else:
            os.environ["AGENTRUN_LEDGER"] = old
    return comparable(store.load(task_id).state.to_dict())


def ledger(agent: TestAgent) -> list[dict[str, Any]]:
    """Every real tool execution."""
    if not agent.ledger.exists():
        return []
    return [json.loads(line) for line in agent.ledger.read_text().splitlines() if line.strip()]


def resume_until_done(
    home: Path,
    agent: TestAgent,
    task_id: str,
    max_rounds: int = 8,
    extra_env: dict[str, str] | None = None,
) -> list[int]:
    """Resume until the task finishes, settling in-doubt calls by the ledger's truth.

    An in-doubt side effect that the ledger shows as done is resolved with its real result; one
    that never happened is retried. Returns the exit codes seen.
    """
    env = {"AGENTRUN_HOME": str(home), **agent.env(), **(extra_env or {})}
    codes = []
    for _ in range(max_rounds):
        proc = run_agentrun("resume", task_id, "--quiet", env=env)
        codes.append(proc.returncode)
        if proc.returncode == 0:
            return codes
        assert proc.returncode == 3, f"resume exited {proc.returncode}: {proc.stderr}"
        assert "Traceback" not in proc.stderr
        call_id = settle_by_ledger(home, agent, task_id, env)
        assert call_id in proc.stderr  # exit 3 names the call
    raise AssertionError(f"task {task_id} did not finish in {max_rounds} resumes: {codes}")


def settle_by_ledger(home: Path, agent: TestAgent, task_id: str, env: dict[str, str]) -> str:
    """Settle the one in-doubt call with ``agentrun resolve``, by the ledger; return its id.

    A call the ledger shows as done gets its real result; one that never happened is retried.
    """
    state = LocalTaskStore(home).load(task_id).state
    in_doubt = state.in_doubt_calls()
    assert len(in_doubt) == 1, state.pending_calls()
    pending = in_doubt[0]
    done = [e for e in ledger(agent) if e["key"] == pending["idempotency_key"]]
    if done:
        result = json.dumps(f"charged {pending['arguments']['amount']}")
        settle = run_agentrun("resolve", task_id, pending["call_id"], "--result", result, env=env)
    else:
        settle = run_agentrun("resolve", task_id, pending["call_id"], "--retry", env=env)
    assert settle.returncode == 0, settle.stderr
    return pending["call_id"]


def check_effects(home: Path, agent: TestAgent, task_id: str) -> None:
    """INV-EFFECT: side effects at most once unless retried; every one had a durable intent."""
    store = LocalTaskStore(home)
    events = list(store.events(task_id))
    intents = {e.idempotency_key: e for e in events if isinstance(e, ToolIntended)}
    retried = {e.call_id for e in events if isinstance(e, ToolResolved) and e.decision == "retried"}
    mine = f"agentrun-{task_id}-"
    counts = Counter(
        e["key"]
        for e in ledger(agent)
        if e["tool"] in SIDE_EFFECT_TOOLS and e["key"].startswith(mine)
    )
    for key, count in counts.items():
        assert key in intents, f"side effect {key} ran without a durable intent"
        if count > 1:
            assert intents[key].call_id in retried, f"side effect {key} ran {count} times"
    report = verify_task(store.ops, store.task_dir(task_id), task_id)
    assert report.is_ok, report.problems


def task_ids(home: Path) -> list[str]:
    """Tasks visible in ``home``."""
    tasks = home / "tasks"
    return (
        sorted(p.name for p in tasks.iterdir() if not p.name.startswith("."))
        if tasks.exists()
        else []
    )


def queue_tasks(home: Path, agent_spec: Path, count: int) -> list[str]:
    """Queue ``count`` tasks of the agent at ``agent_spec`` (as ``agentrun submit`` would)."""
    store = LocalTaskStore(home)
    spec = load_spec(agent_spec, SpecOverrides(), cwd=agent_spec.parent)
    return [create_task(store, spec, f"task {n}") for n in range(count)]


def batch_process(home: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """Start ``agentrun batch --json ARGS`` on ``home`` as a real process."""
    return subprocess.Popen(
        [sys.executable, "-m", "agentrun", "batch", "--json", *args],
        env={**os.environ, "AGENTRUN_HOME": str(home), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
