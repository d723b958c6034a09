"""T9: I/O errors at every operation of a short run (SQLite's I/O-error loop; rules 3, 6-9, 18).

A six-step scripted run (read, idempotent file write, a charge, a read plus an idempotent store,
a reconciled notify, finish) is created and run on ``FaultFS``. For every operation N of that
run (about 130: opens, writes, syncs, directory operations and reads), operation N fails once
and persistently with EIO and ENOSPC; every write also comes back short (once and persistently)
or fails with EFBIG. Then the fault is removed and the task resumed to completion. Asserted:

- the run stops with one ``StorageError`` line (no other exception type), or finishes when the
  failed operation was one whose failure is harmless (reading a cache);
- rule 8: after a failed fsync, fdatasync or directory fsync, no sync of any kind is attempted;
- rule 9: after a failed or short segment write, no segment write follows;
- nothing runs after the failure (the ledger does not grow), so a failed intent fsync means
  the ledger shows no call;
- after the fault is gone the log is at worst torn, never corrupt; every snapshot left is
  readable; a failed creation leaves no half task visible; resume reaches the reference state.

Plus a sample through the CLI error boundary, and the real kernel variant: ``agentrun start`` in
a child with ``RLIMIT_FSIZE`` set low and SIGXFSZ ignored (real short writes and EFBIG), then
``resume`` without the limit. The extended tier (``-m stress``) runs the same loop over every
operation of a 30-step run (about 520 operations). The loop and its checks are
``fault_loop.py``; a second fault during the resume is ``test_t09_compound_faults.py``.
"""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agentrun.core.errors import StorageError
from agentrun.core.state import fold
from agentrun.runtime.tasks import create_task
from agentrun.store.local import LocalTaskStore
from agentrun.store.snapshots import list_snapshots, read_snapshot, snapshot_path, write_snapshot
from agentrun.store.verify import verify_task
from tests.reliability.fault_loop import (
    LONG_TURNS,
    SHORT_TURNS,
    Tally,
    check_one_fault,
    clean_run_trace,
    fault_numbers,
)
from tests.reliability.faultfs import FaultFS
from tests.reliability.harness import (
    Violations,
    agent_spec,
    read_events,
    run_once,
    small_store,
    visible_tasks,
)
from tests.runtime.agents import TestAgent as Agent
from tests.runtime.agents import make_agent
from tests.runtime.kill_harness import (
    FSYNC,
    check_effects,
    comparable,
    reference_state,
    reference_states,
    resume_until_done,
)

FAULTS = [
    ("always", "EIO", False),
    ("always", "EIO", True),
    ("always", "ENOSPC", False),
    ("always", "ENOSPC", True),
    ("always", "short", False),
    ("always", "short", True),
    ("always", "EFBIG", False),
    ("batch", "EIO", False),
    ("batch", "ENOSPC", True),
    ("batch", "short", False),
]
STRESS_STEPS = 30


@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    return reference_states(tmp_path_factory.mktemp("reference-short"), SHORT_TURNS)


@pytest.fixture
def agent(fast_root: Path, monkeypatch: pytest.MonkeyPatch) -> Agent:
    made = make_agent(fast_root / "agent", SHORT_TURNS)
    monkeypatch.setenv("AGENTRUN_LEDGER", str(made.ledger))
    return made


