"""In-process runs of the scripted agent for the crash and fault tests, and their oracles (F3).

- ``Acks``: the ack channel in-process: the highest seq each task's writer returned from a sync
  for (and seq 1 once ``create`` returned the id). INV-DURABLE under power loss: all of it stays.
- ``World``: what lives outside the home (the ledger, the workspace); saved at a crash and put
  back before each crash state is recovered, because power loss does not undo the world.
- ``recover``: resume to completion with the real ``OsFileOps``, settling an in-doubt side
  effect by the ledger's truth (``resolve_call`` with its result, or a retry if it never ran).
- ``check_crash_state`` / ``check_finished``: INV-PREFIX, INV-DURABLE, INV-CLASSIFY,
  INV-EFFECT and INV-DETERMINISM as lists of violations, so the mutation check can assert that
  a broken ``FileOps`` *is* caught.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentrun.core.errors import AgentrunError
from agentrun.core.events import Event, ToolCompleted, ToolIntended, ToolResolved
from agentrun.core.state import fold
from agentrun.runtime.reporter import SilentReporter
from agentrun.runtime.runner import Runner, RunResult
from agentrun.runtime.spec import AgentSpec, SpecOverrides, load_spec
from agentrun.runtime.tasks import create_task, resolve_call
from agentrun.store.fileops import FileOps
from agentrun.store.local import LocalTaskStore
from agentrun.store.log_writer import LogWriter
from agentrun.store.verify import verify_task
from tests.runtime.agents import TestAgent
from tests.runtime.kill_harness import SIDE_EFFECT_TOOLS, comparable, ledger

# Small enough that the scripted agent rolls segments and writes snapshots several times.
SNAPSHOT_EVERY = 5
SEGMENT_BYTES = 4096


def small_store(home: Path, ops: FileOps | None = None) -> LocalTaskStore:
    """A store that snapshots every few events and rolls small segments."""
    return LocalTaskStore(home, ops=ops, snapshot_every=SNAPSHOT_EVERY, segment_bytes=SEGMENT_BYTES)


def agent_spec(agent: TestAgent) -> AgentSpec:
    return load_spec(agent.spec, SpecOverrides(), cwd=agent.spec.parent)


def visible_tasks(home: Path) -> list[str]:
    """Task ids a reader sees (names starting with a dot are debris, rule 3)."""
    tasks = home / "tasks"
    if not tasks.is_dir():
        return []
    return sorted(p.name for p in tasks.iterdir() if not p.name.startswith("."))


class Acks:
    """The ack channel (F3): per task, the highest seq a writer's ``sync`` returned for."""

    def __init__(self) -> None:
        self.seqs: dict[str, int] = {}
        self.enabled = True

    def note(self, task_id: str, seq: int) -> None:
        if self.enabled:
            self.seqs[task_id] = max(self.seqs.get(task_id, 0), seq)

    def reset(self) -> None:
        self.seqs = {}
        self.enabled = True

    def install(self, monkeypatch: Any) -> None:
        """Record every sync that returned (the writer's promise that its events are durable)."""
        original = LogWriter.sync
        channel = self

        def sync(writer: LogWriter) -> None:
            original(writer)
            channel.note(writer._task_id, writer.last_seq)

        monkeypatch.setattr(LogWriter, "sync", sync)


@dataclass
class World:
    """The ledger and the workspace as they were at the crash."""

    agent: TestAgent
    ledger_bytes: bytes | None = None
    saved_workspace: Path | None = None

    def save(self, scratch: Path) -> None:
        self.ledger_bytes = self.agent.ledger.read_bytes() if self.agent.ledger.exists() else None
        self.saved_workspace = scratch / "workspace-at-crash"
        if self.saved_workspace.exists():
            shutil.rmtree(self.saved_workspace)
        shutil.copytree(self.agent.workspace, self.saved_workspace)

    def restore(self) -> None:
        if self.ledger_bytes is None:
            self.agent.ledger.unlink(missing_ok=True)
        else:
            self.agent.ledger.write_bytes(self.ledger_bytes)
        assert self.saved_workspace is not None
        shutil.rmtree(self.agent.workspace)
        shutil.copytree(self.saved_workspace, self.agent.workspace)

    def wipe(self) -> None:
        """A fresh world for the next run: empty ledger and workspace."""
        self.agent.ledger.unlink(missing_ok=True)
        shutil.rmtree(self.agent.workspace)
        self.agent.workspace.mkdir()


def run_once(store: LocalTaskStore, task_id: str, **options: Any) -> RunResult:
    from agentrun.runtime.runner import RunOptions

    return Runner(store, task_id, SilentReporter(), RunOptions(**options)).run()


def recover(home: Path, agent: TestAgent, task_id: str, max_rounds: int = 6) -> list[int]:
    """Resume until the task is finished, settling in-doubt side effects by the ledger.

    Returns the exit codes of the runs. Raises ``AssertionError`` if it does not converge.
    """
    store = small_store(home)
    codes = []
    for _ in range(max_rounds):
        result = run_once(store, task_id)
        codes.append(result.exit_code)
        if result.exit_code in (0, 1) and store.load(task_id).state.is_finished:
            return codes
        assert result.exit_code == 3, f"resume ended with {result}"
        state = store.load(task_id).state
        in_doubt = state.in_doubt_calls()
        assert len(in_doubt) == 1, f"needs attention without one in-doubt call: {result}"
        call = in_doubt[0]
        assert call["tool"] not in ("notify",), "notify has a reconcile; it must settle itself"
        assert call["call_id"] in result.message
        done = [e for e in ledger(agent) if e["key"] == call["idempotency_key"]]
        if done:
            output = json.dumps(f"charged {call['arguments']['amount']}")
            resolve_call(store, task_id, call["call_id"], "result", output)
        else:
            resolve_call(store, task_id, call["call_id"], "retry")
    raise AssertionError(f"task {task_id} did not finish in {max_rounds} runs: {codes}")


