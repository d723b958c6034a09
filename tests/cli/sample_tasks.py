"""Sample tasks for the read-command tests, run in-process by a scripted agent.

``ledger_env`` is a fixture: import it into a test module to use it (``# noqa: F401``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentrun.core.events import ModelResponded, RunStarted, ToolIntended
from agentrun.runtime.reporter import SilentReporter
from agentrun.runtime.runner import Runner, RunOptions
from agentrun.runtime.spec import SpecOverrides, load_spec
from agentrun.runtime.tasks import create_task
from agentrun.store.local import LocalTaskStore
from tests.runtime.agents import MIXED_TURNS, TestAgent, call, make_agent, turn


@pytest.fixture
def ledger_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the ledger tools record their executions."""
    ledger = tmp_path / "ledger.jsonl"
    monkeypatch.setenv("AGENTRUN_LEDGER", str(ledger))
    return ledger


def store_at(home: Path) -> LocalTaskStore:
    return LocalTaskStore(home)


def new_agent(
    tmp_path: Path, name: str, turns: list[dict[str, Any]] | None = None, extra: str = ""
) -> TestAgent:
    return make_agent(tmp_path / f"agent-{name}", turns, extra=extra)


def create(
    home: Path,
    agent: TestAgent,
    *,
    task_id: str | None = None,
    goal: str = "do the thing",
) -> str:
    spec = load_spec(agent.spec, SpecOverrides(), cwd=agent.spec.parent)
    return create_task(store_at(home), spec, goal, task_id=task_id)


def run(home: Path, task_id: str, **options: Any) -> Any:
    return Runner(store_at(home), task_id, SilentReporter(), RunOptions(**options)).run()


def finished_task(
    home: Path,
    tmp_path: Path,
    *,
    task_id: str = "sample",
    turns: list[dict[str, Any]] | None = None,
    extra: str = "",
) -> str:
    """A task of the mixed workload (9 steps, side effects, file edits), run to the end."""
    created = create(home, new_agent(tmp_path, task_id, turns, extra), task_id=task_id)
    result = run(home, created)
    assert result.status == "succeeded", result
    return created


def needs_attention_task(home: Path, tmp_path: Path, task_id: str = "waiting") -> str:
    """A task stopped for approval of a side effect (exit 3)."""
    turns = [turn(call("charge", amount=1)), turn(content="paid")]
    agent = new_agent(tmp_path, task_id, turns, extra='[policy]\napprove = ["charge"]\n')
    created = create(home, agent, task_id=task_id)
    assert run(home, created).exit_code == 3
    return created


def first_run_started(seq: int) -> RunStarted:
    """The ``run_started`` of a task's first run, at a fixed time (08:15:00 UTC)."""
    return RunStarted(
        seq=seq, ts="2026-11-26T08:15:00+00:00", pid=4242, host="build-1", version="0", attempt=1
    )


def interrupted_task(home: Path, tmp_path: Path, task_id: str = "crashed") -> str:
    """A task whose run started and died without a word (no claim held, log says running)."""
    created = create(home, new_agent(tmp_path, task_id), task_id=task_id)
    writer = store_at(home).open_writer(created)
    writer.append([first_run_started(writer.next_seq)], sync=True)
    writer.abandon()
    return created


def in_doubt_task(home: Path, tmp_path: Path, task_id: str = "in-doubt") -> str:
    """A task killed after the intent of ``notify`` (a side effect with ``reconcile``)."""
    turns = [turn(call("notify", text="hi")), turn(content="done")]
    created = create(home, new_agent(tmp_path, task_id, turns), task_id=task_id)
    writer = store_at(home).open_writer(created)
    seq, ts = writer.next_seq, "2026-11-26T08:15:00+00:00"
    notify = {"id": "call_0_0", "name": "notify", "arguments": {"text": "hi"}}
    message = {"role": "assistant", "content": "", "tool_calls": [notify]}
    writer.append(
        [
            RunStarted(seq=seq, ts=ts, pid=4242, host="build-1", version="0", attempt=1),
            ModelResponded(seq=seq + 1, ts=ts, message=message, usage={}, model="scripted"),
            ToolIntended(
                seq=seq + 2,
                ts=ts,
                call_id="call_0_0",
                tool="notify",
                arguments={"text": "hi"},
                effect="side_effect",
                idempotency_key=f"agentrun-{created}-call_0_0-{seq + 2}",
            ),
        ],
        sync=True,
    )
    writer.abandon()
    return created


def script(path: Path, turns: list[dict[str, Any]]) -> Path:
    """Write a scripted model's turns to ``path``."""
    path.write_text(json.dumps({"turns": turns}))
    return path


__all__ = ["MIXED_TURNS", "call", "turn"]
