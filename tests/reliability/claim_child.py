"""A child process for the claim tests (T8): races for, or holds, a task's claim on command.

Run as ``python -m tests.reliability.claim_child MODE HOME TASK_ID [SYNC_DIR]``. It talks to the
parent on stdin/stdout, one line per message, so the parent never has to sleep and hope:

- ``race``: for each line ``round N`` on stdin, print ``ready N``, spin until the file
  ``SYNC_DIR/go-N`` exists (the barrier that releases all racers together), call ``open_writer``
  and print ``won N <ms>`` (after appending a durable ``run_started``) or ``lost N <ms>``. A
  winner keeps the claim until the line ``release N`` arrives, then prints ``released N``.
- ``hold``: take the claim, append a durable ``run_started``, print ``held <pid>``, then block
  reading stdin until killed.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from agentrun.core.errors import ClaimedError
from agentrun.core.events import RunStarted
from agentrun.store.local import LocalTaskStore, LocalTaskWriter


def claim_and_announce(store: LocalTaskStore, task_id: str) -> LocalTaskWriter:
    """Take the claim and record who holds it, as a run would (rule 21: pid and host)."""
    writer = store.open_writer(task_id)
    event = RunStarted(
        seq=writer.next_seq,
        ts=datetime.now(UTC).isoformat(),
        pid=os.getpid(),
        host=socket.gethostname(),
        version="test",
        attempt=writer.state.attempts + 1,
    )
    writer.append([event], sync=True)
    return writer


def race(store: LocalTaskStore, task_id: str, sync_dir: Path) -> None:
    for line in sys.stdin:
        command, number = line.split()
        if command != "round":
            continue
        print(f"ready {number}", flush=True)
        go = sync_dir / f"go-{number}"
        while not go.exists():
            time.sleep(0.0002)
        started = time.perf_counter()
        try:
            writer = claim_and_announce(store, task_id)
        except ClaimedError:
            print(f"lost {number} {(time.perf_counter() - started) * 1000:.1f}", flush=True)
            continue
        print(f"won {number} {(time.perf_counter() - started) * 1000:.1f}", flush=True)
        for release in sys.stdin:
            if release.split() == ["release", number]:
                break
        writer.close(snapshot=False)
        print(f"released {number}", flush=True)


def hold(store: LocalTaskStore, task_id: str) -> None:
    writer = claim_and_announce(store, task_id)
    print(f"held {os.getpid()}", flush=True)
    sys.stdin.read()  # until the parent kills us
    writer.abandon()  # not reached in the tests; keeps ``writer`` (and the claim) alive


def main() -> None:
    mode, home, task_id = sys.argv[1:4]
    store = LocalTaskStore(Path(home))
    if mode == "race":
        race(store, task_id, Path(sys.argv[4]))
    else:
        hold(store, task_id)


if __name__ == "__main__":
    main()
