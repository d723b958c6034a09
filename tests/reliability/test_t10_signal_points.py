"""T10 in process: a real SIGINT or SIGTERM at each named crash point and at random moments.

Rules 29-30; INV-PREFIX, INV-EFFECT, INV-DETERMINISM. ``test_t10_signals.py`` signals real
``agentrun`` processes at moments read from their event stream, and tests the double SIGINT.
Here the signal is sent from a hook on the crash points (F2), in process, with the CLI's own
handlers installed (``stop_on_signals``), so it lands inside each crash window: between a write
and its fsync, between an intent and its tool, inside a tool, during a snapshot, a roll, a claim.
First at each of 15 named points; then at a random moment of the run: the j-th pass of any crash
point, j drawn by a seeded RNG from 0 (the signal is already pending when the run starts) to the
number of passes of an uninterrupted run. Asserted: exit 130/143 with ``run_stopped`` (reason
signal) as the last event and a snapshot of it, unless the run had already finished; every
intent of the run has its tool started (the ledger agrees) and its result recorded; resume
reaches the reference state with every side effect run once.

CI: 30 named + 30 random deliveries; the extended tier (``AGENTRUN_STRESS=1``) runs 1,300
random ones. The seed is printed; ``AGENTRUN_SEED=<n>`` reruns.
"""

from __future__ import annotations

import os
import random
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from agentrun.core.events import RunStopped, ToolCompleted, ToolIntended
from agentrun.runtime.reporter import SilentReporter
from agentrun.runtime.runner import Runner
from agentrun.runtime.signals import StopFlag, stop_on_signals
from agentrun.runtime.tasks import create_task
from agentrun.store.snapshots import list_snapshots
from tests.reliability.harness import (
    Violations,
    agent_spec,
    check_finished,
    read_events,
    recover,
    small_store,
)
from tests.runtime.agents import make_agent
from tests.runtime.kill_harness import SIDE_EFFECT_TOOLS, ledger, reference_state
from tests.trials import trials

HOOKED_MODULES = (
    "agentrun.runtime.runner",
    "agentrun.store.atomic",
    "agentrun.store.local",
    "agentrun.store.log_writer",
    "agentrun.store.recovery",
)
# Passes in one run of MIXED_TURNS: tools 1 lookup, 2 write_file, 3 charge, 6 notify, 8 charge.
CASES = [
    ("claim_acquired", 1),
    ("before_write", 2),
    ("after_write_before_sync", 3),
    ("after_sync", 5),
    ("after_intent_sync_before_tool", 3),
    ("after_intent_sync_before_tool", 6),
    ("during_tool", 1),
    ("during_tool", 8),
    ("after_tool_before_completed", 3),
    ("after_tool_before_completed", 10),
    ("roll_tmp_created", 1),
    ("roll_after_replace", 2),
    ("snapshot_tmp_written", 2),
    ("snapshot_before_replace", 3),
    ("summary_before_replace", 1),
]


SEED = int(os.environ.get("AGENTRUN_SEED", random.randrange(1 << 30)))
RANDOM_MOMENTS = trials(30, 1_300)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("reference")
    return reference_state(make_agent(root / "agent"), root / "home")


@pytest.fixture(scope="module")
def passes(tmp_path_factory: pytest.TempPathFactory) -> int:
    """How many crash-point passes an uninterrupted in-process run makes (the run's length)."""
    root = tmp_path_factory.mktemp("passes")
    agent = make_agent(root / "agent")
    count = {"passes": 0}

    def crash_point(name: str) -> None:
        count["passes"] += 1

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AGENTRUN_LEDGER", str(agent.ledger))
        store = small_store(root / "home")
        task_id = create_task(store, agent_spec(agent), "goal")  # not hooked in the tests either
        for module in HOOKED_MODULES:
            patch.setattr(f"{module}.crash_point", crash_point)
        Runner(store, task_id, SilentReporter()).run()
    return count["passes"]