@dataclass
class Violations:
    """What a check found wrong, with the context to reproduce it."""

    items: list[str] = field(default_factory=list)

    def add(self, where: str, what: str) -> None:
        self.items.append(f"{where}: {what}")

    def __bool__(self) -> bool:
        return bool(self.items)

    def __str__(self) -> str:
        shown = "\n  ".join(self.items[:20])
        more = f"\n  … and {len(self.items) - 20} more" if len(self.items) > 20 else ""
        return f"{len(self.items)} violation(s):\n  {shown}{more}"


def read_events(home: Path, task_id: str) -> list[Event]:
    return list(LocalTaskStore(home).events(task_id))


def check_crash_state(
    home: Path,
    agent: TestAgent,
    attempted: dict[str, list[Event]],
    acked: dict[str, int],
    where: str,
    found: Violations,
) -> list[str]:
    """Check a crash state before recovery; return the tasks to recover.

    INV-DURABLE: every acknowledged task and event is there. INV-PREFIX: a task's events are a
    prefix of what its writer attempted. INV-CLASSIFY: a pure crash is never corruption.
    INV-EFFECT: every side effect in the ledger has a durable intent.
    """
    visible = visible_tasks(home)
    for task_id, seq in acked.items():
        if task_id not in visible:
            found.add(where, f"task {task_id} was acknowledged (seq {seq}) but is gone")
    to_recover = []
    for task_id in visible:
        store = LocalTaskStore(home)
        report = verify_task(store.ops, store.task_dir(task_id), task_id)
        if not report.is_ok:
            found.add(where, f"task {task_id} classified corrupt: {report.problems}")
            continue
        try:
            events = read_events(home, task_id)
        except AgentrunError as exc:
            found.add(where, f"task {task_id} cannot be read: {exc}")
            continue
        before = attempted.get(task_id)
        if before is None:
            found.add(where, f"task {task_id} appeared though no writer created it")
            continue
        if events != before[: len(events)]:
            found.add(where, f"task {task_id}: recovered events are not a prefix of the attempted")
        if len(events) < acked.get(task_id, 0):
            found.add(
                where,
                f"task {task_id}: acknowledged seq {acked[task_id]} lost "
                f"(only {len(events)} events survive)",
            )
        if not events:
            found.add(where, f"task {task_id} is visible with no event")
            continue
        if fold(events).to_dict() != store.load(task_id).state.to_dict():
            found.add(
                where, f"task {task_id}: the snapshot answer differs from the log's (rule 18)"
            )
        intents = {e.idempotency_key for e in events if isinstance(e, ToolIntended)}
        mine = f"agentrun-{task_id}-"
        for entry in ledger(agent):
            key = entry["key"]
            if entry["tool"] in SIDE_EFFECT_TOOLS and key.startswith(mine) and key not in intents:
                found.add(where, f"side effect {key} has no durable intent")
        to_recover.append(task_id)
    return to_recover


def check_finished(
    home: Path,
    agent: TestAgent,
    task_id: str,
    reference: dict[str, Any],
    where: str,
    found: Violations,
    *,
    strict: bool = True,
) -> None:
    """After recovery: INV-EFFECT (at most once unless retried), INV-DETERMINISM, verify clean."""
    store = LocalTaskStore(home)
    events = read_events(home, task_id)
    intents = {e.idempotency_key: e for e in events if isinstance(e, ToolIntended)}
    retried = {e.call_id for e in events if isinstance(e, ToolResolved) and e.decision == "retried"}
    mine = f"agentrun-{task_id}-"
    counts = Counter(
        e["key"]
        for e in ledger(agent)
        if e["tool"] in SIDE_EFFECT_TOOLS and e["key"].startswith(mine)
    )
    for key, count in counts.items():
        if key not in intents:
            found.add(where, f"side effect {key} ran without a durable intent")
        elif count > 1 and (strict or intents[key].call_id not in retried):
            # ``recover`` retries an in-doubt call only when the ledger shows it never ran.
            found.add(where, f"side effect {key} ran {count} times")
    completed = Counter(e.call_id for e in events if isinstance(e, ToolCompleted))
    twice = [c for c, n in completed.items() if n > 1]
    if twice:
        found.add(where, f"results recorded more than once: {twice}")
    state = store.load(task_id).state
    if comparable(state.to_dict()) != reference:
        found.add(where, f"final state differs from the reference run (status {state.status})")
    report = verify_task(store.ops, store.task_dir(task_id), task_id)
    if report.problems or report.torn_tail_bytes:
        found.add(where, f"verify after recovery: {report.problems}, torn {report.torn_tail_bytes}")


def start_and_run(store: LocalTaskStore, spec: AgentSpec, acks: Acks) -> RunResult:
    """Create the task (acknowledged once the id is returned, rule 3) and run it."""
    task_id = create_task(store, spec, "goal")
    acks.note(task_id, 1)
    return run_once(store, task_id)
