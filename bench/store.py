"""Store benchmark: append cost at fsync=always against raw write+fdatasync, and load time.

    python -m bench.store [--quick] [--dir DIR] [--profile]

1. Append: ``writer.append([event], sync=True)`` per event (about 400-byte events) against a raw
   loop of ``os.write`` + ``os.fdatasync`` of the *same frames*, in the same directory, in
   alternating repetitions; medians of µs/append, and the ratio (target ≤ 1.10). The store
   preallocates its segment with written zeros (rule 13), so its fdatasync has no file size and
   no extent to commit; a third loop does the same raw, ``os.pwrite`` into zeros written ahead
   the same way, to show the store's cost over its own I/O pattern too.
2. Load: ``store.load`` of tasks with 10^3, 10^4 and 10^5 events, with the newest snapshot 500
   events behind the end (the default cadence is one per 1000) and with no snapshot; plus a cold
   ``python -c`` process loading the largest task (target with snapshots: ≤ 50 ms, flat in N).
   ``--profile`` prints where the largest with-snapshot load spends its time (cProfile).

Prints markdown tables. Not a test: numbers depend on the disk (``--dir`` picks it; the default
is the system temp directory, which is where fsync costs what a user's disk costs).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agentrun.core.codec import encode_event
from agentrun.core.events import (
    Event,
    ModelResponded,
    RunStarted,
    TaskCreated,
    ToolCompleted,
    ToolIntended,
)
from agentrun.store.fileops import OsFileOps
from agentrun.store.framing import encode_record
from agentrun.store.local import LocalTaskStore
from agentrun.store.log_writer import DEFAULT_SEGMENT_BYTES, preallocated_size
from bench.inspect import NoSyncOps

BASE = datetime(2026, 1, 1, tzinfo=UTC)
WORDS = ("alpha", "beta", "gamma", "delta", "segment", "record", "fsync", "tool", "model")
SNAPSHOT_LAG = 500


def _text(rng: random.Random, size: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(size // 6 + 1))[:size]


def make_event(seq: int, rng: random.Random) -> Event:
    """A realistic event of about 400 bytes encoded; kinds cycle as in a run."""
    ts = (BASE + timedelta(seconds=seq)).isoformat()
    call = f"call_{seq // 3:06d}"
    phase = seq % 3
    if phase == 0:
        return ModelResponded(
            seq=seq,
            ts=ts,
            message={
                "role": "assistant",
                "content": _text(rng, 180),
                "tool_calls": [
                    {"id": call, "name": "read_file", "arguments": {"path": f"src/m{seq}.py"}}
                ],
            },
            usage={"input_tokens": rng.randint(500, 4000), "output_tokens": rng.randint(5, 300)},
            model="bench-model",
            latency_s=round(rng.uniform(0.2, 4.0), 3),
            cost_usd=round(rng.uniform(0, 0.02), 6),
        )
    if phase == 1:
        return ToolIntended(
            seq=seq,
            ts=ts,
            call_id=f"call_{(seq - 1) // 3:06d}",
            tool="read_file",
            arguments={"path": f"src/m{seq - 1}.py", "limit": 200, "note": _text(rng, 150)},
            effect="read",
            idempotency_key=f"agentrun-bench-call_{(seq - 1) // 3:06d}-{seq}",
        )
    return ToolCompleted(
        seq=seq,
        ts=ts,
        call_id=f"call_{(seq - 2) // 3:06d}",
        output=_text(rng, 300),
        duration_s=round(rng.uniform(0.01, 2.0), 3),
    )


def created(task_id: str) -> TaskCreated:
    return TaskCreated(
        seq=1, ts=BASE.isoformat(), task_id=task_id, goal="benchmark", agent={"name": "bench"}
    )


def new_task(store: LocalTaskStore, task_id: str) -> None:
    store.create(created, now=BASE, task_id=task_id)
    writer = store.open_writer(task_id)
    writer.append(
        [RunStarted(seq=2, ts=BASE.isoformat(), pid=os.getpid(), host="b", version="b", attempt=1)],
        sync=True,
    )
    writer.close(snapshot=False)


# -- 1. append at fsync=always ----------------------------------------------------------------


def bench_store_appends(store: LocalTaskStore, task_id: str, events: list[Event]) -> list[float]:
    new_task(store, task_id)
    writer = store.open_writer(task_id)
    assert writer.next_seq == events[0].seq
    latencies = []
    try:
        for event in events:
            started = time.perf_counter_ns()
            writer.append([event], sync=True)
            latencies.append((time.perf_counter_ns() - started) / 1000)
    finally:
        writer.close(snapshot=False)
    return latencies


def bench_raw_appends(path: Path, frames: list[bytes]) -> list[float]:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    latencies = []
    try:
        for frame in frames:
            started = time.perf_counter_ns()
            if os.write(fd, frame) != len(frame):
                raise OSError("short write")
            os.fdatasync(fd)
            latencies.append((time.perf_counter_ns() - started) / 1000)
    finally:
        os.close(fd)
    return latencies


def bench_raw_preallocated_appends(path: Path, frames: list[bytes]) -> list[float]:
    """The store's I/O pattern, raw: pwrite at the end of zeros written ahead as the store does."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    latencies, end, size = [], 0, 0
    allocate = OsFileOps().allocate
    try:
        for frame in frames:
            started = time.perf_counter_ns()
            if end + len(frame) > size:
                new_size = preallocated_size(end, len(frame), DEFAULT_SEGMENT_BYTES)
                allocate(fd, size, new_size - size)
                size = new_size
            if os.pwrite(fd, frame, end) != len(frame):
                raise OSError("short write")
            end += len(frame)
            os.fdatasync(fd)
            latencies.append((time.perf_counter_ns() - started) / 1000)
    finally:
        os.close(fd)
    return latencies


