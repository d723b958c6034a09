"""The agent loop in-process: completion, budgets, approval, refusals, outcome checks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agentrun.core.events import ModelResponded, RunStopped, TaskFinished, ToolIntended
from agentrun.runtime.reporter import SilentReporter
from agentrun.runtime.runner import CANCEL_POLL_S, Runner, RunOptions, now_iso
from agentrun.runtime.spec import SpecOverrides, load_spec
from agentrun.runtime.tasks import create_task, resolve_call
from agentrun.store.local import LocalTaskStore
from tests.runtime.agents import call, make_agent, turn


@pytest.fixture
def store(agentrun_home: Path) -> LocalTaskStore:
    return LocalTaskStore(agentrun_home)


@pytest.fixture(autouse=True)
def ledger_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    ledger = tmp_path / "agent" / "ledger.jsonl"
    monkeypatch.setenv("AGENTRUN_LEDGER", str(ledger))
    return ledger


def new_task(store: LocalTaskStore, tmp_path: Path, turns=None, extra: str = "", **budget) -> str:
    agent = make_agent(tmp_path / "agent", turns, extra=extra)
    spec = load_spec(agent.spec, SpecOverrides(budget=budget), cwd=tmp_path)
    return create_task(store, spec, "do the thing")


def run(store: LocalTaskStore, task_id: str, **options) -> object:
    return Runner(store, task_id, SilentReporter(), RunOptions(**options)).run()


def ledger(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_task_runs_to_completion_and_runs_each_call_once(store, tmp_path, ledger_env):
    task_id = new_task(store, tmp_path)
    result = run(store, task_id)
    assert (result.exit_code, result.status, result.message) == (0, "succeeded", "all done")
    tools = [e["tool"] for e in ledger(ledger_env)]
    assert tools == [
        "lookup",
        "charge",
        "lookup",
        "store_value",
        "notify",
        "charge",
        "lookup",
        "notify",
    ]
    assert (tmp_path / "agent" / "workspace" / "out.txt").read_text() == "two\n"
    state = store.load(task_id).state
    assert state.steps == 9 and state.outcome == "succeeded"
    assert set(state.files) == {"out.txt"}


def test_idempotency_keys_are_distinct_per_call_and_name_the_task(store, tmp_path, ledger_env):
    task_id = new_task(store, tmp_path)
    run(store, task_id)
    keys = [e["key"] for e in ledger(ledger_env)]
    assert len(set(keys)) == len(keys)
    assert all(k.startswith(f"agentrun-{task_id}-") for k in keys)


def test_a_finished_task_is_not_run_again(store, tmp_path, ledger_env):
    task_id = new_task(store, tmp_path)
    run(store, task_id)
    before = len(ledger(ledger_env))
    result = run(store, task_id)
    assert result.exit_code == 0 and len(ledger(ledger_env)) == before


def test_max_steps_pauses_with_exit_4_and_a_raised_budget_finishes(store, tmp_path):
    task_id = new_task(store, tmp_path, max_steps=3)
    paused = run(store, task_id)
    assert (paused.exit_code, paused.status) == (4, "paused")
    assert paused.message.endswith(f"`agentrun resume {task_id} --max-steps 6`")
    assert store.load(task_id).state.steps == 3
    done = run(store, task_id, budget={"max_steps": 50})
    assert done.status == "succeeded"


def test_a_budget_survives_a_new_process_because_it_is_folded(store, tmp_path):
    task_id = new_task(store, tmp_path, max_steps=3)
    run(store, task_id)
    again = run(store, task_id)  # no raise: still over budget
    assert again.exit_code == 4
    assert store.load(task_id).state.steps == 3


def test_unattended_approval_stops_with_exit_3_and_resolve_runs_the_call_once(
    store, tmp_path, ledger_env
):
    turns = [turn(call("charge", amount=1)), turn(content="paid")]
    task_id = new_task(store, tmp_path, turns, extra='[policy]\napprove = ["charge"]\n')
    first = run(store, task_id)
    assert (first.exit_code, first.status) == (3, "needs_attention")
    assert ledger(ledger_env) == []
    call_id = store.load(task_id).state.pending_calls()[0]["call_id"]
    assert call_id in first.message and "--approve" in first.message
    said = resolve_call(store, task_id, call_id, "approve")
    assert said == f"call {call_id}: approved; `agentrun resume {task_id}` continues the task"
    assert f"then `agentrun resume {task_id}`" in first.message
    done = run(store, task_id)
    assert done.status == "succeeded"
    assert [e["tool"] for e in ledger(ledger_env)] == ["charge"]
    assert run(store, task_id).exit_code == 0 and len(ledger(ledger_env)) == 1


def test_a_cancelled_task_has_nothing_to_resolve(store, tmp_path, ledger_env):
    from agentrun.core.errors import UsageError
    from agentrun.runtime.cancel import cancel_task

    turns = [turn(call("charge", amount=1)), turn(content="paid")]
    task_id = new_task(store, tmp_path, turns, extra='[policy]\napprove = ["charge"]\n')
    run(store, task_id)
    call_id = store.load(task_id).state.pending_calls()[0]["call_id"]
    cancel_task(store, task_id, "user")
    seq = store.load(task_id).state.last_seq
    with pytest.raises(UsageError, match="is cancelled; it runs no more calls"):
        resolve_call(store, task_id, call_id, "approve")
    assert store.load(task_id).state.last_seq == seq  # nothing was written
    assert ledger(ledger_env) == []


def test_a_denied_call_never_runs_and_the_model_is_told(store, tmp_path, ledger_env):
    turns = [turn(call("charge", amount=1)), turn(content="ok, not paying")]
    task_id = new_task(store, tmp_path, turns, extra='[policy]\napprove = ["charge"]\n')
    run(store, task_id)
    call_id = store.load(task_id).state.pending_calls()[0]["call_id"]
    resolve_call(store, task_id, call_id, "deny")
    assert run(store, task_id).status == "succeeded"
    assert ledger(ledger_env) == []
    tool_messages = [m for m in store.load(task_id).state.messages if m["role"] == "tool"]
    assert "denied" in tool_messages[0]["content"]


def test_an_unknown_tool_is_reported_to_the_model_and_the_task_goes_on(store, tmp_path):
    turns = [turn(call("no_such_tool", x=1)), turn(content="fine")]
    task_id = new_task(store, tmp_path, turns)
    assert run(store, task_id).status == "succeeded"
    tool_message = next(m for m in store.load(task_id).state.messages if m["role"] == "tool")
    assert "unknown tool 'no_such_tool'" in tool_message["content"]
    kinds = [e.kind for e in store.events(task_id)]
    assert "tool_intended" not in kinds  # nothing ran, so nothing was intended


def test_invalid_arguments_are_reported_to_the_model(store, tmp_path, ledger_env):
    turns = [turn(call("charge", amount="lots")), turn(content="fine")]
    task_id = new_task(store, tmp_path, turns)
    assert run(store, task_id).status == "succeeded"
    tool_message = next(m for m in store.load(task_id).state.messages if m["role"] == "tool")
    assert tool_message["content"].startswith("error:")
    assert ledger(ledger_env) == []


def test_finish_with_failed_outcome_exits_1(store, tmp_path):
    turns = [turn(call("finish", outcome="failed", summary="could not"))]
    task_id = new_task(store, tmp_path, turns)
    result = run(store, task_id)
    assert (result.exit_code, result.status, result.message) == (1, "failed", "could not")


@pytest.mark.parametrize(
    "arguments", [{"outcome": "weird", "summary": "nope"}, {"summary": "no outcome"}]
)
def test_a_finish_with_refused_arguments_ends_nothing_and_the_model_is_told(
    store, tmp_path, arguments
):
    turns = [turn(call("finish", **arguments)), turn(content="really done")]
    task_id = new_task(store, tmp_path, turns)
    result = run(store, task_id)
    assert (result.status, result.message) == ("succeeded", "really done")
    told = [m for m in store.load(task_id).state.messages if m["role"] == "tool"]
    assert len(told) == 1 and "outcome" in told[0]["content"]


def test_a_reply_too_large_to_record_stops_the_run_resumably_and_says_so(
    store, tmp_path, monkeypatch
):
    from agentrun.core.errors import ModelResponseError

    monkeypatch.setattr("agentrun.store.log_writer.MAX_RECORD", 4096)
    task_id = new_task(store, tmp_path, [turn(content="x" * 5000)])
    with pytest.raises(ModelResponseError, match="more than the 4,096 a log record holds"):
        run(store, task_id)
    state = store.load(task_id).state
    assert (state.status, state.stop_reason, state.steps) == ("paused", "error", 0)


def test_the_outcome_check_decides_success(store, tmp_path):
    turns = [turn(content="done")]
    failing = new_task(store, tmp_path, turns, extra='[outcome]\ncheck = "test -f missing"\n')
    result = run(store, failing)
    assert result.status == "failed"
    assert result.message == "the outcome check `test -f missing` exited 1; the agent said: done"
    check = store.load(failing).state.check
    assert check["exit_code"] == 1 and check["passed"] is False


@pytest.mark.parametrize(("max_attempts", "said"), [(2, "2 runs crashed"), (1, "1 run crashed")])
def test_a_poison_step_fails_after_max_attempts_crashes(store, tmp_path, max_attempts, said):
    from agentrun.core.events import RunStarted

    task_id = new_task(store, tmp_path, max_attempts=max_attempts)
    # Simulate runs that crashed: each claims, writes run_started, and dies silently.
    for _ in range(max_attempts):
        writer = store.open_writer(task_id)
        writer.append(
            [
                RunStarted(
                    seq=writer.next_seq,
                    ts="2026-11-26T00:00:00+00:00",
                    pid=1,
                    host="h",
                    version="0",
                    attempt=writer.state.attempts + 1,
                )
            ],
            sync=True,
        )
        writer.abandon()
    result = run(store, task_id)
    assert result.status == "failed"
    assert result.message.startswith(f"{said} before finishing")
    assert f"max_attempts is {max_attempts}" in result.message


def test_group_commit_costs_one_fsync_per_read_step_and_two_with_a_side_effect(store, tmp_path):
    reads = [turn(call("lookup", key=str(i))) for i in range(20)] + [turn(content="end")]
    read_task = new_task(store, tmp_path / "r", reads)
    runner = Runner(store, read_task, SilentReporter())
    runner.run()
    read_fsyncs = runner.writer.fsync_count
    effects = [turn(call("charge", amount=i)) for i in range(20)] + [turn(content="end")]
    effect_task = new_task(store, tmp_path / "e", effects)
    runner = Runner(store, effect_task, SilentReporter())
    runner.run()
    effect_fsyncs = runner.writer.fsync_count
    # Plus three per run: run_started, the final answer turn and task_finished.
    assert read_fsyncs == 20 + 3
    assert effect_fsyncs == 40 + 3


def test_every_side_effect_intent_is_durable_before_the_tool_ran(store, tmp_path, ledger_env):
    task_id = new_task(store, tmp_path)
    run(store, task_id)
    events = list(store.events(task_id))
    intents = {e.idempotency_key: e.seq for e in events if isinstance(e, ToolIntended)}
    for entry in ledger(ledger_env):
        assert entry["key"] in intents
    assert any(isinstance(e, ModelResponded) for e in events)
    assert isinstance(events[-1], TaskFinished)
    assert not any(isinstance(e, RunStopped) for e in events)


def test_timestamps_are_iso_utc_with_microseconds_like_datetime_gives_them():
    stamps = [now_iso() for _ in range(2000)]
    before = datetime.now(UTC)
    stamp = now_iso()
    after = datetime.now(UTC)
    for text in [*stamps, stamp]:
        parsed = datetime.fromisoformat(text)
        assert parsed.isoformat(timespec="microseconds") == text
    assert before - timedelta(milliseconds=1) <= datetime.fromisoformat(stamp) <= after


def test_a_cancel_request_left_before_the_run_stops_it_at_the_first_safe_point(
    store, tmp_path, ledger_env
):
    task_id = new_task(store, tmp_path)
    store.request_cancel(task_id, "tester")
    result = run(store, task_id)
    state = store.load(task_id).state
    assert (result.status, state.steps, ledger(ledger_env)) == ("cancelled", 0, [])


def test_a_cancel_request_during_a_run_is_seen_within_the_poll_interval(
    store, tmp_path, ledger_env, monkeypatch
):
    turns = [turn(call("lookup", key=str(i)), delay_s=CANCEL_POLL_S / 2) for i in range(40)]
    task_id = new_task(store, tmp_path, [*turns, turn(content="done")])
    runner = Runner(store, task_id, SilentReporter())
    polls = 0
    original = runner._poll_cancel_request

    def poll() -> str | None:
        nonlocal polls
        polls += 1
        if polls == 3:
            store.request_cancel(task_id, "tester")
        return original()

    monkeypatch.setattr(runner, "_poll_cancel_request", poll)
    result = runner.run()
    # Requested at the third safe point; each step takes half the interval, so the request is
    # seen by the third step after it at the latest.
    assert result.status == "cancelled"
    assert 2 <= store.load(task_id).state.steps <= 5
