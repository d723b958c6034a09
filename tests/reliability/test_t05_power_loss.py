"""T5: simulated power loss at every sync point, in-process (SQLite's crash loop on CrashFS).

The scripted agent (``MIXED_TURNS``: reads, an idempotent write, file edits, side effects with
and without ``reconcile``) is created and run on ``CrashFS`` with a store that snapshots every 5
events and rolls 4 KiB segments. For k = 1, 2, … the k-th sync or directory operation cuts the
power; every crash mode is materialised from that moment (drop unsynced, prefix, subset,
garbage tail, zero tail), and each crash state is checked, then resumed to completion with the
in-doubt side effects settled by the ledger's truth. k advances until the run finishes without
reaching it, so task creation, every append and fsync, segment rolls, snapshots, the summary and
the clean stop are all cut at every step. Also: a torn tail repaired on reopen, prune and
squash, each cut at every sync point. Invariants: INV-PREFIX, INV-DURABLE, INV-CLASSIFY,
INV-EFFECT, INV-DETERMINISM (see ``harness``); rules 2-5, 7 and 12-15.

The mutation check runs the same loop on a ``FileOps`` whose ``fsync_dir`` makes nothing durable
and asserts that the checker catches it: proof the test can see what it guards (rule 2).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agentrun.core.errors import AgentrunError
from agentrun.core.events import Event
from agentrun.runtime.reporter import SilentReporter
from agentrun.runtime.runner import Runner
from agentrun.runtime.signals import StopFlag
from agentrun.runtime.tasks import create_task
from agentrun.store.framing import encode_record
from agentrun.store.local import LocalTaskStore
from agentrun.store.verify import verify_task
from tests.reliability.crashfs import (
    MODES,
    CrashFS,
    NoDirSyncCrashFS,
    NoRollDirSyncCrashFS,
    SimulatedCrash,
)
from tests.reliability.harness import (
    Acks,
    Violations,
    World,
    agent_spec,
    check_crash_state,
    check_finished,
    read_events,
    recover,
    run_once,
    small_store,
    start_and_run,
    visible_tasks,
)
from tests.runtime.agents import TestAgent as Agent
from tests.runtime.agents import make_agent
from tests.runtime.kill_harness import FSYNC, comparable, reference_states

CHUNKS = 3  # the k's of one fsync policy are split over this many tests (xdist spreads them)
STRESS_SEEDS = 10
REPAIR_POINTS = 16


@dataclass
class Tally:
    """How much a loop exercised, printed for the report."""

    points: int = 0
    states: int = 0
    modes: dict[str, int] = field(default_factory=dict)
    recovered: int = 0
    needed_person: int = 0

    def __str__(self) -> str:
        return (
            f"{self.points} crash points, {self.states} crash states {self.modes}, "
            f"{self.recovered} recoveries ({self.needed_person} needed a person)"
        )


@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """The final state of an uninterrupted run, per fsync policy (INV-DETERMINISM)."""
    return reference_states(tmp_path_factory.mktemp("reference"))


@pytest.fixture
def ledger_env(monkeypatch: pytest.MonkeyPatch, fast_root: Path) -> Path:
    ledger = fast_root / "agent" / "ledger.jsonl"
    monkeypatch.setenv("AGENTRUN_LEDGER", str(ledger))
    return ledger


def recover_all(
    home: Path,
    agent: Agent,
    task_ids: list[str],
    reference: dict,
    where: str,
    found: Violations,
    tally: Tally,
) -> None:
    for task_id in task_ids:
        in_doubt = LocalTaskStore(home).load(task_id).state.in_doubt_calls()
        try:
            codes = recover(home, agent, task_id)
        except (AssertionError, AgentrunError) as exc:
            found.add(where, f"recovery of {task_id} failed: {type(exc).__name__}: {exc}")
            continue
        tally.recovered += 1
        tally.needed_person += 3 in codes
        # INV-EFFECT: an in-doubt charge (no reconcile) asks a person first; notify settles itself.
        if in_doubt and in_doubt[0]["tool"] == "charge" and codes[0] != 3:
            found.add(where, f"in-doubt {in_doubt[0]['call_id']} did not stop for a person")
        check_finished(home, agent, task_id, reference, where, found)


def explore(
    root: Path,
    agent: Agent,
    reference: dict,
    acks: Acks,
    *,
    ks: range,
    modes: tuple[str, ...],
    seed: int,
    fs_class: type[CrashFS] = CrashFS,
    stop_at_first: bool = False,
) -> tuple[Violations, Tally]:
    """Create and run the agent, cutting the power at each k; check every crash state."""
    found, tally = Violations(), Tally()
    disk, home = root / "disk", root / "disk" / "home"
    world = World(agent)
    spec = agent_spec(agent)
    for k in ks:
        world.wipe()
        shutil.rmtree(disk, ignore_errors=True)
        fs = fs_class(disk, crash_at=k)
        acks.reset()
        try:
            start_and_run(small_store(home, fs), spec, acks)
        except SimulatedCrash:
            pass
        else:
            break  # the run finished before the k-th crash point: every point is covered
        acks.enabled = False  # the recoveries below are not the crashed process
        tally.points += 1
        attempted = {t: read_events(home, t) for t in visible_tasks(home)}
        world.save(root)
        for mode in modes:
            world.restore()
            rng = random.Random(f"{seed}-{k}-{mode}")
            kept = fs.materialize(mode, rng)
            where = f"[{fs.crashed_at}; {kept}; seed {seed}]"
            tally.states += 1
            tally.modes[mode] = tally.modes.get(mode, 0) + 1
            tasks = check_crash_state(home, agent, attempted, acks.seqs, where, found)
            recover_all(home, agent, tasks, reference, where, found, tally)
            if found and stop_at_first:
                return found, tally
    else:
        raise AssertionError(f"the run did not finish within {ks}")
    return found, tally


def chunk(index: int) -> range:
    return range(index + 1, 10_000, CHUNKS)


@pytest.mark.parametrize("part", range(CHUNKS), ids=[f"part{i}" for i in range(CHUNKS)])
@pytest.mark.parametrize("policy", list(FSYNC))
def test_power_loss_at_every_sync_point_loses_no_acknowledged_event(
    policy: str,
    part: int,
    fast_root: Path,
    references: dict,
    acks: Acks,
    ledger_env: Path,
    seed: int,
) -> None:
    agent = make_agent(fast_root / "agent", extra=FSYNC[policy])
    found, tally = explore(
        fast_root, agent, references[policy], acks, ks=chunk(part), modes=MODES, seed=seed
    )
    print(f"fsync={policy} part {part}: {tally}")
    assert tally.points > 10
    assert not found, str(found)


@pytest.mark.stress
@pytest.mark.parametrize("extra_seed", range(STRESS_SEEDS))
@pytest.mark.parametrize("policy", list(FSYNC))
def test_stress_power_loss_with_many_seeds(
    policy: str,
    extra_seed: int,
    fast_root: Path,
    references: dict,
    acks: Acks,
    ledger_env: Path,
    seed: int,
) -> None:
    agent = make_agent(fast_root / "agent", extra=FSYNC[policy])
    found, tally = explore(
        fast_root,
        agent,
        references[policy],
        acks,
        ks=range(1, 10_000),
        modes=MODES,
        seed=seed + extra_seed,
    )
    print(f"fsync={policy}: {tally}")
    assert not found, str(found)


@pytest.mark.corrupts  # the broken FileOps leaves lost segments behind on purpose
@pytest.mark.parametrize(
    ("broken", "lost"),
    [(NoDirSyncCrashFS, "is gone"), (NoRollDirSyncCrashFS, "lost")],
    ids=["no-fsync_dir-at-all", "no-fsync_dir-after-roll"],
)
def test_the_check_fails_when_directory_fsyncs_make_nothing_durable(
    broken: type[CrashFS],
    lost: str,
    fast_root: Path,
    references: dict,
    acks: Acks,
    ledger_env: Path,
    seed: int,
) -> None:
    """Mutation check (rule 2): without durable directory entries a task or segment is lost."""
    agent = make_agent(fast_root / "agent")
    found, tally = explore(
        fast_root,
        agent,
        references["always"],
        acks,
        ks=range(1, 10_000),
        modes=("drop_unsynced",),
        seed=seed,
        fs_class=broken,
        stop_at_first=True,
    )
    print(f"mutation {broken.__name__}: {tally}; first finding: {found.items[:1]}")
    assert found, f"{broken.__name__} went unnoticed"
    assert any("acknowledged" in item and lost in item for item in found.items), str(found)


# -- a torn tail repaired on reopen, cut at every sync point of the resume --------------------


class StopAfter(SilentReporter):
    """Raises the stop flag (as SIGINT would) after a number of tool results."""

    def __init__(self, stop: StopFlag, completions: int) -> None:
        self.stop, self.left = stop, completions

    def event(self, event: Event) -> None:
        if event.kind == "tool_completed":
            self.left -= 1
            if self.left == 0:
                self.stop.set(signal.SIGINT)


def torn_task_image(root: Path, agent: Agent) -> tuple[Path, str, int]:
    """A task paused after a few steps whose last segment ends in half a record, plus debris."""
    home = root / "disk" / "home"
    store = small_store(home)
    spec = agent_spec(agent)
    task_id = create_task(store, spec, "goal")
    stop = StopFlag()
    Runner(store, task_id, StopAfter(stop, completions=3), stop=stop).run()
    events = read_events(home, task_id)
    log_dir = home / "tasks" / task_id / "log"
    last = sorted(log_dir.glob("*.seg"))[-1]
    frame = encode_record(b"\x85" + b"x" * 300)  # the first half of a record that never finished
    with open(last, "ab") as f:
        f.write(frame[: len(frame) // 2])
    snap_dir = home / "tasks" / task_id / "snapshots"
    (snap_dir / "00000000000000000099.snap.tmp-dead").write_bytes(b"half a snapshot")
    image = root / "image"
    shutil.copytree(root / "disk", image)
    return image, task_id, len(events)


def test_power_loss_during_torn_tail_repair_and_resume(
    fast_root: Path, references: dict, acks: Acks, ledger_env: Path, seed: int
) -> None:
    agent = make_agent(fast_root / "agent")
    image, task_id, durable = torn_task_image(fast_root, agent)
    world = World(agent)
    world.save(fast_root / "world-at-image")
    image_world = World(agent, world.ledger_bytes, world.saved_workspace)
    disk, home = fast_root / "disk", fast_root / "disk" / "home"
    found, tally = Violations(), Tally()
    for k in range(1, REPAIR_POINTS + 1):  # debris, repair, run_started: then the usual run
        image_world.restore()
        shutil.rmtree(disk)
        shutil.copytree(image, disk)
        fs = CrashFS(disk, crash_at=k)
        acks.reset()
        acks.note(task_id, durable)
        try:
            run_once(small_store(home, fs), task_id)
        except SimulatedCrash:
            pass
        else:
            break
        acks.enabled = False
        tally.points += 1
        attempted = {task_id: read_events(home, task_id)}
        world.save(fast_root)
        for mode in MODES:
            world.restore()
            kept = fs.materialize(mode, random.Random(f"{seed}-{k}-{mode}"))
            where = f"[repair run, {fs.crashed_at}; {kept}; seed {seed}]"
            tally.states += 1
            tasks = check_crash_state(home, agent, attempted, acks.seqs, where, found)
            if tasks != [task_id]:
                found.add(where, f"the task is not readable after the crash: {tasks}")
                continue
            recover_all(home, agent, tasks, references["always"], where, found, tally)
            saved = list((home / "tasks" / task_id / "log").glob("*.torn-*"))
            if not saved:
                found.add(where, "the torn bytes were not kept in a .torn-* file")
    print(f"repair: {tally}")
    assert tally.points >= 5
    assert not found, str(found)


# -- prune and squash, cut at every sync point (rule 5: one commit point) --------------------


def finished_image(root: Path, agent: Agent) -> tuple[Path, list[str]]:
    home = root / "disk" / "home"
    store = small_store(home)
    spec = agent_spec(agent)
    ids = [create_task(store, spec, "goal", task_id=name) for name in ("t-keep", "t-work")]
    for task_id in ids:
        run_once(store, task_id)
    image = root / "image"
    shutil.copytree(root / "disk", image)
    return image, ids


@pytest.mark.parametrize("action", ["prune", "squash"])
def test_power_loss_during_prune_or_squash_keeps_the_task_whole_or_gone(
    action: str, fast_root: Path, references: dict, ledger_env: Path, seed: int
) -> None:
    agent = make_agent(fast_root / "agent")
    image, (keep, work) = finished_image(fast_root, agent)
    disk, home = fast_root / "disk", fast_root / "disk" / "home"
    full = {t: read_events(home, t) for t in (keep, work)}
    final = comparable(LocalTaskStore(home).load(work).state.to_dict())
    found, tally = Violations(), Tally()
    for k in range(1, 10_000):
        shutil.rmtree(disk)
        shutil.copytree(image, disk)
        fs = CrashFS(disk, crash_at=k)
        store = small_store(home, fs)
        try:
            if action == "prune":
                store.delete(work)
            else:
                writer = store.open_writer(work)
                try:
                    writer.squash()
                finally:
                    writer.close()
        except SimulatedCrash:
            pass
        else:
            break
        tally.points += 1
        for mode in MODES:
            fs.materialize(mode, random.Random(f"{seed}-{k}-{mode}"))
            where = f"[{action}, {fs.crashed_at}; {mode}; seed {seed}]"
            tally.states += 1
            _check_after_prune_or_squash(home, action, keep, work, full, final, where, found)
    print(f"{action}: {tally}")
    assert tally.points >= 3
    assert not found, str(found)


def _check_after_prune_or_squash(
    home: Path,
    action: str,
    keep: str,
    work: str,
    full: dict[str, list[Event]],
    final: dict,
    where: str,
    found: Violations,
) -> None:
    visible = visible_tasks(home)
    if keep not in visible or read_events(home, keep) != full[keep]:
        found.add(where, f"the other task {keep} changed")
    store = small_store(home)
    if work not in visible:
        if action == "squash":
            found.add(where, "squash lost the task")
        store.remove_trash()
        if os.listdir(home / "tasks") != [keep]:
            found.add(where, f"prune left debris: {os.listdir(home / 'tasks')}")
        return
    try:
        state = store.load(work).state
        report = verify_task(store.ops, store.task_dir(work), work)
    except AgentrunError as exc:
        found.add(where, f"{work} unreadable: {exc}")
        return
    if not report.is_ok:
        found.add(where, f"{work} corrupt: {report.problems}")
    if comparable(state.to_dict()) != final:
        found.add(where, f"{work}: the folded state changed")
    # Finishing the interrupted action works and leaves no debris a reader would see.
    try:
        if action == "prune":
            store.delete(work)
            store.remove_trash()
            if work in visible_tasks(home) or os.listdir(home / "tasks") != [keep]:
                found.add(where, f"prune left {os.listdir(home / 'tasks')}")
        else:
            writer = store.open_writer(work)
            try:
                writer.squash()
            finally:
                writer.close()
            if comparable(store.load(work).state.to_dict()) != final:
                found.add(where, "squash after the crash changed the state")
    except AgentrunError as exc:
        found.add(where, f"finishing the {action} failed: {exc}")