@pytest.fixture(scope="module")
def long_references(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """The reference states of the 30-step run of the extended tier."""
    return reference_states(tmp_path_factory.mktemp("reference-long"), LONG_TURNS)


@pytest.mark.parametrize(
    ("policy", "error", "persistent"),
    FAULTS,
    ids=[f"{f}-{e}-{'persistent' if p else 'once'}" for f, e, p in FAULTS],
)
def test_an_io_error_at_any_operation_stops_cleanly_and_resume_completes(
    policy: str,
    error: str,
    persistent: bool,
    fast_root: Path,
    references: dict[str, dict],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fault_at_every_operation(
        fast_root, SHORT_TURNS, references[policy], policy, error, persistent, monkeypatch
    )


@pytest.mark.stress
@pytest.mark.parametrize(
    ("policy", "error", "persistent"),
    FAULTS,
    ids=[f"{f}-{e}-{'persistent' if p else 'once'}" for f, e, p in FAULTS],
)
def test_stress_an_io_error_at_any_operation_of_a_30_step_run(
    policy: str,
    error: str,
    persistent: bool,
    fast_root: Path,
    long_references: dict[str, dict],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The extended tier: the same loop over every operation of a 30-step run."""
    assert len(LONG_TURNS) == STRESS_STEPS
    fault_at_every_operation(
        fast_root, LONG_TURNS, long_references[policy], policy, error, persistent, monkeypatch
    )


def fault_at_every_operation(
    root: Path,
    turns: list[dict],
    reference: dict,
    policy: str,
    error: str,
    persistent: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    agent = make_agent(root / "agent", turns, extra=FSYNC[policy])
    monkeypatch.setenv("AGENTRUN_LEDGER", str(agent.ledger))
    trace = clean_run_trace(root, agent)
    numbers = fault_numbers(trace, error)
    found, tally = Violations(), Tally()
    for number in numbers:
        check_one_fault(root, agent, reference, number, error, persistent, found, tally)
    print(
        f"fsync={policy} {error}{' persistent' if persistent else ''}: {tally.cases} faults of "
        f"{len(trace)} operations; {tally.stopped} stopped with StorageError, {tally.finished} "
        f"finished; {tally.intent_fsync_failures} failed side-effect intent fsyncs; "
        f"{tally.overlapped_reads} reads overlapped a failed sync; {tally.by_op}"
    )
    assert tally.cases == len(numbers)
    assert not found, str(found)
    if error == "EIO" and not persistent:
        # The check that only reads overlap a failed flush must have met one (see fault_loop).
        assert tally.overlapped_reads > 0


# -- snapshots and creation, by name ----------------------------------------------------------


SNAPSHOT_OPS = ["open", "write", "fsync", "close", "replace", "fsync_dir"]


@pytest.mark.parametrize("index", range(len(SNAPSHOT_OPS)), ids=SNAPSHOT_OPS)
def test_a_failed_snapshot_write_leaves_the_old_snapshot_readable(
    index: int, fast_root: Path, agent: Agent
) -> None:
    home = fast_root / "home"
    store = small_store(home)
    task_id = create_task(store, agent_spec(agent), "goal")
    run_once(store, task_id)
    writer = store.open_writer(task_id)
    state, position = writer.state, writer._log.last_position
    writer.abandon()
    assert position is not None
    snap_dir = Path(store.task_dir(task_id)) / "snapshots"
    newest = Path(snapshot_path(str(snap_dir), position.seq))
    newest.unlink()  # the write below makes a new snapshot beside the older ones
    old = {Path(p): Path(p).read_bytes() for p in list_snapshots(store.ops, str(snap_dir))}
    assert len(old) >= 1  # the writer keeps the newest SNAPSHOTS_KEPT; one is left here
    fs = FaultFS(fail_at=index + 1)
    with pytest.raises(OSError):
        write_snapshot(fs, str(snap_dir), state, position)
    assert fs.fired is not None and fs.fired.op == SNAPSHOT_OPS[index]
    for path, data in old.items():
        assert path.read_bytes() == data, f"{path.name} changed"
        read_snapshot(store.ops, str(path), str(snap_dir.parent / "log"), task_id)
    assert newest.exists() == (SNAPSHOT_OPS[index] == "fsync_dir")
    report = verify_task(store.ops, store.task_dir(task_id), task_id)
    assert not report.problems, report.problems  # no torn temp file is taken for a snapshot
    assert store.load(task_id).state.to_dict() == fold(store.events(task_id)).to_dict()


@pytest.mark.parametrize("error", ["EIO", "ENOSPC"])
def test_a_failed_home_or_task_creation_leaves_no_half_task(
    error: str, fast_root: Path, agent: Agent
) -> None:
    probe = FaultFS()
    create_task(small_store(fast_root / "probe" / "home", probe), agent_spec(agent), "goal")
    assert any(c.op == "mkdir" for c in probe.trace)  # the home itself is made through ops
    for number in range(1, len(probe.trace) + 1):
        home = fast_root / f"h{number}" / "home"
        fs = FaultFS(fail_at=number, error=error)
        with pytest.raises(StorageError) as info:
            create_task(small_store(home, fs), agent_spec(agent), "goal")
        assert "\n" not in str(info.value)
        tasks = visible_tasks(home)
        assert len(tasks) <= 1
        for task_id in tasks:  # visible only if the rename happened: then it is whole
            assert fs.fired is not None and fs.fired.op in ("fsync_dir", "close")
            events = read_events(home, task_id)
            assert [e.kind for e in events] == ["task_created"]


# -- through the CLI error boundary --------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "match", "nth", "error", "words"),
    [
        ("mkdir", "home", 1, "EIO", "cannot create the agentrun home"),
        ("fsync", ".seg", 1, "EIO", "could not create the task"),
        ("fdatasync", ".seg", 2, "EIO", "could not make the log durable"),
        ("write", ".seg", 3, "ENOSPC", "disk full"),
        ("write", ".seg", 3, "short", "could not write"),
        ("write", ".seg", 4, "EFBIG", "could not write"),
        ("replace", ".snap", 1, "EIO", "could not write a snapshot"),
        ("replace", "summary", 1, "ENOSPC", "disk full"),
    ],
)
def test_an_io_error_reaches_the_user_as_one_line_without_a_traceback(
    op: str,
    match: str,
    nth: int,
    error: str,
    words: str,
    fast_root: Path,
    agent: Agent,
    monkeypatch: pytest.MonkeyPatch,
    cli,
) -> None:
    fs = FaultFS(op=op, match=match, fail_at=nth, error=error)
    monkeypatch.setattr("agentrun.store.local.OsFileOps", lambda: fs)
    home = fast_root / "home"
    result = cli("--home", str(home), "start", "--agent", str(agent.spec), "-q", "a goal")
    assert fs.fired is not None
    assert result.code == 1, result
    lines = result.err.strip().splitlines()
    assert lines[-1].startswith("error: ") and words in lines[-1], result.err
    assert "Traceback" not in result.err


# -- the real kernel: RLIMIT_FSIZE gives real short writes and EFBIG ---------------------------


def limited(limit: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


@pytest.mark.slow
def test_a_file_size_limit_stops_the_run_and_resume_without_it_completes(tmp_path: Path) -> None:
    agent = make_agent(tmp_path / "agent")
    home = tmp_path / "home"
    env = {"AGENTRUN_HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1", **agent.env()}
    reference = reference_state(make_agent(tmp_path / "ref"), tmp_path / "ref-home")
    sizes = probe_sizes(tmp_path, agent, env)
    limits = [sizes[0] - 100, sizes[0], *spread(sizes[0] + 1, sizes[1], 8)]  # sizes[0]: EFBIG
    stopped = 0
    for index, limit in enumerate(limits):
        run_home = tmp_path / f"home-{index}"
        run_env = {**env, "AGENTRUN_HOME": str(run_home)}
        agent.ledger.unlink(missing_ok=True)
        for path in agent.workspace.iterdir():
            path.unlink()
        proc = subprocess.run(
            [sys.executable, "-m", "agentrun", "start", "--agent", str(agent.spec), "-q", "goal"],
            env=run_env,
            capture_output=True,
            text=True,
            timeout=60,
            preexec_fn=lambda limit=limit: limited(limit),
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        tasks = visible_tasks(run_home)
        if proc.returncode == 0:
            continue
        stopped += 1
        assert proc.returncode == 1, proc.stderr
        last = proc.stderr.strip().splitlines()[-1]
        print(f"limit {limit} B: {last}")
        assert last.startswith("error: "), proc.stderr
        if not tasks:
            assert limit < sizes[0], "creation failed above the size of a new task"
            continue
        resume_until_done(run_home, agent, tasks[0])
        check_effects(run_home, agent, tasks[0])
        final = LocalTaskStore(run_home).load(tasks[0]).state
        assert comparable(final.to_dict()) == reference
    assert stopped >= 8, f"only {stopped} of {len(limits)} limits stopped the run"


def probe_sizes(tmp_path: Path, agent: Agent, env: dict[str, str]) -> tuple[int, int]:
    """The largest file of a new task, and of a finished one (the limits to try lie between)."""
    home = tmp_path / "probe-home"
    proc = subprocess.run(
        [sys.executable, "-m", "agentrun", "submit", "--agent", str(agent.spec), "goal"],
        env={**env, "AGENTRUN_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    created = max(p.stat().st_size for p in home.rglob("*") if p.is_file())
    subprocess.run(
        [sys.executable, "-m", "agentrun", "resume", proc.stdout.strip(), "-q"],
        env={**env, "AGENTRUN_HOME": str(home)},
        capture_output=True,
        timeout=60,
        check=True,
    )
    finished = max(p.stat().st_size for p in home.rglob("*") if p.is_file())
    agent.ledger.unlink(missing_ok=True)
    return created, finished


def spread(low: int, high: int, count: int) -> list[int]:
    step = max((high - low) // count, 1)
    return [low + step * i for i in range(count)]
