"""T13: a Hypothesis state machine drives the store on CrashFS against a model of what is durable.

Random interleavings of append (synced or not, small or large records), sync, roll (2 KiB
segments roll on their own too), snapshot, clean reopen, read, and power loss: between
operations, or *inside* the next append, roll, snapshot or reopen at its k-th sync or directory
operation, in any CrashFS mode. The model (RocksDB's expected-state oracle) is the list of
events the writer attempted and how many of them were acknowledged by a sync. After every crash:

- INV-PREFIX: the surviving events are exactly a prefix of the attempted ones;
- INV-DURABLE: the prefix holds at least every acknowledged event;
- INV-CLASSIFY: ``verify`` finds no corruption, and the next writer opens (repairing a torn
  tail) without refusing;
- INV-SNAPSHOT: loading (snapshot plus the events after it) equals folding the log.

Rules 2, 12-15 and 18.

Hypothesis prints the failing steps; ``AGENTRUN_SEED`` pins its seed.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import ClassVar

import pytest
from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from agentrun.core.events import Event
from agentrun.core.state import fold
from agentrun.store.local import LocalTaskStore, LocalTaskWriter
from agentrun.store.verify import verify_task
from tests.core.strategies import seeded
from tests.reliability.crashfs import (
    MODES,
    CrashFS,
    NoDirSyncCrashFS,
    NoRollDirSyncCrashFS,
    SimulatedCrash,
)
from tests.store.builders import BASE_TIME, event_at, make_created

EXAMPLES = 200
STEPS = 50
STRESS_EXAMPLES = 20_000
TASK = "t-model"
FS_CLASS = CrashFS


@seeded
class StoreMachine(RuleBasedStateMachine):
    """The store on CrashFS, checked against the attempted/acknowledged model."""

    tally: ClassVar[Counter[str]] = Counter()  # what the examples exercised, for the report

    def __init__(self) -> None:
        super().__init__()
        base = "/dev/shm" if Path("/dev/shm").is_dir() else None
        self.root = Path(tempfile.mkdtemp(prefix="agentrun-t13-", dir=base))
        self.fs = FS_CLASS(self.root)
        self.home = self.root / "home"
        self.writer: LocalTaskWriter | None = None
        self.attempted: list[Event] = []
        self.acked = 0
        self.crashes = 0

    def store(self) -> LocalTaskStore:
        return LocalTaskStore(self.home, ops=self.fs, segment_bytes=2048, snapshot_every=10**9)

    @initialize()
    def create(self) -> None:
        StoreMachine.tally["examples"] += 1
        self.store().create(make_created, now=BASE_TIME, task_id=TASK)
        self.attempted = [make_created(TASK)]
        self.attempted = self.disk_events()
        self.acked = 1
        self.writer = self.store().open_writer(TASK)

    def teardown(self) -> None:
        try:
            if self.writer is not None:
                self.writer.abandon()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    # -- helpers ----------------------------------------------------------------------------

    def disk_events(self) -> list[Event]:
        """The events a fresh reader sees on the real disk now."""
        return list(LocalTaskStore(self.home).events(TASK))

    def next_events(self, count: int, big: int) -> list[Event]:
        assert self.writer is not None
        seq = self.writer.next_seq
        rng = random.Random(seq)
        return [event_at(seq + i, rng, big if big and i == 0 else None) for i in range(count)]

    def power_loss(self, mode: str, seed: int) -> None:
        """Materialise a crash state and check it against the model; the writer is gone."""
        self.fs.crashed = True  # the dead process syncs nothing more
        if self.writer is not None:
            self.writer.abandon()
            self.writer = None
        written = self.disk_events()  # everything the writer attempted reached the page cache
        assert written[: len(self.attempted)] == self.attempted
        self.attempted = written
        kept = self.fs.materialize(mode, random.Random(seed))
        event(f"power loss: {mode}{', torn write' if kept.torn_bytes else ''}")
        StoreMachine.tally[f"crash {mode}"] += 1
        self.fs.reset_from_disk()
        self.crashes += 1
        store = LocalTaskStore(self.home)
        assert store.task_ids() == [TASK], "INV-DURABLE: the task is gone"
        report = verify_task(store.ops, store.task_dir(TASK), TASK)
        assert report.is_ok, f"a power loss ({mode}) was classified as corruption: {report}"
        survived = self.disk_events()
        assert survived == self.attempted[: len(survived)], "INV-PREFIX: not a prefix"
        assert len(survived) >= self.acked, (
            f"INV-DURABLE: {self.acked} events were acknowledged, {len(survived)} survived"
        )
        assert store.load(TASK).state.to_dict() == fold(survived).to_dict(), "INV-SNAPSHOT"
        self.attempted, self.acked = survived, len(survived)

    def crash_inside(self, k: int, mode: str, seed: int, action: str, *args: int) -> None:
        """Cut the power at the k-th crash point of ``action``, if it gets that far."""
        self.fs.crash_at = self.fs.points + k
        try:
            getattr(self, f"_{action}")(*args)
        except SimulatedCrash:
            self.power_loss(mode, seed)
        finally:
            self.fs.crash_at = None

    def _append(self, count: int, sync: int, big: int) -> None:
        assert self.writer is not None
        events = self.next_events(count, big)
        self.writer.append(events, sync=bool(sync))
        self.attempted += events
        if sync:
            self.acked = len(self.attempted)

    def _roll(self) -> None:
        assert self.writer is not None
        self.writer._log.roll()
        self.acked = len(self.attempted)

    def _snapshot(self) -> None:
        assert self.writer is not None
        self.writer.snapshot()
        self.acked = len(self.attempted)

    def _reopen(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.acked = len(self.attempted)
            self.writer = None
        self.writer = self.store().open_writer(TASK)
        assert self.writer.next_seq == len(self.attempted) + 1

    # -- rules ------------------------------------------------------------------------------

    @precondition(lambda self: self.writer is not None)
    @rule(
        count=st.integers(1, 4),
        sync=st.integers(0, 1),
        big=st.sampled_from([0, 0, 0, 1500, 3000]),
    )
    def append(self, count: int, sync: int, big: int) -> None:
        self._append(count, sync, big)

    @precondition(lambda self: self.writer is not None)
    @rule()
    def sync(self) -> None:
        assert self.writer is not None
        self.writer.sync()
        self.acked = len(self.attempted)

    @precondition(lambda self: self.writer is not None)
    @rule()
    def roll(self) -> None:
        self._roll()

    @precondition(lambda self: self.writer is not None)
    @rule()
    def snapshot(self) -> None:
        self._snapshot()

    @rule()
    def reopen(self) -> None:
        self._reopen()

    @rule()
    def read(self) -> None:
        assert self.disk_events() == self.attempted
        state = LocalTaskStore(self.home).load(TASK).state
        assert state.last_seq == len(self.attempted)

    @rule(mode=st.sampled_from(MODES), seed=st.integers(0, 2**32))
    def crash(self, mode: str, seed: int) -> None:
        self.power_loss(mode, seed)
        self._reopen()  # the next run opens the task, repairing a torn tail

    @precondition(lambda self: self.writer is not None)
    @rule(
        action=st.sampled_from(["append", "roll", "snapshot"]),
        k=st.integers(1, 6),
        mode=st.sampled_from(MODES),
        seed=st.integers(0, 2**32),
        big=st.sampled_from([0, 3000]),
    )
    def crash_inside_an_operation(
        self, action: str, k: int, mode: str, seed: int, big: int
    ) -> None:
        args = (2, 1, big) if action == "append" else ()
        self.crash_inside(k, mode, seed, action, *args)

    @precondition(lambda self: self.writer is None)
    @rule(k=st.integers(1, 8), mode=st.sampled_from(MODES), seed=st.integers(0, 2**32))
    def crash_inside_the_reopen(self, k: int, mode: str, seed: int) -> None:
        """Power loss while the next writer removes debris and repairs a torn tail."""
        self.crash_inside(k, mode, seed, "reopen")

    @invariant()
    def writer_agrees_with_the_model(self) -> None:
        StoreMachine.tally["steps"] += 1
        if self.writer is not None:
            assert self.writer.next_seq == len(self.attempted) + 1


def run(examples: int, **options: object) -> None:
    run_state_machine_as_test(
        StoreMachine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            **options,  # type: ignore[arg-type]
        ),
    )


def test_random_appends_rolls_snapshots_and_power_losses_keep_the_durable_prefix() -> None:
    StoreMachine.tally.clear()
    run(EXAMPLES)
    print(f"T13: {dict(StoreMachine.tally)}")


@pytest.mark.parametrize("broken", [NoDirSyncCrashFS, NoRollDirSyncCrashFS])
def test_the_model_test_fails_when_directory_fsyncs_make_nothing_durable(
    broken: type[CrashFS], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mutation check: the state machine finds a lost segment or task on a broken FileOps."""
    monkeypatch.setattr(f"{__name__}.FS_CLASS", broken)
    # Derandomized: a fixed exploration that reaches the lost entry, so the check cannot flake.
    with pytest.raises(AssertionError) as info:
        run(100, phases=[Phase.generate], database=None, derandomize=True)
    assert "INV-DURABLE" in str(info.value) or "corruption" in str(info.value), info.value


@pytest.mark.stress
def test_stress_store_model() -> None:
    run(STRESS_EXAMPLES)
