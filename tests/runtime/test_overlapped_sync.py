"""What may run while the log is being synced (design §4 group commit; rules 7, 8, 25).

A read runs while the disk flushes the turn that asked for it; a tool that changes anything
runs only once everything before its intent is durable, and never after a failed sync. The
tools' ledger (one line per real execution) is set against the log syncs' start and end.
"""

from __future__ import annotations

import errno
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from agentrun.core.errors import StorageError
from agentrun.runtime.reporter import SilentReporter
from agentrun.runtime.runner import Runner, RunOptions
from agentrun.runtime.spec import SpecOverrides, load_spec
from agentrun.runtime.tasks import create_task
from agentrun.store.fileops import OsFileOps, PendingSync
from agentrun.store.local import LocalTaskStore
from tests.runtime.agents import call, make_agent, turn

READS = ("lookup",)


@dataclass
class Window:
    """One log sync: how many tools had run when it started and when its waiter learned the end."""

    started: int
    ended: int | None = None


class SyncWindows(OsFileOps):
    """``OsFileOps`` that notes each log sync's window against the ledger, and can fail one."""

    def __init__(self, ledger: Path, fail_sync: int | None = None) -> None:
        self.ledger = ledger
        self.fail_sync = fail_sync  # the n-th log sync (1-based) fails with EIO
        self.windows: list[Window] = []

    def ran(self) -> int:
        return len(entries(self.ledger))

    def start_fdatasync(self, fd: int) -> PendingSync:
        window = Window(self.ran())
        self.windows.append(window)
        fails = len(self.windows) == self.fail_sync
        return _Noted(self, window, super().start_fdatasync(fd), fails)


@dataclass
class _Noted:
    ops: SyncWindows
    window: Window
    pending: PendingSync
    fails: bool

    def wait(self) -> None:
        self.pending.wait()
        self.window.ended = self.ops.ran()
        if self.fails:
            raise OSError(errno.EIO, "Input/output error")


def entries(ledger: Path) -> list[dict]:
    if not ledger.exists():
        return []
    return [json.loads(line) for line in ledger.read_text().splitlines()]


def start(
    tmp_path: Path, turns: list[dict], ops: OsFileOps, extra: str = ""
) -> tuple[LocalTaskStore, str]:
    agent = make_agent(tmp_path / "agent", turns, extra=extra)
    store = LocalTaskStore(tmp_path / "home", ops=ops)
    return store, create_task(store, load_spec(agent.spec, SpecOverrides(), cwd=tmp_path), "goal")


@pytest.fixture
def agent_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    ledger = tmp_path / "agent" / "ledger.jsonl"  # where make_agent's tools write
    monkeypatch.setenv("AGENTRUN_LEDGER", str(ledger))
    return ledger


MIXED = [
    turn(call("lookup", key="a")),
    turn(call("lookup", key="b"), call("store_value", key="b", value="1")),
    turn(call("charge", amount=1)),
    turn(call("lookup", key="c"), call("charge", amount=2)),
    turn(content="done"),
]


def test_a_read_runs_while_its_turn_is_synced_and_nothing_else_runs_during_a_sync(
    tmp_path: Path, agent_ledger: Path
) -> None:
    ops = SyncWindows(agent_ledger)
    store, task_id = start(tmp_path, MIXED, ops)
    result = Runner(store, task_id, SilentReporter()).run()
    assert result.exit_code == 0
    ran = entries(agent_ledger)
    tools = ["lookup", "lookup", "store_value", "charge", "lookup", "charge"]
    assert [e["tool"] for e in ran] == tools
    during = [ran[w.started : w.ended] for w in ops.windows if w.ended is not None]
    overlapped = [e for tools in during for e in tools]
    # Each turn that starts with a read ran it inside its own sync's window ...
    assert [e["tool"] for e in overlapped] == ["lookup", "lookup", "lookup"]
    # ... and no tool that changes anything ever ran while a sync was under way.
    assert all(e["tool"] in READS for e in overlapped)


