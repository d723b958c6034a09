"""T6 at the segment-roll and torn-tail-repair crash points, in real processes (rules 12, 15, 19).

``AGENTRUN_SEGMENT_BYTES=4096`` makes the CLI roll small segments: the scripted agent's run rolls
twice (at seqs 2 and about 20), so ``roll_tmp_created``, ``roll_before_replace`` and
``roll_after_replace`` are reached at n = 1 and n = 2. For the repair points a torn tail is made
first (the run is killed at ``after_sync``, then garbage or half a record is written after the
last record, into the zeros the writer preallocated, as a crash mid-append leaves it);
``resume`` is killed inside the repair at ``repair_before_truncate`` or
``repair_after_truncate_before_sync``.

Each case then resumes to completion and checks: the events that survived the kill are the
start of the final log with contiguous seqs (INV-PREFIX, INV-DURABLE in its kill -9 form); no
half-rolled ``.seg.tmp`` is left (rule 19); the dropped bytes are kept in ``.torn-<offset>``
(rule 15); every side effect ran at most once and after its durable intent (INV-EFFECT); the
final state equals an uninterrupted run's (INV-DETERMINISM); ``verify`` is clean.

CI: 6 roll cases and 4 repair cases (2 points x 2 kinds of torn tail), 10 kills.
"""

from __future__ import annotations

import random
import signal
from pathlib import Path

import pytest

from agentrun.core.events import Event, RunStarted
from agentrun.store.local import LocalTaskStore
from agentrun.store.verify import verify_task
from tests.conftest import run_agentrun
from tests.runtime.agents import TestAgent as Agent
from tests.runtime.agents import make_agent
from tests.runtime.kill_harness import (
    check_effects,
    comparable,
    reference_state,
    resume_until_done,
    task_ids,
)
from tests.store.builders import record_bounds

SMALL_SEGMENTS = {"AGENTRUN_SEGMENT_BYTES": "4096"}
ROLL_POINTS = ["roll_tmp_created", "roll_before_replace", "roll_after_replace"]
ROLL_CASES = [(point, n) for point in ROLL_POINTS for n in (1, 2)]
REPAIR_POINTS = ["repair_before_truncate", "repair_after_truncate_before_sync"]
TORN_TAILS = ["garbage", "half_record"]
# Killed after the 8th durable record: mid-run, after the first roll, before the second.
TORN_AFTER_SYNC = 8


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("reference")
    return reference_state(make_agent(root / "agent"), root / "home")


def start_killed_at(root: Path, point: str, n: int) -> tuple[Path, Agent, str]:
    """``agentrun start`` with small segments, SIGKILLed at the n-th pass of ``point``."""
    agent = make_agent(root / "agent")
    home = root / "home"
    env = {"AGENTRUN_HOME": str(home), "AGENTRUN_CRASH_AT": f"{point}:{n}", **agent.env()}
    started = run_agentrun(
        "start", "--agent", str(agent.spec), "-q", "goal", env={**env, **SMALL_SEGMENTS}
    )
    assert started.returncode == -signal.SIGKILL, f"{point}:{n} never reached: {started.stderr}"
    (task_id,) = task_ids(home)
    return home, agent, task_id


def log_dir(home: Path, task_id: str) -> Path:
    return home / "tasks" / task_id / "log"


def surviving_events(home: Path, task_id: str) -> list[Event]:
    """What a reader sees after the kill: contiguous seqs from 1 (INV-PREFIX)."""
    events = list(LocalTaskStore(home).events(task_id))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    return events


def finish_and_check(
    home: Path, agent: Agent, task_id: str, before: list[Event], reference: dict
) -> list[Event]:
    """Resume to completion, then the T6 invariants (see the module docstring)."""
    resume_until_done(home, agent, task_id, extra_env=SMALL_SEGMENTS)
    final = list(LocalTaskStore(home).events(task_id))
    assert final[: len(before)] == before, "an event that survived the kill was lost or changed"
    assert [e.seq for e in final] == list(range(1, len(final) + 1))
    assert not [p.name for p in log_dir(home, task_id).iterdir() if p.name.endswith(".seg.tmp")]
    check_effects(home, agent, task_id)  # INV-EFFECT
    store = LocalTaskStore(home)
    assert comparable(store.load(task_id).state.to_dict()) == reference  # INV-DETERMINISM
    report = verify_task(store.ops, store.task_dir(task_id), task_id)
    assert report.problems == [] and report.torn_tail_bytes == 0, report.problems
    return final