def append_section(root: Path, n: int, reps: int) -> list[str]:
    rng = random.Random(1)
    events = [make_event(seq, rng) for seq in range(3, 3 + n)]
    frames = [encode_record(encode_event(e)) for e in events]
    size = statistics.mean(len(f) for f in frames)
    store = LocalTaskStore(root / "home")
    store_means, raw_means, store_all, raw_all = [], [], [], []
    pre_means, pre_all = [], []
    loops = ("store", "raw", "preallocated")
    for rep in range(reps):
        # Rotate which goes first so drift in the disk's speed hits all alike.
        for which in loops[rep % 3 :] + loops[: rep % 3]:
            if which == "store":
                lat = bench_store_appends(store, f"append-{rep}", events)
                store_means.append(statistics.mean(lat))
                store_all += lat
            elif which == "raw":
                lat = bench_raw_appends(root / f"raw-{rep}.seg", frames)
                raw_means.append(statistics.mean(lat))
                raw_all += lat
            else:
                lat = bench_raw_preallocated_appends(root / f"pre-{rep}.seg", frames)
                pre_means.append(statistics.mean(lat))
                pre_all += lat
    s, r = statistics.median(store_means), statistics.median(raw_means)
    p = statistics.median(pre_means)
    inter = interleaved_appends(root, events, frames)
    hot_store, hot_raw = hot_appends(root, events, frames)
    return [
        f"### Append at fsync=always ({n} events × {reps} repetitions, "
        f"{size:.0f} bytes per framed event, dir {root})",
        "",
        "| loop | µs/append (median of reps) | p50 µs | p99 µs | appends/s |",
        "|---|---:|---:|---:|---:|",
        f"| store `append([e], sync=True)` | {s:.1f} | {_pct(store_all, 50):.1f} | "
        f"{_pct(store_all, 99):.1f} | {1e6 / s:,.0f} |",
        f"| raw `os.write` + `os.fdatasync` | {r:.1f} | {_pct(raw_all, 50):.1f} | "
        f"{_pct(raw_all, 99):.1f} | {1e6 / r:,.0f} |",
        f"| raw `os.pwrite` into preallocated space + `os.fdatasync` | {p:.1f} | "
        f"{_pct(pre_all, 50):.1f} | {_pct(pre_all, 99):.1f} | {1e6 / p:,.0f} |",
        "",
        f"Ratio store/raw: **{s / r:.3f}** (target ≤ 1.10); store overhead {s - r:.1f} µs/append.",
        f"Against the same I/O pattern raw (preallocated): {s / p:.3f}, {s - p:.1f} µs/append.",
        "",
        f"Interleaved (one store append, one raw append, alternating; medians): store "
        f"{inter.store:.1f} µs, raw {inter.raw:.1f} µs, ratio **{inter.store / inter.raw:.3f}**.",
        "",
        "Where the store's extra time goes (medians, µs/append):",
        "",
        "| | store | raw |",
        "|---|---:|---:|",
        f"| inside fdatasync (interleaved run) | {inter.store_sync:.1f} | {inter.raw_sync:.1f} |",
        f"| outside it: encode, fence, write (interleaved run) | {inter.store_rest:.1f} | "
        f"{inter.raw_rest:.1f} |",
        f"| the same with fsync patched out (hot caches; snapshots and fold amortized) | "
        f"{hot_store:.1f} | {hot_raw:.1f} |",
        "",
        "The code outside fdatasync runs 2-3× slower right after a sleep in fdatasync than in a "
        "hot loop (caches and branch predictors cold); `bench.fsync_gap` shows what CPU work "
        "between syncs does to the sync itself.",
        "",
    ]


