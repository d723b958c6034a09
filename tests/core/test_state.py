"""``State = fold(events)`` is a pure, resumable function of the log (design §2, rule 18, T13).

Folding from a snapshot must give the same answer as folding from the start: for every split
point k, ``fold(events) == fold(events[k:], base=fold(events[:k]))``, also when the base went
through ``to_dict``/msgpack/``from_dict`` as a snapshot does (INV-SNAPSHOT). ``fold`` never changes
its base or its events.
"""

from __future__ import annotations

import copy

from hypothesis import given, settings

from agentrun.core.codec import decode_value, encode_value
from agentrun.core.events import (
    Event,
    ModelResponded,
    RunStarted,
    TaskCreated,
    ToolCompleted,
    ToolIntended,
    to_record,
)
from agentrun.core.state import CALL_DONE, CALL_INTENDED, RUNNING, State, fold
from tests.core.strategies import event_sequences, seeded

FOLD_EXAMPLES = 200


@seeded
@settings(max_examples=FOLD_EXAMPLES, deadline=None)
@given(events=event_sequences())
def test_folding_from_any_split_point_equals_folding_from_the_start(events: list[Event]) -> None:
    """T13 at CI counts; the base also goes through the snapshot encoding (msgpack, from_dict)."""
    whole = fold(events)
    for k in range(len(events) + 1):
        base = fold(events[:k])
        assert fold(events[k:], base=base) == whole, f"split at k={k}"
        restored = State.from_dict(decode_value(encode_value(base.to_dict())))
        assert restored == base, f"snapshot encoding changed the state at k={k}"
        assert fold(events[k:], base=restored) == whole, f"split at k={k} after a snapshot"


@seeded
@settings(max_examples=FOLD_EXAMPLES, deadline=None)
@given(events=event_sequences())
def test_from_dict_inverts_to_dict_and_fold_changes_neither_base_nor_events(
    events: list[Event],
) -> None:
    state = fold(events)
    assert State.from_dict(state.to_dict()) == state
    assert State.from_dict(state.to_dict()).to_dict() == state.to_dict()
    half = len(events) // 2
    base = fold(events[:half])
    base_before = copy.deepcopy(base.to_dict())
    records_before = [copy.deepcopy(to_record(e)) for e in events]
    fold(events[half:], base=base)
    fold(events[half:], base=base)
    assert base.to_dict() == base_before
    assert [to_record(e) for e in events] == records_before


def test_from_dict_copies_so_the_input_map_stays_untouched() -> None:
    state = fold(_run())
    data = state.to_dict()
    restored = State.from_dict(data)
    restored.messages.append({"role": "user"})
    restored.calls["call_1"]["status"] = "changed"
    assert data == state.to_dict()


def test_from_dict_ignores_unknown_keys() -> None:
    assert State.from_dict({"goal": "g", "added_later": 1}) == State(goal="g")


def test_fold_of_nothing_is_the_empty_state() -> None:
    assert fold([]) == State()
    base = fold(_run())
    assert fold([], base=base) == base and fold([], base=base) is not base


def test_a_realistic_run_folds_to_the_expected_state() -> None:
    state = fold(_run())
    assert (state.task_id, state.status, state.last_seq, state.attempts) == ("t1", RUNNING, 5, 1)
    assert (state.steps, state.tool_calls, state.input_tokens, state.output_tokens) == (1, 1, 10, 2)
    assert state.calls["call_1"]["status"] == CALL_DONE
    assert state.calls["call_1"]["intent_seq"] == 4
    last = state.messages[-1]
    assert {k: last.get(k) for k in ("role", "content", "tool_call_id", "name")} == {
        "role": "tool",
        "content": "42",
        "tool_call_id": "call_1",
        "name": "calc",
    }
    assert state.active_seconds == 3.0
    assert state.files == {"a.txt": {"before": None, "after": "h1", "seq": 5}}


