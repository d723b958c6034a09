"""The I/O-error loop of T9: run the scripted agent on FaultFS and check what a fault left.

- ``faulty_run`` creates and runs a task on a ``FaultFS``; ``resume_on`` resumes one.
- ``watch`` records, when the fault fires, how long the ledger was and whether the failing sync
  was a side effect's intent, so ``check_stop`` can prove that nothing ran after the failure.
- ``check_stop``: one ``StorageError`` line (or a finished run when only a cache read failed);
  rule 8, no sync of any kind once a sync is known to have failed (one started in the
  background is known when it is waited for); rule 9, no segment write after a failed or
  short one; no tool after the failure but reads overlapping it; a failed intent fsync means
  the ledger shows no call.
- ``check_after_fault``: with the fault gone the log is at worst torn, never corrupt; no half
  task is visible; resume reaches the reference state with every side effect run once.

Shared by ``test_t09_io_errors.py`` (one fault at every operation) and
``test_t09_compound_faults.py`` (a second fault during the resume after the first).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentrun.core.errors import AgentrunError, StorageError
from agentrun.core.events import ToolIntended
from agentrun.runtime.runner import RunResult
from agentrun.runtime.tasks import create_task
from agentrun.store.local import LocalTaskStore
from agentrun.store.verify import verify_task
from tests.reliability.faultfs import SHORT_THEN_EIO, SYNC_OPS, Call, FaultFS
from tests.reliability.harness import (
    Violations,
    agent_spec,
    check_finished,
    read_events,
    recover,
    run_once,
    small_store,
    visible_tasks,
)
from tests.runtime.agents import MIXED_TURNS, call, turn
from tests.runtime.agents import TestAgent as Agent
from tests.runtime.kill_harness import ledger

# Failing these is harmless by design: a snapshot or summary that cannot be read is a cache
# miss (rule 18), and a leftover that cannot be removed is removed next time (rule 19).
HARMLESS_WHEN_READ = ("read_file", "read_range", "size")
# Faults that only a write can have: the N-th operation is then the N-th write.
WRITE_ONLY = ("short", "EFBIG", SHORT_THEN_EIO)
READ_TOOLS = ("lookup", "blob")  # the ledger tools of effect "read" (tests/runtime/ledger_tools.py)
SHORT_TURNS = [MIXED_TURNS[i] for i in (0, 1, 2, 3, 4, 8)]


def long_turns(steps: int) -> list[dict[str, Any]]:
    """A ``steps``-turn run: the mixed workload's tool turns with fresh arguments, then finish.

    Reads, idempotent writes and edits of earlier files, charges (no ``reconcile``) and
    reconciled notifies, one and two calls per turn.
    """
    turns = []
    for i in range(steps - 1):
        kind = i % 7
        if kind == 0:
            turns.append(turn(call("lookup", key=f"k{i}"), content=f"step {i}"))
        elif kind == 1:
            turns.append(turn(call("write_file", path=f"f{i}.txt", content=f"{i}\n")))
        elif kind == 2:
            turns.append(turn(call("charge", amount=i)))
        elif kind == 3:
            turns.append(
                turn(call("lookup", key=f"k{i}"), call("store_value", key=f"k{i}", value="v"))
            )
        elif kind == 4:
            turns.append(turn(call("notify", text=f"note {i}")))
        elif kind == 5:
            turns.append(turn(call("edit_file", path=f"f{i - 4}.txt", old=f"{i - 4}", new=f"e{i}")))
        else:
            turns.append(turn(call("charge", amount=i), call("lookup", key=f"c{i}")))
    turns.append(turn(call("finish", outcome="succeeded", summary="all done")))
    return turns


LONG_TURNS = long_turns(30)


@dataclass
class Tally:
    cases: int = 0
    stopped: int = 0
    finished: int = 0
    intent_fsync_failures: int = 0
    overlapped_reads: int = 0  # reads that ran while a sync that failed was still running
    by_op: dict[str, int] = field(default_factory=dict)


def clean_run_trace(root: Path, agent: Agent) -> list[Call]:
    """The operations of the run without faults (the N to enumerate)."""
    fs = FaultFS()
    store = small_store(root / "probe-home", fs)
    run_once(store, create_task(store, agent_spec(agent), "goal"))
    agent.ledger.unlink()
    return fs.trace


def fault_numbers(trace: list[Call], error: str) -> list[int]:
    """The operation numbers a fault of kind ``error`` can hit in ``trace``."""
    return [c.number for c in trace if error not in WRITE_ONLY or c.op == "write"]


def faulty_run(home: Path, agent: Agent, fs: FaultFS) -> tuple[RunResult | Exception, str | None]:
    """Create and run the task on ``fs``; what it ended with, and the task id if created."""
    store = small_store(home, fs)
    task_id = None
    try:
        task_id = create_task(store, agent_spec(agent), "goal")
        return run_once(store, task_id), task_id
    except AgentrunError as exc:
        return exc, task_id
    except Exception as exc:  # anything else is a bug the test reports
        return exc, task_id


def resume_on(home: Path, task_id: str, fs: FaultFS) -> RunResult | Exception:
    """Resume the task once on ``fs`` (no in-doubt call settled); what it ended with."""
    try:
        return run_once(small_store(home, fs), task_id)
    except AgentrunError as exc:
        return exc
    except Exception as exc:  # anything else is a bug the test reports
        return exc


def watch(
    home: Path, agent: Agent, after_seq: int = 0
) -> tuple[dict[str, object], dict[str, Callable[..., None]]]:
    """``(seen, hooks)``: what the world looked like at the moment the fault fired, and when
    the writer learned of it (a sync started in the background fails when it is waited for).
    ``hooks`` are ``FaultFS``'s keyword arguments that fill ``seen``.

    A failing segment fsync right after a ``tool_intended`` is that intent's fsync, unless the
    intent was already in the log before this run (``after_seq``): a resume's first fsync may
    be the torn-tail repair's, after an intent whose tool ran in the run before.
    """
    # A retried call keeps its idempotency key (rule 26): an entry an earlier run made for it
    # is not this run's tool running.
    seen: dict[str, object] = {"ledger_before": len(ledger(agent))}

    def on_fault(call: Call) -> None:
        seen["ledger"] = len(ledger(agent))
        if call.op == "fdatasync" and call.path.endswith(".seg"):
            tasks = visible_tasks(home)
            events = read_events(home, tasks[0]) if tasks else []
            if events and isinstance(events[-1], ToolIntended) and events[-1].seq > after_seq:
                seen["intent"] = events[-1]

    def on_learned() -> None:
        seen.setdefault("ledger_learned", len(ledger(agent)))

    return seen, {"on_fault": on_fault, "on_learned": on_learned}


def syncs_a_write(fs: FaultFS) -> bool:
    """Whether the failed sync followed a write to its file (an append being made durable),
    not a segment roll's seal (a truncate) that comes after the last tool already ran."""
    fired = fs.fired
    assert fired is not None
    earlier = [c for c in fs.trace[: fired.number - 1] if c.path == fired.path]
    return bool(earlier) and earlier[-1].op == "write"


