"""Test helpers that build realistic task logs directly through ``LocalTaskStore``.

The runtime does not exist yet, so store tests write the events a run would write: a
``run_started``, then turns of ``model_responded`` (with a tool call), ``tool_intended`` and
``tool_completed``, with ISO-8601 UTC timestamps and seqs taken from ``writer.next_seq``.
Also: byte-level helpers (record boundaries, tree digests for INV-RO) and the F4 check that
``verify_task`` finds a log clean.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agentrun.core.events import (
    Event,
    ModelResponded,
    RunStarted,
    TaskCreated,
    ToolCompleted,
    ToolIntended,
)
from agentrun.store.framing import decode_header, scan_segment
from agentrun.store.local import LocalTaskStore
from agentrun.store.segments import list_segments
from agentrun.store.verify import VerifyReport, verify_task

BASE_TIME = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
SEED_ENV = "AGENTRUN_SEED"


def iso(seq: int) -> str:
    """The timestamp of event ``seq``: one second apart, ISO-8601 UTC."""
    return (BASE_TIME + timedelta(seconds=seq)).isoformat()


def make_created(task_id: str, goal: str = "summarise the quarterly report") -> TaskCreated:
    """The first event of a task as ``store.create`` wants it."""
    return TaskCreated(
        seq=1,
        ts=iso(1),
        task_id=task_id,
        goal=goal,
        agent={"name": "tester", "model": "scripted", "tools": ["read_file", "write_file"]},
        workspace="/tmp/workspace",
    )


def event_at(seq: int, rng: random.Random, output_size: int | None = None) -> Event:
    """A realistic event for position ``seq`` (3 kinds cycling; about 300-450 bytes encoded).

    ``output_size`` forces a ``tool_completed`` with an output of that many characters.
    """
    call_id = f"call_{seq // 3:05d}"
    if output_size is not None:
        return ToolCompleted(
            seq=seq,
            ts=iso(seq),
            call_id=call_id,
            output=_text(rng, output_size),
            duration_s=round(rng.uniform(0.01, 3.0), 3),
        )
    phase = seq % 3
    if phase == 0:
        return ModelResponded(
            seq=seq,
            ts=iso(seq),
            message={
                "role": "assistant",
                "content": _text(rng, rng.randint(60, 160)),
                "tool_calls": [
                    {
                        "id": call_id,
                        "name": "read_file",
                        "arguments": {"path": f"src/module_{seq}.py", "limit": 200},
                    }
                ],
            },
            usage={"input_tokens": rng.randint(500, 4000), "output_tokens": rng.randint(5, 300)},
            model="scripted-1",
            latency_s=round(rng.uniform(0.2, 4.0), 3),
            cost_usd=round(rng.uniform(0.0, 0.02), 6),
        )
    if phase == 1:
        return ToolIntended(
            seq=seq,
            ts=iso(seq),
            call_id=f"call_{(seq - 1) // 3:05d}",
            tool="read_file",
            arguments={"path": f"src/module_{seq - 1}.py", "limit": 200},
            effect="read",
            idempotency_key=f"agentrun-task-call_{(seq - 1) // 3:05d}-{seq}",
        )
    return ToolCompleted(
        seq=seq,
        ts=iso(seq),
        call_id=f"call_{(seq - 2) // 3:05d}",
        output=_text(rng, rng.randint(150, 300)),
        duration_s=round(rng.uniform(0.01, 3.0), 3),
        files=[{"path": f"src/module_{seq - 2}.py", "before": None, "after": "ab12cd34"}],
    )


def run_started(seq: int, attempt: int = 1, pid: int = 4242, host: str = "testhost") -> RunStarted:
    """The ``run_started`` a claim holder writes first."""
    return RunStarted(
        seq=seq, ts=iso(seq), pid=pid, host=host, version="0.1.0", attempt=attempt, recovery=[]
    )


def _text(rng: random.Random, size: int) -> str:
    words = ("alpha", "beta", "gamma", "delta", "log", "fsync", "segment", "record", "tool")
    parts: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(words)
        parts.append(word)
        length += len(word) + 1
    return " ".join(parts)[:size]


@dataclass(frozen=True)
class BuiltTask:
    """A task made by ``build_task``: where it is and what it holds."""

    store: LocalTaskStore
    task_id: str
    events: list[Event]

    @property
    def task_dir(self) -> Path:
        return Path(self.store.task_dir(self.task_id))

    @property
    def log_dir(self) -> Path:
        return self.task_dir / "log"

    def segments(self) -> list[Path]:
        return [Path(p) for _seq, p in list_segments(self.store.ops, str(self.log_dir))]


def build_task(
    store: LocalTaskStore,
    n_events: int,
    *,
    task_id: str = "t-build",
    seed: int = 0,
    big: dict[int, int] | None = None,
    snapshot: bool = False,
    batch: int = 1,
    snapshot_at: set[int] | None = None,
) -> BuiltTask:
    """Create a task and append events until it holds ``n_events`` records.

    ``big`` maps a seq to a ``tool_completed`` output size (e.g. ``{20: 5 * 1024}``).
    ``batch`` events go in one append (one write, one fsync). The writer closes without a
    snapshot unless ``snapshot``; ``snapshot_at`` takes snapshots right after those seqs.
    """
    rng = random.Random(seed)
    store.create(make_created, now=BASE_TIME, task_id=task_id)
    big = big or {}
    writer = store.open_writer(task_id)
    try:
        pending: list[Event] = []
        seq = writer.next_seq
        while seq <= n_events:
            event = run_started(seq) if seq == 2 else event_at(seq, rng, big.get(seq))
            pending.append(event)
            if len(pending) >= batch or seq == n_events or seq in (snapshot_at or ()):
                writer.append(pending, sync=True)
                pending = []
                if seq in (snapshot_at or ()):
                    writer.snapshot()
            seq += 1
    finally:
        writer.close(snapshot=snapshot)
    return BuiltTask(store, task_id, list(store.events(task_id)))


def record_bounds(segment: bytes) -> tuple[int, list[int]]:
    """``(header size, record start offsets + [end])`` of a well-formed segment's bytes."""
    header = decode_header(segment)
    assert header is not None
    scan = scan_segment(segment, header.size, header.first_seq, zero_tail_is_end=True)
    assert scan.bad is None, scan.bad
    return header.size, [r.offset for r in scan.records] + [scan.end]