def torn_tail_repairs(events: list[Event]) -> list[dict]:
    """The torn-tail repairs the runs recorded in ``run_started`` (rule 15)."""
    notes = [note for e in events if isinstance(e, RunStarted) for note in e.recovery]
    return [n for n in notes if isinstance(n, dict) and n.get("repair") == "torn_tail"]


@pytest.mark.parametrize(("point", "n"), ROLL_CASES, ids=[f"{p}:{n}" for p, n in ROLL_CASES])
def test_a_kill_during_a_segment_roll_loses_nothing_and_resume_completes(
    tmp_path: Path, reference: dict, point: str, n: int
) -> None:
    home, agent, task_id = start_killed_at(tmp_path, point, n)
    names = sorted(p.name for p in log_dir(home, task_id).iterdir())
    half_rolled = [name for name in names if name.endswith(".seg.tmp")]
    segments = [name for name in names if name.endswith(".seg")]
    if point == "roll_after_replace":
        assert not half_rolled and len(segments) == n + 1, names
        _header, bounds = record_bounds((log_dir(home, task_id) / segments[-1]).read_bytes())
        assert len(bounds) == 1, "the new segment should hold only its header"
    else:
        assert len(half_rolled) == 1 and len(segments) == n, names  # rule 12: not yet committed
    before = surviving_events(home, task_id)
    final = finish_and_check(home, agent, task_id, before, reference)
    assert len(list(log_dir(home, task_id).glob("*.seg"))) >= 3, "small segments did not roll"
    assert torn_tail_repairs(final) == [], "a kill -9 during a roll leaves no torn tail"


@pytest.mark.parametrize("tail", TORN_TAILS)
@pytest.mark.parametrize("point", REPAIR_POINTS)
def test_a_kill_during_a_torn_tail_repair_loses_nothing_and_resume_completes(
    tmp_path: Path, reference: dict, point: str, tail: str
) -> None:
    home, agent, task_id = start_killed_at(tmp_path, "after_sync", TORN_AFTER_SYNC)
    before = surviving_events(home, task_id)
    last = sorted(log_dir(home, task_id).glob("*.seg"))[-1]
    preallocated = last.read_bytes()
    _header, bounds = record_bounds(preallocated)
    end = bounds[-1]
    if tail == "garbage":
        torn = random.Random(f"{point}-{tail}").randbytes(300)
    else:  # a record cut in half by the crash: here a copy of the last one
        torn = preallocated[bounds[-2] : (bounds[-2] + bounds[-1]) // 2]
    # The killed writer had preallocated (rule 13): the torn write lands in its zeros.
    assert len(preallocated) > end
    data = preallocated[:end] + torn + preallocated[end + len(torn) :]
    last.write_bytes(data)
    assert surviving_events(home, task_id) == before  # readers stop at a torn tail

    env = {"AGENTRUN_HOME": str(home), "AGENTRUN_CRASH_AT": f"{point}:1", **agent.env()}
    repaired = run_agentrun("resume", task_id, "-q", env={**env, **SMALL_SEGMENTS})
    assert repaired.returncode == -signal.SIGKILL, f"{point} never reached: {repaired.stderr}"
    saved = log_dir(home, task_id) / f"{last.name}.torn-{end}"
    assert saved.read_bytes() == data[end:], "rule 15: the dropped bytes are kept"
    cut = point == "repair_after_truncate_before_sync"
    assert last.read_bytes() == (data[:end] if cut else data)
    assert surviving_events(home, task_id) == before

    final = finish_and_check(home, agent, task_id, before, reference)
    repairs = torn_tail_repairs(final)
    # Rule 15.3: recorded either way; a run killed after the cut leaves it to the next open.
    assert [(r["segment"], r["offset"], r["bytes"]) for r in repairs] == [
        (last.name, end, len(data) - end)
    ]
    assert ("finished" in repairs[0]) == cut