def check_no_tool_after(
    fs: FaultFS, seen: dict[str, object], agent: Agent, where: str, found: Violations
) -> int:
    """No tool ran after the writer learned of the fault; between the fault and that moment
    (a sync started in the background), only reads, which change nothing (rules 8 and 25)."""
    fired = fs.fired
    assert fired is not None
    entries = ledger(agent)
    at_fault = seen["ledger"]
    learned = seen.get("ledger_learned", at_fault)
    assert isinstance(at_fault, int) and isinstance(learned, int)
    if len(entries) != learned:
        found.add(where, f"a tool ran after the I/O failure: {entries[learned:]}")
    overlapped = entries[at_fault:learned]
    if overlapped and not (fired.background and all(e["tool"] in READ_TOOLS for e in overlapped)):
        found.add(where, f"a tool other than a read ran on a failed sync: {overlapped}")
    return len(overlapped)


def check_stop(
    fs: FaultFS,
    outcome: RunResult | Exception,
    seen: dict[str, object],
    agent: Agent,
    where: str,
    found: Violations,
    tally: Tally,
    *,
    may_need_person: bool = False,
) -> bool:
    """The run stopped cleanly at the fault (see module); False if it ended unexpectedly.

    ``may_need_person``: a resume may also stop for an in-doubt call (exit 3) when the fault
    it survived was a harmless read.
    """
    fired = fs.fired
    assert fired is not None
    tally.cases += 1
    tally.by_op[fired.op] = tally.by_op.get(fired.op, 0) + 1
    finished_codes = (0, 3) if may_need_person else (0,)
    if isinstance(outcome, StorageError):
        tally.stopped += 1
        if "\n" in str(outcome):
            found.add(where, f"the error is not one line: {outcome!r}")
    elif isinstance(outcome, RunResult) and outcome.exit_code in finished_codes:
        tally.finished += 1
        # A full disk refusing the space ahead is not a failed write: the writer appends without.
        room = fired.op == "allocate" and fs.error == "ENOSPC"
        if fired.op not in HARMLESS_WHEN_READ and not room:
            found.add(where, "the run went on after a failed write, sync or directory operation")
    else:
        found.add(where, f"the run ended with {type(outcome).__name__}: {outcome}")
        return False
    if fired.op in SYNC_OPS and fs.after_learned(*SYNC_OPS):
        again = fs.after_learned(*SYNC_OPS)
        found.add(where, f"rule 8: synced again once a sync was known to have failed: {again}")
    if fired.op == "write" and fired.path.endswith(".seg"):
        again = [c for c in fs.after_fault("write") if c.path.endswith(".seg")]
        if again:
            found.add(where, f"rule 9: appended after a failed write: {again}")
    if isinstance(outcome, StorageError):
        tally.overlapped_reads += check_no_tool_after(fs, seen, agent, where, found)
    intent = seen.get("intent")
    if isinstance(intent, ToolIntended) and intent.effect == "side_effect" and syncs_a_write(fs):
        tally.intent_fsync_failures += 1
        before = seen["ledger_before"]
        assert isinstance(before, int)
        if any(e["key"] == intent.idempotency_key for e in ledger(agent)[before:]):
            found.add(where, f"the tool of intent {intent.call_id} ran though its fsync failed")
    return True


