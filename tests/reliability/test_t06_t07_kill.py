"""T6 and T7: kill -9 of real processes at named crash points and at random times.

Rules 3, 25-27 and design §5 (resume semantics); INV-PREFIX, INV-DURABLE (kill -9 form),
INV-EFFECT, INV-DETERMINISM, and for T7 INV-CLAIM (the next resume claims at once).
``agentrun start`` is SIGKILLed at named crash points (``AGENTRUN_CRASH_AT``) and at random times,
then ``agentrun resume`` runs until the task is done. The ledger outside the home proves that
every completed side effect happened once, that an in-doubt side effect without ``reconcile`` is
never re-run silently (exit 3 names it), and that ``reconcile`` settles one by itself. The final
state must equal an uninterrupted run's.

CI: 46 named-point cases, 2 during task creation, 12 tasks killed at random times (1-3 kills
each). Extended (``AGENTRUN_STRESS=1 pytest -m 'stress or not stress'``): the 46 cases under 50
seeds each (a seed draws the fsync policy and 0-20 ms model and tool delays), 1,700 tasks.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentrun.store.local import LocalTaskStore
from tests.conftest import run_agentrun
from tests.runtime.agents import MIXED_TURNS, make_agent
from tests.runtime.agents import TestAgent as Agent
from tests.runtime.kill_harness import (
    check_effects,
    comparable,
    reference_state,
    resume_until_done,
    task_ids,
)
from tests.trials import trials

WRITE_POINTS = ["before_write", "after_write_before_sync", "after_sync"]
# Tool passes: 1 lookup, 2 write_file, 3 charge, 6 notify, 8 charge, 10 notify.
TOOL_POINTS = ["after_intent_sync_before_tool", "during_tool", "after_tool_before_completed"]
CLOSE_POINTS = [
    "snapshot_tmp_written",
    "snapshot_before_replace",
    "snapshot_after_replace_before_dirsync",
    "summary_tmp_written",
    "summary_before_replace",
    "summary_after_replace_before_dirsync",
    "claim_acquired",
]
CASES = (
    [(p, n) for p in WRITE_POINTS for n in (1, 2, 3, 5, 8, 11, 14)]
    + [(p, n) for p in TOOL_POINTS for n in (1, 2, 3, 6, 8, 10)]
    + [(p, 1) for p in CLOSE_POINTS]
)


# Extended tier (T6 x 50 seeds): each seed picks the fsync policy and the delays of every model
# turn and tool (0-20 ms). Under ``fsync = "batch"`` records are grouped, so a write point's
# n-th pass may lie beyond the end of the run; that seed then runs to completion uncut.
STRESS_SEEDS = 50
FSYNC = {"always": "", "batch": 'fsync = "batch"\n'}
SEED = int(os.environ.get("AGENTRUN_SEED", random.randrange(1 << 30)))


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("reference")
    return reference_state(make_agent(root / "agent"), root / "home")


@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """The uninterrupted run's final state per fsync policy (INV-DETERMINISM)."""
    found = {}
    for policy, extra in FSYNC.items():
        root = tmp_path_factory.mktemp(f"reference-{policy}")
        found[policy] = reference_state(make_agent(root / "agent", extra=extra), root / "home")
    return found


def kill_at_point_then_resume(
    root: Path,
    reference: dict,
    point: str,
    n: int,
    *,
    agent: Agent | None = None,
    extra_env: dict[str, str] | None = None,
    may_finish: bool = False,
) -> bool:
    """Start the agent killed at ``point:n``, resume until done, check; False if never killed."""
    agent = agent or make_agent(root / "agent")
    home = root / "home"
    extra_env = extra_env or {}
    env = {
        "AGENTRUN_HOME": str(home),
        "AGENTRUN_CRASH_AT": f"{point}:{n}",
        **agent.env(),
        **extra_env,
    }
    started = run_agentrun("start", "--agent", str(agent.spec), "--quiet", "goal", env=env)
    if may_finish and started.returncode == 0:
        killed = False  # the point was passed fewer than n times in this configuration
    else:
        assert started.returncode == -signal.SIGKILL, started.stderr
        killed = True
    ids = task_ids(home)
    assert len(ids) == 1
    codes = resume_until_done(home, agent, ids[0], extra_env=extra_env)
    if point == "after_intent_sync_before_tool" and n in (3, 8):
        assert codes[0] == 3  # charge: in doubt, no reconcile: a person decides
    if point == "after_intent_sync_before_tool" and n in (6, 10):
        assert codes == [0]  # notify: reconcile settles it by itself
    check_effects(home, agent, ids[0])
    final = LocalTaskStore(home).load(ids[0]).state
    assert comparable(final.to_dict()) == reference
    return killed


