"""T8 (i), (iii)-(v): one process per task, freed by death at once (rules 20, 21; INV-CLAIM).

(i) 8 real processes, released together by a barrier file, race ``open_writer`` for one task:
exactly one wins each round and records one ``run_started``; the others get ``ClaimedError`` in
under a second, and the message names the pid and host of the latest ``run_started``.
(iii) after ``kill -9`` of a holder, a new claim succeeds at once.
(iv) a holder SIGSTOPped mid-run keeps the claim (rule 21): each of two ``agentrun resume``
processes exits 5 naming the holder's pid and host, ``agentrun ls --json`` shows the task running
under the holder's pid; after SIGCONT the holder finishes the task alone (one ``run_started``)
and ``agentrun verify`` finds the log clean. The holder's script passes a closed gate (a tool
that waits for a file) in every round, so it is provably mid-run when stopped, at a seeded random
event of the round.
(v) after release the ``lock`` file still exists (filelock #574/#577) and the installed
filelock is within the pinned ``>=4,<5``.

Processes synchronise through stdin/stdout lines, barrier and gate files, never by sleeping.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import filelock
import pytest

from agentrun.core.errors import ClaimedError
from agentrun.core.events import RunStarted, ToolIntended
from agentrun.store.local import LocalTaskStore
from tests.conftest import run_agentrun
from tests.runtime.agents import call, make_agent, turn
from tests.runtime.kill_harness import ledger, task_ids
from tests.store.builders import build_task
from tests.trials import trials

REPO = Path(__file__).resolve().parents[2]
RACERS = 8
ROUNDS = trials(25, 1_000)
LOSER_LIMIT_MS = 1000.0
KILL_ROUNDS = trials(5, 100)
STOP_ROUNDS = trials(5, 50)
OTHER_RESUMES = 2
GATE_TOOLS = Path(__file__).with_name("gate_tools.py")


def spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.claim_child", *args],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    )


def expect(child: subprocess.Popen[str], prefix: str) -> list[str]:
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line.startswith(prefix), f"expected {prefix!r} from child {child.pid}, got {line!r}"
    return line.split()


def send(child: subprocess.Popen[str], line: str) -> None:
    assert child.stdin is not None
    child.stdin.write(line + "\n")
    child.stdin.flush()


def run_starts(store: LocalTaskStore, task_id: str) -> list[RunStarted]:
    return [e for e in store.events(task_id) if isinstance(e, RunStarted)]


@pytest.mark.slow
def test_racing_processes_admit_exactly_one_winner_per_round(fast_home: Path) -> None:
    store = LocalTaskStore(fast_home)
    task_id = build_task(store, 5, task_id="t-race").task_id
    sync_dir = fast_home.parent / "sync"
    sync_dir.mkdir()
    children = [spawn("race", str(fast_home), task_id, str(sync_dir)) for _ in range(RACERS)]
    winners: list[int] = []
    slowest_loser = 0.0
    started = time.perf_counter()
    try:
        for number in range(ROUNDS):
            for child in children:
                send(child, f"round {number}")
            for child in children:
                expect(child, "ready")
            (sync_dir / f"go-{number}").touch()  # the barrier: every racer spins on it
            outcomes = {child.pid: expect(child, "") for child in children}
            won = [pid for pid, words in outcomes.items() if words[0] == "won"]
            lost = [float(words[2]) for words in outcomes.values() if words[0] == "lost"]
            assert len(won) == 1, f"round {number}: {outcomes}"
            assert len(lost) == RACERS - 1, f"round {number}: {outcomes}"
            assert max(lost) < LOSER_LIMIT_MS, f"round {number}: a loser waited {max(lost)} ms"
            slowest_loser = max(slowest_loser, *lost)
            winners.append(won[0])
            # The winner's run_started is durable: a late claimant is told who holds the task.
            with pytest.raises(ClaimedError, match=f"pid {won[0]} on host {socket.gethostname()}"):
                store.open_writer(task_id)
            winner = next(c for c in children if c.pid == won[0])
            send(winner, f"release {number}")
            expect(winner, "released")
    finally:
        for child in children:
            assert child.stdin is not None
            child.stdin.close()
        for child in children:
            child.wait(timeout=30)
    elapsed = time.perf_counter() - started
    print(f"{ROUNDS} rounds x {RACERS} racers in {elapsed:.1f} s; slowest loser {slowest_loser} ms")
    assert [e.pid for e in run_starts(store, task_id)][1:] == winners  # one per claim
    assert [e.seq for e in store.events(task_id)] == list(range(1, 5 + ROUNDS + 1))
    assert (fast_home / "tasks" / task_id / "lock").exists()


@pytest.mark.slow
def test_killing_the_holder_frees_the_claim_at_once(fast_home: Path) -> None:
    store = LocalTaskStore(fast_home)
    task_id = build_task(store, 5, task_id="t-kill").task_id
    for round_number in range(KILL_ROUNDS):
        holder = spawn("hold", str(fast_home), task_id)
        try:
            pid = int(expect(holder, "held")[1])
            assert store.is_claimed(task_id)
            with pytest.raises(ClaimedError, match=f"pid {pid} on host"):
                store.open_writer(task_id)
        finally:
            os.kill(holder.pid, signal.SIGKILL)
            holder.wait(timeout=30)
        assert holder.returncode == -signal.SIGKILL
        started = time.perf_counter()
        writer = store.open_writer(task_id)
        elapsed = time.perf_counter() - started
        writer.abandon()
        assert elapsed < 1.0, f"round {round_number}: retaking the claim took {elapsed:.2f} s"
    assert len(run_starts(store, task_id)) == 1 + KILL_ROUNDS


def gated_turns(rounds: int) -> list[dict]:
    """Each round: a lookup, then a gate the test opens; then finish."""
    turns = []
    for number in range(rounds):
        turns += [turn(call("lookup", key=f"k{number}")), turn(call("gate", gate_id=f"g{number}"))]
    return [*turns, turn(call("finish", outcome="succeeded", summary="done"))]


def read_events(
    holder: subprocess.Popen[str], count: int, until: Callable[[dict], bool]
) -> list[dict]:
    """Read ``count`` events of the holder's ``--json`` stream, fewer if ``until`` accepts one."""
    assert holder.stdout is not None
    seen: list[dict] = []
    while len(seen) < count:
        line = holder.stdout.readline()
        assert line, f"the holder's stream ended early: {seen}"
        seen.append(json.loads(line))
        if until(seen[-1]):
            break
    return seen


