"""T9, compound faults: a second I/O error during the resume after the first (SQLite §3.4).

Rules 8, 9, 14, 15 and 19; INV-PREFIX, INV-CLASSIFY, INV-EFFECT, INV-DETERMINISM. A seeded
case fails operation N of a fresh run on ``FaultFS`` (EIO, ENOSPC, a short write or EFBIG, once
or persistently) so that the run stops with a task left behind, then resumes it on a second
``FaultFS`` that fails operation M of that resume. Half the time M lies in the recovery part of
the resume (the scan, removing leftovers, repairing a torn tail, up to and including the
``run_started`` fsync), otherwise anywhere in the resumed run. M is chosen from a dry run of the
same resume on a copy of the home and the world, so the second fault does fire.

The second fault is held to the same checks as the first (``fault_loop.check_stop``): one
``StorageError`` line, no sync after a failed sync, no segment write after a failed write, no
tool after the failure. Then INV-PREFIX: the log after the second fault is the log after the
first followed by a prefix of what the resume attempted to append. With both faults gone the
log is at worst torn, never corrupt, and a resume without faults completes to the reference
state with every side effect once and ``verify`` clean.

CI runs 30 cases per fsync policy on the six-step run; the extended tier (``AGENTRUN_STRESS=1``)
runs 1,000 per policy on the 30-step run. The seed is printed; ``AGENTRUN_SEED=<n>`` reruns.
"""

from __future__ import annotations

import random
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agentrun.core.errors import StorageError
from agentrun.core.events import Event
from agentrun.store.log_writer import LogWriter
from tests.reliability.fault_loop import (
    LONG_TURNS,
    SHORT_TURNS,
    Tally,
    check_after_fault,
    check_stop,
    clean_run_trace,
    fault_numbers,
    faulty_run,
    resume_on,
    watch,
    wipe,
)
from tests.reliability.faultfs import SHORT_THEN_EIO, Call, FaultFS
from tests.reliability.harness import Violations, World, read_events, visible_tasks
from tests.runtime.agents import TestAgent as Agent
from tests.runtime.agents import make_agent
from tests.runtime.kill_harness import FSYNC, reference_states
from tests.trials import IS_STRESS, trials

CASES_PER_POLICY = trials(30, 1_000)
TURNS = LONG_TURNS if IS_STRESS else SHORT_TURNS
KINDS = [
    (error, persistent)
    for error in ("EIO", "ENOSPC", "short", "EFBIG")
    for persistent in (False, True)
]
# A quarter of the first faults are a short segment write on a disk that then fails every
# operation: the writer cannot cut the partial record back, so the resume repairs a torn tail.
TORN_SHARE = 0.25


@dataclass
class CompoundTally:
    """What the compound cases exercised, printed for the report."""

    cases: int = 0
    in_recovery: int = 0
    repairs: int = 0  # resumes that repaired a torn tail left by the first fault
    first_not_stopping: int = 0
    second: Tally = field(default_factory=Tally)
    kinds: Counter[str] = field(default_factory=Counter)


@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    return reference_states(tmp_path_factory.mktemp("reference-compound"), TURNS)


@pytest.fixture
def attempted(monkeypatch: pytest.MonkeyPatch) -> list[Event]:
    """Every event any log writer was asked to append, in order (the writer's intent)."""
    seen: list[Event] = []
    original = LogWriter.append

    def append(writer: LogWriter, events: Any, *, sync: bool) -> Any:
        seen.extend(events)
        return original(writer, events, sync=sync)

    monkeypatch.setattr(LogWriter, "append", append)
    return seen


def first_fault(trace: list[Call], rng: random.Random) -> tuple[int, str, bool]:
    """``(operation, error, persistent)`` of a first fault (see ``TORN_SHARE``)."""
    if rng.random() < TORN_SHARE:
        writes = [c.number for c in trace if c.op == "write" and c.path.endswith(".seg")]
        return rng.choice(writes), SHORT_THEN_EIO, True
    error, persistent = rng.choice(KINDS)
    return rng.choice(fault_numbers(trace, error)), error, persistent


def recovery_end(trace: list[Call]) -> int:
    """How many operations the recovery part of a resume takes: up to the first log fsync."""
    for call in trace:
        if call.op in ("fdatasync", "fsync") and call.path.endswith(".seg"):
            return call.number
    return len(trace)


def dry_resume(root: Path, home: Path, agent: Agent, task_id: str) -> list[Call]:
    """The operations of the resume, run on a copy of the home; the world is put back."""
    world = World(agent)
    world.save(root)
    copy = root / "dry-run-home"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(home, copy, symlinks=True)
    fs = FaultFS()
    resume_on(copy, task_id, fs)
    world.restore()
    shutil.rmtree(copy)
    return fs.trace