def tree_digest(root: Path) -> dict[str, tuple[str, int, int]]:
    """``relative path -> (sha256 or 'dir', mtime_ns, mode)`` of everything under ``root``."""
    result: dict[str, tuple[str, int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            rel = str(path.relative_to(root))
            if path.is_dir():
                result[rel] = ("dir", st.st_mtime_ns, st.st_mode)
            else:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                result[rel] = (digest, st.st_mtime_ns, st.st_mode)
    return result


def content_digest(root: Path) -> dict[str, str]:
    """``relative path -> sha256`` of every file under ``root`` (names and bytes, no times)."""
    return {rel: digest for rel, (digest, _m, _mode) in tree_digest(root).items()}


def assert_verified_clean(store: LocalTaskStore, task_id: str) -> VerifyReport:
    """F4: ``verify`` finds no problem at all in the task (no corruption, no bad snapshot)."""
    report = verify_task(store.ops, store.task_dir(task_id), task_id)
    assert report.is_ok and not report.problems, report.problems
    return report


@contextmanager
def fast_dir() -> Iterator[Path]:
    """A scratch directory on tmpfs when there is one (fsync is cheap there), else in /tmp."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    path = Path(tempfile.mkdtemp(prefix="agentrun-test-", dir=base))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def seed_from_env(default: int) -> int:
    """The seed of a randomized test: ``$AGENTRUN_SEED`` if set, else ``default``; printed."""
    seed = int(os.environ.get(SEED_ENV, default))
    print(f"seed={seed} (rerun with {SEED_ENV}={seed})")
    return seed


def load_state_dict(store: LocalTaskStore, task_id: str) -> dict[str, Any]:
    """The loaded state of a task as a plain map."""
    return store.load(task_id).state.to_dict()