@dataclass(frozen=True)
class Interleaved:
    """Medians (µs) of one interleaved run: whole appends, and their fdatasync part."""

    store: float
    raw: float
    store_sync: float
    raw_sync: float
    store_rest: float
    raw_rest: float


class TimedOps(OsFileOps):
    """``OsFileOps`` that records how long each fdatasync takes."""

    def __init__(self) -> None:
        self.sync_us: list[float] = []

    def fdatasync(self, fd: int) -> None:
        started = time.perf_counter_ns()
        super().fdatasync(fd)
        self.sync_us.append((time.perf_counter_ns() - started) / 1000)


def interleaved_appends(root: Path, events: list[Event], frames: list[bytes]) -> Interleaved:
    """One store append, one raw append, alternating one by one in one loop.

    The disk's speed drifts over seconds (see docs/performance.md); alternating every append
    gives both loops the same disk.
    """
    ops = TimedOps()
    store = LocalTaskStore(root / "home-interleaved", ops=ops)
    new_task(store, "append-interleaved")
    writer = store.open_writer("append-interleaved")
    ops.sync_us.clear()
    fd = os.open(root / "raw-interleaved.seg", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    ours, raw, raw_sync = [], [], []
    try:
        for event, frame in zip(events, frames, strict=True):
            started = time.perf_counter_ns()
            writer.append([event], sync=True)
            ours.append((time.perf_counter_ns() - started) / 1000)
            started = time.perf_counter_ns()
            if os.write(fd, frame) != len(frame):
                raise OSError("short write")
            written = time.perf_counter_ns()
            os.fdatasync(fd)
            done = time.perf_counter_ns()
            raw.append((done - started) / 1000)
            raw_sync.append((done - written) / 1000)
    finally:
        os.close(fd)
        writer.close(snapshot=False)
    store_sync = ops.sync_us[: len(ours)]
    return Interleaved(
        store=statistics.median(ours),
        raw=statistics.median(raw),
        store_sync=statistics.median(store_sync),
        raw_sync=statistics.median(raw_sync),
        store_rest=statistics.median(a - b for a, b in zip(ours, store_sync, strict=True)),
        raw_rest=statistics.median(a - b for a, b in zip(raw, raw_sync, strict=True)),
    )


def hot_appends(root: Path, events: list[Event], frames: list[bytes]) -> tuple[float, float]:
    """µs per store append and per raw write with every fsync a no-op: the CPU cost, hot."""
    store = LocalTaskStore(root / "home-hot", ops=NoSyncOps())
    new_task(store, "append-hot")
    writer = store.open_writer("append-hot")
    try:
        started = time.perf_counter_ns()
        for event in events:
            writer.append([event], sync=True)
        # The fold the appends deferred, as the next reader of the state triggers it.
        assert writer.state.last_seq == events[-1].seq
        ours = (time.perf_counter_ns() - started) / 1000 / len(events)
    finally:
        writer.close(snapshot=False)
    fd = os.open(root / "raw-hot.seg", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        started = time.perf_counter_ns()
        for frame in frames:
            os.write(fd, frame)
        raw = (time.perf_counter_ns() - started) / 1000 / len(frames)
    finally:
        os.close(fd)
    return ours, raw


def _pct(values: list[float], pct: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, len(ordered) * pct // 100)]


# -- 2. load time -----------------------------------------------------------------------------


def build_large(store: LocalTaskStore, task_id: str, n: int) -> None:
    """``n`` events, written in synced batches, with one snapshot ``SNAPSHOT_LAG`` from the end."""
    new_task(store, task_id)
    rng = random.Random(n)
    writer = store.open_writer(task_id)
    try:
        seq = writer.next_seq
        snap_at = max(seq, n - SNAPSHOT_LAG)
        while seq <= n:
            stop = snap_at if seq <= snap_at else n
            batch = [make_event(s, rng) for s in range(seq, min(stop, seq + 999) + 1)]
            writer.append(batch, sync=True)
            seq = batch[-1].seq + 1
            if batch[-1].seq == snap_at:
                writer.snapshot()
    finally:
        writer.close(snapshot=False)


def time_load(store: LocalTaskStore, task_id: str, reps: int) -> tuple[float, int | None]:
    times, snap = [], None
    for _ in range(reps):
        started = time.perf_counter()
        loaded = store.load(task_id)
        times.append(time.perf_counter() - started)
        snap = loaded.snapshot_seq
    return statistics.median(times) * 1000, snap


def cold_load(home: Path, task_id: str) -> tuple[float, float]:
    """(ms for a fresh interpreter to import and load, ms of the load alone) in a subprocess."""
    code = (
        "import time; t0 = time.perf_counter()\n"
        "from pathlib import Path\n"
        "from agentrun.store.local import LocalTaskStore\n"
        f"store = LocalTaskStore(Path({str(home)!r}))\n"
        "t1 = time.perf_counter()\n"
        f"state = store.load({task_id!r}).state\n"
        "t2 = time.perf_counter()\n"
        "print((t2 - t0) * 1000, (t2 - t1) * 1000)\n"
    )
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    wall = (time.perf_counter() - started) * 1000
    _total, load_ms = (float(x) for x in out.stdout.split())
    return wall, load_ms


def load_section(root: Path, sizes: list[int], profile: bool) -> list[str]:
    store = LocalTaskStore(root / "home", snapshot_every=10**9)
    lines = [
        f"### Load time (`store.load`, median of 3; newest snapshot {SNAPSHOT_LAG} events back)",
        "",
        "| events | log MB | snapshot KB | with snapshot ms | without snapshot ms | build s |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    cold: list[str] = []
    for n in sizes:
        task_id = f"load-{n}"
        started = time.perf_counter()
        build_large(store, task_id, n)
        build_s = time.perf_counter() - started
        task_dir = Path(store.task_dir(task_id))
        log_mb = sum(p.stat().st_size for p in (task_dir / "log").iterdir()) / 1e6
        snaps = list((task_dir / "snapshots").glob("*.snap"))
        snap_kb = sum(p.stat().st_size for p in snaps) / 1e3
        with_ms, snap_seq = time_load(store, task_id, 3)
        assert snap_seq is not None, "the snapshot was not used"
        if n == sizes[-1]:
            cold_with = cold_load(root / "home", task_id)
            if profile:
                lines_profile = profile_load(store, task_id)
        aside = task_dir / "snapshots-aside"
        shutil.move(task_dir / "snapshots", aside)
        (task_dir / "snapshots").mkdir(mode=0o700)
        without_ms, none_seq = time_load(store, task_id, 3)
        assert none_seq is None
        if n == sizes[-1]:
            cold_without = cold_load(root / "home", task_id)
        shutil.rmtree(task_dir / "snapshots")
        shutil.move(aside, task_dir / "snapshots")
        lines.append(
            f"| {n:,} | {log_mb:.1f} | {snap_kb:,.0f} | {with_ms:.1f} | {without_ms:.1f} | "
            f"{build_s:.1f} |"
        )
    n = sizes[-1]
    cold = [
        "",
        f"Cold process (`python -c`, fresh interpreter, warm page cache), {n:,} events:",
        "",
        "| | wall ms (start → exit) | load ms inside |",
        "|---|---:|---:|",
        f"| with snapshot | {cold_with[0]:.0f} | {cold_with[1]:.1f} |",
        f"| without snapshot | {cold_without[0]:.0f} | {cold_without[1]:.1f} |",
        "",
        "Target: with snapshots ≤ 50 ms and flat in N.",
        "",
    ]
    if profile:
        cold += lines_profile
    return lines + cold


def profile_load(store: LocalTaskStore, task_id: str) -> list[str]:
    profiler = cProfile.Profile()
    profiler.enable()
    store.load(task_id)
    profiler.disable()
    buffer = io.StringIO()
    pstats.Stats(profiler, stream=buffer).sort_stats("cumulative").print_stats(18)
    return ["#### cProfile of the largest with-snapshot load", "", "```", buffer.getvalue(), "```"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.store", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller N (a smoke run)")
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: temp)")
    parser.add_argument("--profile", action="store_true", help="cProfile the largest load")
    args = parser.parse_args(argv)
    n_append, reps = (500, 4) if args.quick else (2000, 6)
    sizes = [1000, 10_000] if args.quick else [1000, 10_000, 100_000]
    root = Path(tempfile.mkdtemp(prefix="agentrun-bench-", dir=args.dir))
    started = time.perf_counter()
    try:
        out = [f"## agentrun store benchmark ({'quick' if args.quick else 'full'})", ""]
        out += append_section(root, n_append, reps)
        out += load_section(root, sizes, args.profile)
        out.append(f"Total benchmark time: {time.perf_counter() - started:.0f} s")
        print("\n".join(out))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