def test_an_intended_call_without_a_result_is_in_doubt() -> None:
    state = fold(_run()[:4])
    assert [c["call_id"] for c in state.in_doubt_calls()] == ["call_1"]
    assert state.calls["call_1"]["status"] == CALL_INTENDED


def test_a_timestamp_without_an_offset_does_not_break_the_fold() -> None:
    events = _run()
    naive = RunStarted(seq=6, ts="2026-01-01T00:00:09", pid=1, host="h", version="v", attempt=2)
    assert fold([*events, naive]).last_seq == 6


def test_a_tool_call_without_an_id_does_not_break_the_fold() -> None:
    odd = ModelResponded(
        seq=6,
        ts="2026-01-01T00:00:09+00:00",
        message={"role": "assistant", "tool_calls": [{"name": "calc"}]},
        usage={},
        model="m",
    )
    state = fold([*_run(), odd])
    assert state.pending_calls()[0]["call_id"] == "call-6-0"


def _run() -> list[Event]:
    ts = "2026-01-01T00:00:0{}+00:00".format
    return [
        TaskCreated(seq=1, ts=ts(0), task_id="t1", goal="add", agent={"name": "a"}),
        RunStarted(seq=2, ts=ts(1), pid=7, host="h", version="0.1.0", attempt=1),
        ModelResponded(
            seq=3,
            ts=ts(2),
            message={
                "role": "assistant",
                "tool_calls": [{"id": "call_1", "name": "calc", "arguments": {"x": 1}}],
            },
            usage={"input_tokens": 10, "output_tokens": 2},
            model="m",
        ),
        ToolIntended(
            seq=4,
            ts=ts(3),
            call_id="call_1",
            tool="calc",
            arguments={"x": 1},
            effect="read",
            idempotency_key="agentrun-t1-call_1-4",
        ),
        ToolCompleted(
            seq=5,
            ts=ts(4),
            call_id="call_1",
            output="42",
            files=[{"path": "a.txt", "before": None, "after": "h1"}],
        ),
    ]


def test_active_time_does_not_count_the_downtime_after_a_crash() -> None:
    def at(second: int) -> str:
        return f"2026-01-01T00:{second // 60:02d}:{second % 60:02d}+00:00"

    events = [
        TaskCreated(seq=1, ts=at(0), task_id="t", goal="g", agent={}),
        RunStarted(seq=2, ts=at(1), pid=1, host="h", version="v", attempt=1),
        ModelResponded(seq=3, ts=at(3), message={"role": "assistant"}, usage={}, model="m"),
        # killed here; resumed 10 minutes later
        RunStarted(seq=4, ts=at(603), pid=2, host="h", version="v", attempt=2),
        ModelResponded(seq=5, ts=at(606), message={"role": "assistant"}, usage={}, model="m"),
    ]
    assert fold(events).active_seconds == 2 + 3


def test_summed_seconds_and_costs_carry_no_float_noise() -> None:
    # Added as floats, 0.1 + 0.2 is 0.30000000000000004; the log's timestamps have
    # microseconds and its costs twelve decimals at most, so the fold keeps its sums rounded.
    def at(micros: int) -> str:
        return f"2026-01-01T00:00:{micros // 1_000_000:02d}.{micros % 1_000_000:06d}+00:00"

    def turn(seq: int, micros: int, cost: float) -> ModelResponded:
        message = {"role": "assistant"}
        return ModelResponded(
            seq=seq, ts=at(micros), message=message, usage={}, model="m", cost_usd=cost
        )

    events = [
        TaskCreated(seq=1, ts=at(0), task_id="t", goal="g", agent={}),
        RunStarted(seq=2, ts=at(1_000_000), pid=1, host="h", version="v", attempt=1),
        turn(3, 1_100_000, 0.1),
        turn(4, 1_300_000, 0.2),
    ]
    state = fold(events)
    assert (repr(state.active_seconds), repr(state.cost_usd)) == ("0.3", "0.3")
    assert fold(events[3:], fold(events[:3])) == state