@pytest.mark.parametrize(("point", "n"), CASES, ids=[f"{p}:{n}" for p, n in CASES])
def test_kill_at_named_point_then_resume_loses_nothing_and_repeats_nothing(
    tmp_path: Path, reference: dict, point: str, n: int
) -> None:
    assert kill_at_point_then_resume(tmp_path, reference, point, n)


@pytest.mark.stress
@pytest.mark.parametrize(("point", "n"), CASES, ids=[f"{p}:{n}" for p, n in CASES])
def test_stress_kill_at_named_point_with_50_seeds(
    tmp_path: Path, references: dict[str, dict], point: str, n: int
) -> None:
    """The extended tier of T6: every case again under 50 seeds (see ``STRESS_SEEDS``)."""
    print(f"seeds {SEED}..{SEED + STRESS_SEEDS - 1} (rerun with AGENTRUN_SEED={SEED})")
    failures, killed = [], {policy: 0 for policy in FSYNC}
    for index in range(STRESS_SEEDS):
        rng = random.Random(SEED + index)
        policy = rng.choice(sorted(FSYNC))
        turns = [{**t, "delay_s": round(rng.uniform(0, 0.02), 4)} for t in MIXED_TURNS]
        root = tmp_path / f"seed-{index}"
        agent = make_agent(root / "agent", turns, extra=FSYNC[policy])
        tool_delay = {"AGENTRUN_TEST_TOOL_DELAY": f"{rng.uniform(0, 0.02):.4f}"}
        try:
            killed[policy] += kill_at_point_then_resume(
                root,
                references[policy],
                point,
                n,
                agent=agent,
                extra_env=tool_delay,
                may_finish=policy == "batch" and point in WRITE_POINTS,
            )
        except AssertionError as exc:
            failures.append(f"seed {SEED + index} (fsync={policy}): {exc}")
    print(f"{point}:{n}: killed {killed} of {STRESS_SEEDS} seeds")
    assert not failures, "\n".join(failures)
    assert killed["always"] + killed["batch"] > 0


@pytest.mark.parametrize("point", ["create_before_replace", "create_after_replace_before_dirsync"])
def test_kill_during_task_creation_leaves_no_half_task(tmp_path: Path, point: str) -> None:
    agent = make_agent(tmp_path / "agent")
    home = tmp_path / "home"
    env = {"AGENTRUN_HOME": str(home), "AGENTRUN_CRASH_AT": f"{point}:1", **agent.env()}
    started = run_agentrun("start", "--agent", str(agent.spec), "goal", env=env)
    assert started.returncode == -signal.SIGKILL
    assert started.stdout == ""  # rule 3: the id is printed only once the task is durable
    ids = task_ids(home)
    if point == "create_before_replace":
        assert ids == []
    else:
        assert len(ids) == 1
        resume_until_done(home, agent, ids[0])


@pytest.mark.parametrize("task_number", range(trials(12, 1_700)))
def test_random_kills_then_resume_converge_to_the_reference(
    tmp_path: Path, reference: dict, task_number: int
) -> None:
    rng = random.Random(SEED + task_number)
    print(f"seed {SEED + task_number} (rerun with AGENTRUN_SEED={SEED})")
    agent = make_agent(tmp_path / "agent")
    home = tmp_path / "home"
    env = {
        **os.environ,
        "AGENTRUN_HOME": str(home),
        "AGENTRUN_TEST_TOOL_DELAY": f"{rng.uniform(0, 0.02):.4f}",
        **agent.env(),
    }
    argv = [sys.executable, "-m", "agentrun", "start", "--agent", str(agent.spec), "-q", "goal"]
    kills = rng.randint(1, 3)
    for attempt in range(kills):
        if attempt:
            ids = task_ids(home)
            if not ids:
                break
            argv = [sys.executable, "-m", "agentrun", "resume", ids[0], "-q", "--retry-unknown"]
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.05, 0.9))
        proc.kill()
        proc.communicate()
    ids = task_ids(home)
    if not ids:
        return  # killed before the task was durable: nothing to resume, nothing ran
    assert not any(e for e in _ledger_without_intent(home, agent, ids[0]))
    resume_until_done(home, agent, ids[0])
    check_effects(home, agent, ids[0])
    final = LocalTaskStore(home).load(ids[0]).state
    assert comparable(final.to_dict()) == reference


def _ledger_without_intent(home: Path, agent, task_id: str) -> list[dict]:
    from agentrun.core.events import ToolIntended
    from tests.runtime.kill_harness import ledger

    keys = {
        e.idempotency_key
        for e in LocalTaskStore(home).events(task_id)
        if isinstance(e, ToolIntended)
    }
    return [e for e in ledger(agent) if e["key"] not in keys]
