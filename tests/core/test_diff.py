"""``core.diff``: what a range of events changed, and where two runs part ways (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from agentrun.core.diff import (
    ONLY_IN_A,
    RESULTS,
    TEXT,
    TOOL_CALLS,
    compare_runs,
    diff_range,
    run_steps,
)
from agentrun.core.events import (
    Event,
    ModelResponded,
    RunStarted,
    TaskCreated,
    TaskFinished,
    ToolCompleted,
    ToolIntended,
    ToolResolved,
)
from agentrun.core.state import State, fold


def ts(seq: int) -> str:
    return f"2026-11-26T08:00:{seq:02d}+00:00"


def created(task_id: str = "t", **extra: Any) -> TaskCreated:
    return TaskCreated(seq=1, ts=ts(1), task_id=task_id, goal="g", agent={"name": "a"}, **extra)


def turn(seq: int, *calls: tuple[str, str, dict], text: str = "") -> ModelResponded:
    message = {"role": "assistant", "content": text}
    if calls:
        message["tool_calls"] = [{"id": i, "name": n, "arguments": a} for i, n, a in calls]
    return ModelResponded(
        seq=seq,
        ts=ts(seq),
        message=message,
        usage={"input_tokens": 10, "output_tokens": 2},
        model="m",
        cost_usd=0.5,
    )


def intended(seq: int, call_id: str, tool: str, effect: str = "side_effect") -> ToolIntended:
    return ToolIntended(
        seq=seq,
        ts=ts(seq),
        call_id=call_id,
        tool=tool,
        arguments={},
        effect=effect,
        idempotency_key=f"k-{call_id}",
    )


def completed(seq: int, call_id: str, output: str, **extra: Any) -> ToolCompleted:
    return ToolCompleted(seq=seq, ts=ts(seq), call_id=call_id, output=output, **extra)


def a_run(task_id: str = "t", charge: int = 5, result: str = "charged") -> list[Event]:
    return [
        created(task_id),
        RunStarted(seq=2, ts=ts(2), pid=1, host="h", version="0", attempt=1),
        turn(3, ("c1", "write", {"path": "a.txt"})),
        intended(4, "c1", "write", "idempotent"),
        completed(5, "c1", "wrote", files=[{"path": "a.txt", "before": None, "after": "h1"}]),
        turn(6, ("c2", "charge", {"amount": charge})),
        intended(7, "c2", "charge"),
        completed(8, "c2", result, is_error=result != "charged"),
        turn(9, text="done"),
        TaskFinished(seq=10, ts=ts(10), outcome="succeeded", answer="done"),
    ]


def test_a_whole_run_from_the_empty_state():
    d = diff_range(State(), a_run())
    assert (d.from_seq, d.to_seq, d.events) == (0, 10, 10)
    assert (d.status_before, d.status_after, d.outcome, d.answer) == (
        "queued",
        "succeeded",
        "succeeded",
        "done",
    )
    assert [(c.call_id, c.tool, c.effect, c.outcome, c.output) for c in d.calls] == [
        ("c1", "write", "idempotent", "completed", "wrote"),
        ("c2", "charge", "side_effect", "completed", "charged"),
    ]
    assert [(f.path, f.before, f.after, f.change) for f in d.files] == [
        ("a.txt", None, "h1", "added")
    ]
    assert (d.usage.steps, d.usage.tool_calls, d.usage.input_tokens, d.usage.cost_usd) == (
        3,
        2,
        30,
        1.5,
    )
    assert d.kinds["model_responded"] == 3 and d.kinds["tool_completed"] == 2


def test_a_range_ending_between_intent_and_result_leaves_the_call_in_doubt():
    events = a_run()
    d = diff_range(fold(events[:5]), events[5:7])
    assert (d.from_seq, d.to_seq) == (5, 7)
    (charge,) = d.calls
    assert (charge.tool, charge.outcome, charge.output) == ("charge", "in_doubt", None)
    assert [m["role"] for m in d.messages_added] == ["assistant"]
    assert d.files == [] and d.status_before == d.status_after == "running"


def test_usage_counts_the_calls_the_diff_lists():
    # The range starts after the turn that asked for c2: the call is listed, so it counts.
    events = a_run()
    d = diff_range(fold(events[:6]), events[6:8])
    assert [(c.call_id, c.outcome) for c in d.calls] == [("c2", "completed")]
    assert (d.usage.steps, d.usage.tool_calls) == (0, 1)
    whole = diff_range(State(), events)
    assert whole.usage.tool_calls == len(whole.calls) == fold(events).tool_calls


def test_the_result_of_the_diff_is_the_fold_of_the_range():
    events = a_run()
    before = fold(events[:4])
    d = diff_range(before, events[4:8])
    after = fold(events[:8])
    assert d.messages_added == after.messages[len(before.messages) :]
    assert before.last_seq == 4  # the starting state is not touched


@pytest.mark.parametrize(
    ("decision", "output", "outcome"),
    [("skipped", None, "skipped"), ("result", "given", "result"), ("denied", None, "denied")],
)
def test_a_resolved_call_says_how_it_was_settled(decision, output, outcome):
    events = a_run()[:7]
    resolution = ToolResolved(
        seq=8, ts=ts(8), call_id="c2", decision=decision, by="user", output=output
    )
    d = diff_range(fold(events[:5]), [*events[5:], resolution])
    (charge,) = d.calls
    assert charge.outcome == outcome and charge.output == output
    assert charge.resolutions == ({"decision": decision, "by": "user", "seq": 8},)


def test_a_file_changed_and_changed_back_is_not_a_difference():
    files = [{"path": "a.txt", "before": "h0", "after": "h1"}]
    back = [{"path": "a.txt", "before": "h1", "after": "h0"}]
    events = [
        created(),
        turn(2, ("c1", "write", {})),
        completed(3, "c1", "ok", files=files),
        turn(4, ("c2", "write", {})),
        completed(5, "c2", "ok", files=back),
    ]
    assert diff_range(State(), events).files == []
    assert [f.change for f in diff_range(State(), events[:3]).files] == ["modified"]


def test_steps_pair_each_turn_with_its_results_and_seq():
    run = run_steps(a_run())
    assert [(s.number, s.seq, s.inherited) for s in run.steps] == [
        (1, 3, False),
        (2, 6, False),
        (3, 9, False),
    ]
    assert [(c.name, c.output) for c in run.steps[1].calls] == [("charge", "charged")]
    assert run.steps[2].text == "done" and run.steps[2].calls == ()


def test_identical_runs_do_not_diverge():
    c = compare_runs(run_steps(a_run("a")), run_steps(a_run("b")))
    assert c.first_divergence is None and c.common_steps == 3 and c.after == []


@pytest.mark.parametrize(
    ("other", "expected"),
    [
        (a_run("b", charge=7), (TOOL_CALLS,)),
        (a_run("b", result="card declined"), (RESULTS,)),
    ],
)
def test_the_first_divergence_says_what_differs(other, expected):
    c = compare_runs(run_steps(a_run("a")), run_steps(other))
    assert c.common_steps == 1
    assert c.first_divergence.number == 2 and c.first_divergence.differences == expected
    assert [p.number for p in c.after] == [2, 3]
    assert c.after[1].differences == ()


def test_calls_with_other_arguments_and_other_results_differ_in_both():
    other = a_run("b", charge=7, result="card declined")
    c = compare_runs(run_steps(a_run("a")), run_steps(other))
    assert c.first_divergence.differences == (TOOL_CALLS, RESULTS)


def test_a_shorter_run_diverges_where_it_ends():
    short = [*a_run("b")[:8], turn(9, text="stopped early")]
    c = compare_runs(run_steps(a_run("a")), run_steps(short[:8]))
    assert c.first_divergence.number == 3 and c.first_divergence.differences == (ONLY_IN_A,)
    c = compare_runs(run_steps(a_run("a")), run_steps(short))
    assert c.first_divergence.differences == (TEXT,)


def test_a_fork_inherits_steps_and_names_the_fork_point():
    parent = a_run("p")
    inherited = fold(parent[:5]).messages
    child = [
        created("c", parent={"task_id": "p", "seq": 5, "steps": 1}, messages=inherited),
        turn(2, ("c2", "charge", {"amount": 9})),
        intended(3, "c2", "charge"),
        completed(4, "c2", "charged"),
    ]
    child_run = run_steps(child)
    assert [(s.seq, s.inherited) for s in child_run.steps] == [(None, True), (2, False)]
    assert child_run.state.steps == 2
    c = compare_runs(run_steps(parent), child_run)
    assert c.fork is not None and (c.fork.parent, c.fork.child, c.fork.seq, c.fork.step) == (
        "p",
        "c",
        5,
        2,
    )
    assert c.first_divergence.number == 2 and c.at_fork_point
    reverse = compare_runs(child_run, run_steps(parent))
    assert reverse.fork == c.fork and reverse.at_fork_point