def wipe(agent: Agent) -> None:
    """A fresh world for the next case: no ledger, an empty workspace."""
    agent.ledger.unlink(missing_ok=True)
    for path in agent.workspace.iterdir():
        path.unlink()


def check_one_fault(
    root: Path,
    agent: Agent,
    reference: dict,
    fail_at: int,
    error: str,
    persistent: bool,
    found: Violations,
    tally: Tally,
) -> None:
    """Fail operation ``fail_at`` of a fresh run, check the stop, then recover without faults."""
    home = root / f"home-{fail_at}"
    wipe(agent)
    seen, hooks = watch(home, agent)
    fs = FaultFS(fail_at=fail_at, error=error, persistent=persistent, **hooks)
    outcome, task_id = faulty_run(home, agent, fs)
    fired = fs.fired
    if fired is None:
        return  # N is past the end of this run (short writes: N was not a write)
    where = f"[op {fail_at} {fired.op} {Path(fired.path).name} {error}{'*' if persistent else ''}]"
    if check_stop(fs, outcome, seen, agent, where, found, tally):
        check_after_fault(home, agent, reference, task_id, where, found)


def check_after_fault(
    home: Path, agent: Agent, reference: dict, task_id: str | None, where: str, found: Violations
) -> None:
    """With the fault gone: at worst torn, snapshots readable, no half task, resume completes."""
    visible = visible_tasks(home)
    if task_id is None and len(visible) > 1:
        found.add(where, f"a failed creation left several tasks: {visible}")
    for visible_id in visible:
        store = LocalTaskStore(home)
        report = verify_task(store.ops, store.task_dir(visible_id), visible_id)
        if report.problems:
            found.add(where, f"{visible_id} after the fault: {report.problems}")
            continue
        try:
            events = read_events(home, visible_id)
        except AgentrunError as exc:
            found.add(where, f"{visible_id} unreadable after the fault: {exc}")
            continue
        if not events or events[0].kind != "task_created":
            found.add(where, f"half a task is visible: {visible_id}")
            continue
        try:
            recover(home, agent, visible_id)
        except (AssertionError, AgentrunError) as exc:
            found.add(where, f"resume after the fault failed: {type(exc).__name__}: {exc}")
            continue
        check_finished(home, agent, visible_id, reference, where, found)
