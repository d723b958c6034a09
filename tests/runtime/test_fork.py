"""``fork_task``: a new task from another's state at an event — conversation, steps, agent, keys."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agentrun.core.errors import ToolLoadError, UsageError
from agentrun.core.events import TaskCreated, ToolIntended
from agentrun.core.state import fold
from agentrun.runtime.fork import fork_task, state_at
from agentrun.runtime.runner import build_messages
from agentrun.runtime.spec import AgentSpec, SpecOverrides
from agentrun.store.local import LocalTaskStore
from tests.cli.sample_tasks import (
    finished_task,
    ledger_env,  # noqa: F401
    needs_attention_task,
    new_agent,
    run,
)
from tests.store.builders import build_task, tree_digest

pytestmark = pytest.mark.usefixtures("ledger_env")


@pytest.fixture
def store(agentrun_home: Path) -> LocalTaskStore:
    return LocalTaskStore(agentrun_home)


@pytest.fixture
def parent(agentrun_home: Path, tmp_path: Path) -> str:
    return finished_task(agentrun_home, tmp_path, extra='system = "You are careful."\n')


def ledger_path() -> Path:
    return Path(os.environ["AGENTRUN_LEDGER"])


def ledger(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def without_provenance(messages: list[dict]) -> list[dict]:
    return [{k: v for k, v in m.items() if k not in ("seq", "origin")} for m in messages]


def test_task_created_carries_parent_goal_agent_and_the_conversation(store, parent):
    result = fork_task(store, parent, 11)
    created = next(iter(store.events(result.task_id)))
    at = state_at(store, parent, 11)
    assert isinstance(created, TaskCreated)
    assert created.parent == {"task_id": parent, "seq": 11, "steps": 3}
    assert (created.goal, created.agent) == (at.goal, at.agent)
    assert without_provenance(created.messages) == without_provenance(at.messages)
    assert (result.seq, result.steps, result.messages, result.agent_changed) == (11, 3, 6, False)


def test_inherited_messages_name_the_parents_event_as_their_origin(store, parent):
    result = fork_task(store, parent, 11)
    inherited = store.load(result.task_id).state.messages
    parents = state_at(store, parent, 11).messages
    assert all("seq" not in m for m in inherited)  # the fork's own events are other events
    assert [m["origin"] for m in inherited] == [
        {"task_id": parent, "seq": m["seq"]} for m in parents
    ]
    grandchild = fork_task(store, result.task_id, 1)
    assert store.load(grandchild.task_id).state.messages == inherited  # origins kept


def test_the_fork_sends_the_model_what_the_parent_had_without_a_second_goal(store, parent):
    result = fork_task(store, parent, 11)
    forked = store.load(result.task_id).state
    at = state_at(store, parent, 11)
    sent = build_messages(AgentSpec.from_dict(forked.agent), forked)
    assert sent == build_messages(AgentSpec.from_dict(at.agent), at)
    assert [m.role for m in sent][:3] == ["system", "user", "assistant"]
    assert sum(1 for m in sent if m.role == "user") == 1
    assert forked.steps == at.steps == 3  # folded from the parent: the script continues


def test_a_scripted_fork_continues_the_script_and_runs_only_later_calls(
    store, parent, agentrun_home
):
    before = len(ledger(ledger_path()))
    result = fork_task(store, parent, 11)
    assert run(agentrun_home, result.task_id).status == "succeeded"
    forked = store.load(result.task_id).state
    parent_state = store.load(parent).state
    assert forked.steps == parent_state.steps == 9
    assert without_provenance(forked.messages[:6]) == without_provenance(parent_state.messages[:6])
    assert [m.get("tool_calls") for m in forked.messages] == [
        m.get("tool_calls") for m in parent_state.messages
    ]
    ran = [e["tool"] for e in ledger(ledger_path())[before:]]
    assert ran == ["lookup", "store_value", "notify", "charge", "lookup", "notify"]


def test_a_fork_presents_fresh_idempotency_keys(store, parent, agentrun_home):
    result = fork_task(store, parent, 11)
    run(agentrun_home, result.task_id)
    keys = {e.idempotency_key for e in store.events(result.task_id) if isinstance(e, ToolIntended)}
    old = {e.idempotency_key for e in store.events(parent) if isinstance(e, ToolIntended)}
    assert keys and not keys & old
    assert all(k.startswith(f"agentrun-{result.task_id}-") for k in keys)


def test_unsettled_calls_at_the_fork_point_are_refused_by_name(store, parent):
    with pytest.raises(UsageError) as caught:
        fork_task(store, parent, 14)  # lookup b is done, store_value not yet asked for
    message = str(caught.value)
    assert "call_3_1 (store_value, not run yet)" in message
    assert "fork at event 11" in message and "at event 16" in message
    assert "--drop-pending" in message


def test_an_in_doubt_call_is_named_as_in_doubt(store, parent):
    events = list(store.events(parent))
    intent = next(e for e in events if isinstance(e, ToolIntended) and e.tool == "charge")
    with pytest.raises(UsageError, match=f"{intent.call_id} \\(charge, in doubt\\)"):
        fork_task(store, parent, intent.seq)


def test_drop_pending_starts_before_the_turn_that_asked(store, parent):
    result = fork_task(store, parent, 14, drop_pending=True)
    assert (result.seq, result.steps) == (11, 3)
    assert [c["call_id"] for c in result.dropped_calls] == ["call_3_1"]


def test_a_task_waiting_for_approval_forks_before_that_turn(store, agentrun_home, tmp_path):
    waiting = needs_attention_task(agentrun_home, tmp_path)
    last = store.load(waiting).state.last_seq
    with pytest.raises(UsageError, match="not run yet"):
        fork_task(store, waiting, last)
    result = fork_task(store, waiting, last, drop_pending=True)
    assert result.steps == 0 and result.messages == 0


@pytest.mark.parametrize("seq", [0, -3, 10_000])
def test_a_seq_outside_the_log_is_a_usage_error(store, parent, seq):
    with pytest.raises(UsageError, match="event"):
        fork_task(store, parent, seq)


def test_overrides_change_the_parents_agent_and_are_recorded(store, parent, tmp_path):
    overrides = SpecOverrides(system="Be brief.", budget={"max_steps": 20})
    result = fork_task(store, parent, 11, overrides=overrides, cwd=tmp_path)
    agent = store.load(result.task_id).state.agent
    assert result.agent_changed
    assert agent["system"] == "Be brief." and agent["budget"]["max_steps"] == 20
    assert agent["tools"] == store.load(parent).state.agent["tools"]
    assert any(t["name"] == "charge" for t in agent["manifest"])


def test_a_new_agent_file_replaces_the_agent_and_its_tools_are_loaded_now(store, parent, tmp_path):
    broken = new_agent(tmp_path, "broken")
    (broken.spec.parent / "bad_tools.py").write_text("this is not python(\n")
    broken.spec.write_text(broken.spec.read_text().replace('"files",', '"files", "bad_tools.py",'))
    with pytest.raises(ToolLoadError):
        fork_task(store, parent, 11, agent_file=broken.spec, cwd=tmp_path)
    fine = new_agent(tmp_path, "fine")
    fine.spec.write_text(fine.spec.read_text().replace('name = "test"', 'name = "second"'))
    result = fork_task(store, parent, 11, agent_file=fine.spec, cwd=tmp_path)
    assert store.load(result.task_id).state.agent["name"] == "second"


def test_a_fork_of_a_fork_counts_every_inherited_step(store, parent, agentrun_home):
    first = fork_task(store, parent, 11)
    run(agentrun_home, first.task_id)
    events = list(store.events(first.task_id))
    second_seq = next(e.seq for e in events if e.kind == "tool_completed" and e.seq > 6)
    second = fork_task(store, first.task_id, second_seq)
    assert second.steps == fold(events[:second_seq]).steps == 4
    assert run(agentrun_home, second.task_id).status == "succeeded"
    assert store.load(second.task_id).state.steps == 9


def test_forking_never_writes_to_the_parent(store, parent, agentrun_home):
    before = tree_digest(agentrun_home / "tasks" / parent)
    fork_task(store, parent, 11)
    fork_task(store, parent, 14, drop_pending=True)
    assert tree_digest(agentrun_home / "tasks" / parent) == before


def test_a_squashed_task_forks_only_at_its_final_state(store, parent):
    writer = store.open_writer(parent)
    writer.squash()
    writer.close(snapshot=False)
    with pytest.raises(UsageError, match="squashed"):
        fork_task(store, parent, 11)
    last = store.load(parent).state.last_seq
    result = fork_task(store, parent, last)
    assert result.warnings and "final answer" in result.warnings[-1]


def test_the_fork_is_created_queued_and_waits_for_resume(store, parent):
    result = fork_task(store, parent, 11, task_id="my-fork")
    summary = store.summary(result.task_id)
    assert result.task_id == "my-fork"
    assert summary["status"] == "queued" and summary["parent"]["task_id"] == parent
    with pytest.raises(UsageError, match="already exists"):
        fork_task(store, parent, 11, task_id="my-fork")


def test_the_state_at_an_event_is_the_fold_up_to_it_whether_or_not_a_snapshot_precedes_it(
    tmp_path: Path,
) -> None:
    store = LocalTaskStore(tmp_path / "home")
    built = build_task(store, 120, task_id="t-at", snapshot_at={40, 80})
    events = list(store.events(built.task_id))
    for seq in (1, 39, 40, 41, 80, 95, 120):
        expected = fold(e for e in events if e.seq <= seq).to_dict()
        assert state_at(store, built.task_id, seq).to_dict() == expected, seq