def is_gate_intent(event: dict) -> bool:
    return event["kind"] == "tool_intended" and event["tool"] == "gate"


def check_stopped_holder(home: Path, task_id: str, holder_pid: int, where: str) -> None:
    """Others get exit 5 naming the holder; ``ls`` shows it running under the holder's pid."""
    env = {**os.environ, "AGENTRUN_HOME": str(home)}
    argv = [sys.executable, "-m", "agentrun", "resume", task_id, "-q"]
    others = [
        subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(OTHER_RESUMES)
    ]
    holder_named = f"pid {holder_pid} on host {socket.gethostname()}"
    for other in others:
        _out, err = other.communicate(timeout=60)
        assert other.returncode == 5, f"{where}: exit {other.returncode}: {err}"
        assert err.count("\n") == 1 and holder_named in err, f"{where}: {err}"
    listed = run_agentrun("ls", "--json", env={"AGENTRUN_HOME": str(home)})
    assert listed.returncode == 0, listed.stderr
    (row,) = [r for r in json.loads(listed.stdout) if r["task_id"] == task_id]
    assert row["status"] == "running" and row["claimed"] is True, f"{where}: {row}"
    assert row["run"]["pid"] == holder_pid, f"{where}: {row}"


@pytest.mark.slow
def test_a_stopped_holder_keeps_the_claim_and_finishes_after_sigcont(
    tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    agent = make_agent(
        tmp_path / "agent", gated_turns(STOP_ROUNDS), tools=("files", str(GATE_TOOLS))
    )
    home, gates = tmp_path / "home", tmp_path / "gates"
    gates.mkdir()
    env = {**os.environ, "AGENTRUN_HOME": str(home), "AGENTRUN_GATES": str(gates), **agent.env()}
    argv = [sys.executable, "-m", "agentrun", "start", "--agent", str(agent.spec), "--json", "go"]
    holder = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        read_events(holder, 100, until=lambda e: e["kind"] == "run_started")  # claimed now
        (task_id,) = task_ids(home)
        for number in range(STOP_ROUNDS):
            # Stop after 0-4 more events, or at a gate's intent: gate ``number`` is still
            # closed, so the holder cannot have finished; it is mid-run whatever the timing.
            more = rng.randint(0, 4)
            read_events(holder, more, until=is_gate_intent)
            where = f"round {number} (seed {seed}), stopped after {more} more events"
            os.kill(holder.pid, signal.SIGSTOP)
            _pid, status = os.waitpid(holder.pid, os.WUNTRACED)  # until it is really stopped
            assert os.WIFSTOPPED(status), where
            try:
                check_stopped_holder(home, task_id, holder.pid, where)
            finally:
                os.kill(holder.pid, signal.SIGCONT)
            (gates / f"g{number}").touch()
        _out, err = holder.communicate(timeout=60)
    finally:
        if holder.poll() is None:  # a failed round: never leave a stopped child behind
            os.kill(holder.pid, signal.SIGCONT)
            holder.kill()
            holder.wait()
    assert holder.returncode == 0, err
    store = LocalTaskStore(home)
    events = list(store.events(task_id))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [e.pid for e in events if isinstance(e, RunStarted)] == [holder.pid]
    assert store.load(task_id).state.status == "succeeded"
    assert sorted(e["key"] for e in ledger(agent)) == sorted(
        e.idempotency_key for e in events if isinstance(e, ToolIntended) and e.tool == "lookup"
    )  # each lookup ran once: no other process ran a step
    verified = run_agentrun("verify", task_id, "--json", env={"AGENTRUN_HOME": str(home)})
    assert verified.returncode == 0, verified.stdout
    (report,) = json.loads(verified.stdout)
    assert report["ok"] and report["problems"] == [] and report["torn_tail_bytes"] == 0
    print(f"T8 (iv): {STOP_ROUNDS} SIGSTOP rounds, {STOP_ROUNDS * OTHER_RESUMES} resumes refused")


def test_releasing_the_claim_keeps_the_lock_file(fast_home: Path) -> None:
    store = LocalTaskStore(fast_home)
    task_id = build_task(store, 3, task_id="t-lockfile").task_id
    lock = fast_home / "tasks" / task_id / "lock"
    inode = lock.stat().st_ino
    for _ in range(3):
        writer = store.open_writer(task_id)
        assert store.is_claimed(task_id)
        writer.close()
        assert lock.exists() and lock.stat().st_ino == inode
        assert not store.is_claimed(task_id)
    assert oct(lock.stat().st_mode & 0o777) == oct(0o600)


def test_a_second_writer_in_the_same_process_is_refused(fast_home: Path) -> None:
    store = LocalTaskStore(fast_home)
    task_id = build_task(store, 3, task_id="t-twice").task_id
    writer = store.open_writer(task_id)
    try:
        with pytest.raises(ClaimedError):
            store.open_writer(task_id)
    finally:
        writer.abandon()
    store.open_writer(task_id).abandon()


def test_filelock_is_within_the_pinned_range() -> None:
    major = int(filelock.__version__.split(".")[0])
    assert major == 4, f"filelock {filelock.__version__} is outside >=4,<5 (rule 20)"