def test_a_failed_sync_under_a_read_stops_the_run_before_any_side_effect(
    tmp_path: Path, agent_ledger: Path
) -> None:
    turns = [turn(call("lookup", key="a"), call("charge", amount=7)), turn(content="done")]
    # Sync 1 is run_started's; sync 2 makes the turn and its read's intent durable.
    ops = SyncWindows(agent_ledger, fail_sync=2)
    store, task_id = start(tmp_path, turns, ops)
    with pytest.raises(StorageError, match="could not make the log durable"):
        Runner(store, task_id, SilentReporter()).run()
    assert [e["tool"] for e in entries(agent_ledger)] == ["lookup"]  # the charge never ran
    assert len(ops.windows) == 2  # rule 8: no sync after the failed one

    healthy = LocalTaskStore(tmp_path / "home")
    assert Runner(healthy, task_id, SilentReporter()).run().exit_code == 0
    tools = [e["tool"] for e in entries(agent_ledger)]
    assert tools.count("charge") == 1  # the read may run again; the side effect runs once
    assert tools[-1] == "charge"


def test_a_failed_sync_of_a_side_effects_result_stops_the_run_before_the_next_side_effect(
    tmp_path: Path, agent_ledger: Path
) -> None:
    turns = [turn(call("charge", amount=1)), turn(call("charge", amount=2)), turn(content="done")]
    # Syncs: 1 run_started, 2 the first turn and its intent, 3 the first charge's result, 4 the
    # second turn and its intent, queued behind 3 before 3's failure is known.
    ops = SyncWindows(agent_ledger, fail_sync=3)
    store, task_id = start(tmp_path, turns, ops)
    with pytest.raises(StorageError):
        Runner(store, task_id, SilentReporter()).run()
    assert [e["call_id"] for e in entries(agent_ledger)] == ["call_0_0"]
    assert len(ops.windows) == 4  # rule 8: none started once the failure was known

    # The log was cut back to the last good sync: the first charge's result (and the second
    # turn after it) are gone, so the first charge is in doubt, the second never asked for.
    healthy = LocalTaskStore(tmp_path / "home")
    kinds = [e.kind for e in healthy.events(task_id)]
    assert kinds[-2:] == ["model_responded", "tool_intended"]
    assert kinds.count("model_responded") == 1
    stopped = Runner(healthy, task_id, SilentReporter()).run()
    assert stopped.exit_code == 3
    assert "call_0_0 (charge) started but its outcome is unknown" in stopped.message
    # It did happen (the ledger says so): skip it; the second charge then runs once.
    settled = Runner(healthy, task_id, SilentReporter(), RunOptions(unknown="skip")).run()
    assert settled.exit_code == 0
    charged = [e["call_id"] for e in entries(agent_ledger) if e["tool"] == "charge"]
    assert charged == ["call_0_0", "call_1_0"]


def test_under_fsync_batch_an_idempotent_call_waits_for_the_flush_before_it(
    tmp_path: Path, agent_ledger: Path
) -> None:
    turns = [
        turn(call("charge", amount=1)),
        turn(call("store_value", key="k", value="v")),
        turn(content="done"),
    ]
    # Syncs: 1 run_started, 2 the charge's turn and intent, 3 its result (fails); the next
    # turn is written unsynced (batch) and its idempotent call would run at once.
    ops = SyncWindows(agent_ledger, fail_sync=3)
    store, task_id = start(tmp_path, turns, ops, extra='fsync = "batch"\n')
    with pytest.raises(StorageError):
        Runner(store, task_id, SilentReporter()).run()
    assert [e["tool"] for e in entries(agent_ledger)] == ["charge"]


def test_a_failed_flush_met_while_recording_a_model_error_still_releases_the_task(
    tmp_path: Path, agent_ledger: Path
) -> None:
    # Syncs: 1 run_started, 2 the turn and its intent, 3 the charge's result (fails). The
    # script then has no turn left (a model error): recording it meets the failed flush.
    ops = SyncWindows(agent_ledger, fail_sync=3)
    store, task_id = start(tmp_path, [turn(call("charge", amount=1))], ops)
    with pytest.raises(StorageError):
        Runner(store, task_id, SilentReporter()).run()
    assert not store.is_claimed(task_id)