def check_compound(
    root: Path,
    index: int,
    agent: Agent,
    reference: dict,
    first: tuple[int, str, bool],
    rng: random.Random,
    attempted: list[Event],
    found: Violations,
    tally: CompoundTally,
) -> None:
    """One compound case (see module); counted only if the first fault stopped the run."""
    fail_at, error, persistent = first
    home = root / f"compound-{index}"
    wipe(agent)
    seen, hooks = watch(home, agent)
    fs1 = FaultFS(fail_at=fail_at, error=error, persistent=persistent, **hooks)
    outcome, task_id = faulty_run(home, agent, fs1)
    first_where = f"[case {index}: op {fail_at} {error}{'*' if persistent else ''}]"
    if fs1.fired is None or not isinstance(outcome, StorageError) or task_id is None:
        tally.first_not_stopping += 1
        if fs1.fired is not None and check_stop(
            fs1, outcome, seen, agent, first_where, found, Tally()
        ):
            check_after_fault(home, agent, reference, task_id, first_where, found)
        return
    check_stop(fs1, outcome, seen, agent, first_where, found, Tally())
    before = read_events(home, task_id)

    trace = dry_resume(root, home, agent, task_id)
    error2, persistent2 = rng.choice(KINDS)
    numbers = fault_numbers(trace, error2)
    early = [n for n in numbers if n <= recovery_end(trace)]
    fail_at2 = rng.choice(early if early and rng.random() < 0.5 else numbers)
    seen2, hooks2 = watch(home, agent, after_seq=len(before))
    fs2 = FaultFS(fail_at=fail_at2, error=error2, persistent=persistent2, **hooks2)
    attempted.clear()
    outcome2 = resume_on(home, task_id, fs2)
    tried = list(attempted)
    fired = fs2.fired
    if fired is None:
        found.add(
            first_where, f"the dry run promised op {fail_at2} of the resume but it never came"
        )
        return
    where = (
        f"{first_where[:-1]}; then resume op {fail_at2} {fired.op} {Path(fired.path).name} "
        f"{error2}{'*' if persistent2 else ''}]"
    )
    tally.cases += 1
    tally.in_recovery += fail_at2 <= recovery_end(trace)
    tally.repairs += any(".torn-" in call.path for call in trace)
    tally.kinds[f"{error}{'*' if persistent else ''}+{error2}{'*' if persistent2 else ''}"] += 1
    if not check_stop(
        fs2, outcome2, seen2, agent, where, found, tally.second, may_need_person=True
    ):
        return
    check_prefix(home, task_id, before, tried, where, found)
    check_after_fault(home, agent, reference, task_id, where, found)


def check_prefix(
    home: Path,
    task_id: str,
    before: list[Event],
    tried: list[Event],
    where: str,
    found: Violations,
) -> None:
    """INV-PREFIX: what survives is the log before the resume plus a prefix of its appends."""
    if visible_tasks(home) != [task_id]:
        found.add(where, f"the task is not the one visible task: {visible_tasks(home)}")
        return
    after = [(e.seq, e.kind) for e in read_events(home, task_id)]
    expected = [(e.seq, e.kind) for e in [*before, *tried]]
    if after[: len(before)] != expected[: len(before)]:
        found.add(where, "events that were in the log before the resume are gone")
    elif after != expected[: len(after)]:
        found.add(where, f"the log is not a prefix of what was attempted: {after[len(before) :]}")


@pytest.mark.parametrize("policy", list(FSYNC))
def test_a_second_fault_during_the_resume_after_the_first_stops_cleanly_too(
    policy: str,
    fast_root: Path,
    references: dict[str, dict],
    attempted: list[Event],
    monkeypatch: pytest.MonkeyPatch,
    seed: int,
) -> None:
    agent = make_agent(fast_root / "agent", TURNS, extra=FSYNC[policy])
    monkeypatch.setenv("AGENTRUN_LEDGER", str(agent.ledger))
    trace = clean_run_trace(fast_root, agent)
    rng = random.Random(f"{seed}-{policy}")
    found, tally = Violations(), CompoundTally()
    index = 0
    while tally.cases < CASES_PER_POLICY:
        index += 1
        assert index <= 10 * CASES_PER_POLICY, f"too few first faults stop the run: {tally}"
        first = first_fault(trace, rng)
        check_compound(
            fast_root, index, agent, references[policy], first, rng, attempted, found, tally
        )
    second = tally.second
    print(
        f"fsync={policy}, {len(TURNS)} steps: {tally.cases} compound faults "
        f"({tally.in_recovery} in the recovery part of the resume, {tally.repairs} resumes "
        f"repairing a torn tail; {tally.first_not_stopping} "
        f"first faults did not stop the run and were not compounded); second fault: "
        f"{second.stopped} stopped, {second.finished} went on past a harmless read; "
        f"{second.by_op}; {dict(tally.kinds)}"
    )
    assert tally.in_recovery > 0
    assert not found, str(found)