def hook(point: str, n: int, signum: int) -> Callable[[str], None]:
    passes = {"count": 0}

    def crash_point(name: str) -> None:
        if name == point:
            passes["count"] += 1
            if passes["count"] == n:
                os.kill(os.getpid(), signum)

    return crash_point


def hook_any(j: int, signum: int) -> Callable[[str], None]:
    """Signal at the j-th pass of any crash point."""
    passes = {"count": 0}

    def crash_point(name: str) -> None:
        passes["count"] += 1
        if passes["count"] == j:
            os.kill(os.getpid(), signum)

    return crash_point


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize(("point", "n"), CASES, ids=[f"{p}:{n}" for p, n in CASES])
def test_a_signal_at_a_crash_point_stops_at_a_safe_point_and_resume_completes(
    point: str,
    n: int,
    signum: int,
    fast_root: Path,
    reference: dict,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    crash_point = hook(point, n, signum)
    run_signalled_then_resume(
        fast_root, reference, monkeypatch, crash_point, signum, f"{point}:{n}"
    )


@pytest.mark.parametrize("trial", range(RANDOM_MOMENTS))
def test_a_signal_at_a_random_moment_stops_at_a_safe_point_and_resume_completes(
    trial: int,
    fast_root: Path,
    reference: dict,
    passes: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(SEED + trial)
    signum = rng.choice([signal.SIGINT, signal.SIGTERM])
    j = rng.randint(0, passes)
    where = f"seed {SEED + trial} (AGENTRUN_SEED={SEED}): {signum.name} at pass {j} of {passes}"
    print(where)
    crash_point = hook_any(j, signum)
    run_signalled_then_resume(
        fast_root, reference, monkeypatch, crash_point, signum, where, pending=j == 0
    )


def run_signalled_then_resume(
    fast_root: Path,
    reference: dict,
    monkeypatch: pytest.MonkeyPatch,
    crash_point: Callable[[str], None],
    signum: int,
    where: str,
    *,
    pending: bool = False,
) -> None:
    """Run the agent with ``crash_point`` hooked (``pending``: signalled before the run)."""
    agent = make_agent(fast_root / "agent")
    monkeypatch.setenv("AGENTRUN_LEDGER", str(agent.ledger))
    home = fast_root / "home"
    store = small_store(home)
    task_id = create_task(store, agent_spec(agent), "goal")
    for module in HOOKED_MODULES:
        monkeypatch.setattr(f"{module}.crash_point", crash_point)
    flag = StopFlag()
    with stop_on_signals(flag):
        if pending:
            os.kill(os.getpid(), signum)
        result = Runner(store, task_id, SilentReporter(), stop=flag).run()
    assert flag.is_set, f"{where} was never passed"
    events = read_events(home, task_id)
    code = 130 if signum == signal.SIGINT else 143
    if result.exit_code == 0:
        assert events[-1].kind == "task_finished"  # the signal came after the last step
    else:
        assert result.exit_code == code, result
        assert isinstance(events[-1], RunStopped) and events[-1].reason == "signal"
        snaps = list_snapshots(store.ops, str(home / "tasks" / task_id / "snapshots"))
        assert snaps and snaps[0].endswith(f"{events[-1].seq:020d}.snap"), "no final snapshot"
    # Never stopped between an intent and its tool: every intent ran and has its result.
    intents = {e.call_id: e for e in events if isinstance(e, ToolIntended)}
    completed = {e.call_id for e in events if isinstance(e, ToolCompleted)}
    assert set(intents) <= completed
    ran = {e["key"] for e in ledger(agent)}
    for intent in intents.values():
        if intent.tool in SIDE_EFFECT_TOOLS:
            assert intent.idempotency_key in ran, f"{intent.call_id} intended but never started"
    monkeypatch.undo()
    monkeypatch.setenv("AGENTRUN_LEDGER", str(agent.ledger))
    assert recover(home, agent, task_id) == [0]
    found = Violations()
    check_finished(home, agent, task_id, reference, where, found)
    assert not found, str(found)
