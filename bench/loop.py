"""Per-step overhead of the agent loop against the raw durability floor, in one run.

``python -m bench.loop`` runs a scripted agent (instant model, instant custom tool) for N steps
(a step = one model turn with one tool call) and, right after each agentrun run, a *floor*: a
raw ``O_APPEND`` file in the same directory receiving exactly as many ``os.write`` calls and
``os.fdatasync`` calls, and as many bytes, as agentrun's log received. The ratio
agentrun µs/step ÷ floor µs/step is what the loop costs on top of the disk.

Workloads: tool ``effect="read"`` and ``effect="side_effect"``, each with ``fsync = "always"``
(the default), ``fsync = "batch"`` and with fsync disabled (``OsFileOps.fdatasync``, ``.fsync``,
``.fsync_dir`` and ``.start_fdatasync`` patched to no-ops in this process only: pure CPU
overhead). Rounds alternate
agentrun and floor; medians are reported. ``--quick`` is a smoke run (200 steps, 1 round).

This is a benchmark, not a test: nothing fails on a slow machine; the table says what it saw.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import hashlib
import json
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentrun import __version__
from agentrun.core.events import Event, ModelResponded
from agentrun.runtime.reporter import SilentReporter
from agentrun.runtime.runner import Runner
from agentrun.runtime.spec import SpecOverrides, load_spec
from agentrun.runtime.tasks import create_task
from agentrun.store.fileops import FILE_MODE, OsFileOps, PendingSync, SyncedNow
from agentrun.store.local import LocalTaskStore
from bench.fsync_gap import gap_lines

TARGET_RATIO = 1.3
TARGET_FSYNCS = {"read": 1, "side_effect": 2}
CONTENT_BYTES = 300
OUTPUT_BYTES = 1024
# Reported by the scripted model instead of its own estimate (which re-measures the whole
# conversation every turn); a real provider reports usage, so the loop gets it for free too.
USAGE = {"input_tokens": 1000, "output_tokens": 80}

TOOLS_SOURCE = '''"""Instant benchmark tools: about 1 KB of output, no I/O."""

from agentrun import tool

_FILLER = "abcdefghijklmnopqrstuvwxyz0123456789" * 40


def _output(n: int) -> str:
    head = f"result of step {{n:06d}}: "
    return head + _FILLER[: {size} - len(head)]


@tool(effect="read")
def fetch(n: int) -> str:
    """Read something.

    Args:
        n: The step number.
    """
    return _output(n)


@tool(effect="side_effect")
def send(n: int) -> str:
    """Do something to the world.

    Args:
        n: The step number.
    """
    return _output(n)
'''

TOOL_FOR = {"read": "fetch", "side_effect": "send"}


# -- instrumentation ---------------------------------------------------------------------------


class CountingOps(OsFileOps):
    """``OsFileOps`` that counts log writes, log bytes and every fsync-like call.

    It calls the ``OsFileOps`` methods looked up at call time, so the no-fsync patch applies.
    """

    def __init__(self) -> None:
        self._log_fds: set[int] = set()
        self.reset()

    def reset(self) -> None:
        self.log_writes = 0
        self.log_bytes = 0
        self.all_syncs = 0
        self.sync_seconds = 0.0
        self.log_sync_seconds = 0.0  # of which the log's own fdatasyncs

    def open(self, path: str, flags: int, mode: int = FILE_MODE) -> int:
        fd = super().open(path, flags, mode)
        if flags & os.O_RDWR and os.path.basename(os.path.dirname(path)) == "log":
            self._log_fds.add(fd)  # the log writer's descriptor (``WRITER_FLAGS``)
        return fd

    def close(self, fd: int) -> None:
        self._log_fds.discard(fd)
        super().close(fd)

    def pwrite(self, fd: int, data: bytes, offset: int) -> int:
        if fd in self._log_fds:
            self.log_writes += 1
            self.log_bytes += len(data)
        return super().pwrite(fd, data, offset)

    def fdatasync(self, fd: int) -> None:
        started = time.perf_counter()
        super().fdatasync(fd)
        if fd in self._log_fds:
            self.log_sync_seconds += time.perf_counter() - started
        self._synced(started)

    def start_fdatasync(self, fd: int) -> PendingSync:
        started = time.perf_counter()
        pending = super().start_fdatasync(fd)
        if isinstance(pending, SyncedNow):
            return pending  # made in place through ``fdatasync``, counted there
        self.all_syncs += 1
        return _TimedSync(self, pending, fd in self._log_fds, time.perf_counter() - started)

    def fsync(self, fd: int) -> None:
        started = time.perf_counter()
        super().fsync(fd)
        self._synced(started)

    def fsync_dir(self, path: str) -> None:
        started = time.perf_counter()
        super().fsync_dir(path)
        self._synced(started)

    def _synced(self, started: float) -> None:
        self.all_syncs += 1
        self.sync_seconds += time.perf_counter() - started


class _TimedSync:
    """A background sync whose blocking time (starting it, waiting for it) ``CountingOps`` adds
    to its sync clocks: the part of the flush the loop did not overlap with its own work."""

    def __init__(
        self, ops: CountingOps, pending: PendingSync, is_log: bool, seconds: float
    ) -> None:
        self._ops, self._pending, self._is_log, self._seconds = ops, pending, is_log, seconds

    def wait(self) -> None:
        started = time.perf_counter()
        try:
            self._pending.wait()
        finally:
            blocked = self._seconds + time.perf_counter() - started
            self._seconds = 0.0
            self._ops.sync_seconds += blocked
            if self._is_log:
                self._ops.log_sync_seconds += blocked


@contextlib.contextmanager
def fsync_disabled(disabled: bool) -> Iterator[None]:
    """Make ``OsFileOps`` fdatasync/fsync/fsync_dir no-ops (this process only) while inside."""
    if not disabled:
        yield
        return
    names = ("fdatasync", "fsync", "fsync_dir")
    saved = {name: OsFileOps.__dict__[name] for name in (*names, "start_fdatasync")}

    def nothing(self: OsFileOps, target: Any) -> None:
        return None

    def start_nothing(self: OsFileOps, fd: int) -> PendingSync:
        return SyncedNow(lambda _fd: None, fd)

    try:
        for name in names:
            setattr(OsFileOps, name, nothing)
        OsFileOps.start_fdatasync = start_nothing  # type: ignore[method-assign]
        yield
    finally:
        for name, fn in saved.items():
            setattr(OsFileOps, name, fn)


class GcClock:
    """Wall time spent in the cyclic garbage collector while installed (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started

    def __enter__(self) -> GcClock:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


class TurnClock(SilentReporter):
    """A silent reporter that notes when each model turn was appended (per-step growth)."""

    def __init__(self) -> None:
        self.turns: list[float] = []

    def event(self, event: Event) -> None:
        if isinstance(event, ModelResponded):
            self.turns.append(time.perf_counter())


# -- workloads ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    effect: str  # "read" or "side_effect"
    mode: str  # "always", "batch" or "off" (fsync patched out)

    @property
    def label(self) -> str:
        return f"{self.effect}/{self.mode}"

    @property
    def spec_fsync(self) -> str:
        return "batch" if self.mode == "batch" else "always"


WORKLOADS = [Workload(effect, mode) for mode in ("always", "batch", "off") for effect in TOOL_FOR]


@dataclass
class Sample:
    seconds: float
    cpu_seconds: float  # process time: what the loop costs even on a busy machine
    gc_seconds: float  # of which in the cyclic garbage collector
    steps: int
    first_us: float  # µs/step over the first 10 % of the steps
    last_us: float  # µs/step over the last 10 % of the steps
    log_fsyncs: int  # writer.fsync_count
    all_syncs: int  # every fdatasync/fsync/fsync_dir call during the run (snapshots, summary)
    log_writes: int
    log_bytes: int
    sync_seconds: float  # wall time inside those fsync-like calls
    log_sync_seconds: float  # of which inside the log's fdatasyncs


@dataclass
class FloorSample:
    seconds: float
    sync_seconds: float  # wall time inside os.fdatasync


@dataclass
class Result:
    workload: Workload
    agentrun: list[Sample] = field(default_factory=list)
    floor: list[FloorSample] = field(default_factory=list)


def script_turns(steps: int, tool_name: str) -> list[dict[str, Any]]:
    """``steps`` turns of ~300 bytes of distinct content and one call, then a final answer."""
    turns = []
    for i in range(steps):
        digest = hashlib.sha256(f"turn {i}".encode()).hexdigest()
        content = (f"Step {i}: thinking about {digest} " + digest * 5)[:CONTENT_BYTES]
        call = {"name": tool_name, "arguments": {"n": i}}
        turns.append({"content": content, "tool_calls": [call], "usage": USAGE})
    turns.append({"content": "done", "usage": USAGE})
    return turns


def write_agent(root: Path, workload: Workload, steps: int) -> Path:
    """The agent directory of a workload: tools file, script, spec; returns the spec path."""
    agent = root / f"agent-{workload.effect}-{workload.mode}"
    (agent / "workspace").mkdir(parents=True)
    (agent / "bench_tools.py").write_text(TOOLS_SOURCE.format(size=OUTPUT_BYTES))
    turns = script_turns(steps, TOOL_FOR[workload.effect])
    (agent / "script.json").write_text(json.dumps({"turns": turns}))
    (agent / "agent.toml").write_text(
        'name = "bench"\nmodel = "scripted:script.json"\ntools = ["./bench_tools.py"]\n'
        f'workspace = "workspace"\nfsync = "{workload.spec_fsync}"\n'
    )
    return agent / "agent.toml"


class Bench:
    def __init__(self, root: Path, steps: int) -> None:
        self.root, self.steps = root, steps
        self.ops = CountingOps()
        self.store = LocalTaskStore(root / "home", ops=self.ops)
        self.specs = {w: write_agent(root, w, steps) for w in WORKLOADS}
        self.floor_dir = root / "floor"
        self.floor_dir.mkdir()
        self._floors = 0

    def new_task(self, workload: Workload) -> str:
        path = self.specs[workload]
        spec = load_spec(path, SpecOverrides(), cwd=path.parent)
        return create_task(self.store, spec, "benchmark the agent loop")

    def run_agentrun(self, workload: Workload, profiler: cProfile.Profile | None = None) -> Sample:
        task_id = self.new_task(workload)  # not timed: creation has its own fsyncs
        with fsync_disabled(workload.mode == "off"):
            self.ops.reset()
            clock = TurnClock()
            runner = Runner(self.store, task_id, clock)
            if profiler is not None:
                profiler.enable()
            with GcClock() as gc_clock:
                cpu_started = time.process_time()
                started = time.perf_counter()
                result = runner.run()
                elapsed = time.perf_counter() - started
                cpu = time.process_time() - cpu_started
            if profiler is not None:
                profiler.disable()
        state = runner.writer.state
        if result.status != "succeeded" or state.steps != self.steps + 1:
            raise SystemExit(f"{workload.label}: run ended {result.status} at {state.steps}")
        shutil.rmtree(self.store.task_dir(task_id))  # keep the directory small between runs
        turns, tenth = clock.turns, max(1, self.steps // 10)
        return Sample(
            seconds=elapsed,
            cpu_seconds=cpu,
            gc_seconds=gc_clock.seconds,
            steps=self.steps,
            first_us=(turns[tenth] - turns[0]) / tenth * 1e6,
            last_us=(turns[-1] - turns[-1 - tenth]) / tenth * 1e6,
            log_fsyncs=runner.writer.fsync_count,
            all_syncs=self.ops.all_syncs,
            log_writes=self.ops.log_writes,
            log_bytes=self.ops.log_bytes,
            sync_seconds=self.ops.sync_seconds,
            log_sync_seconds=self.ops.log_sync_seconds,
        )

    def run_floor(self, writes: int, syncs: int, total_bytes: int) -> FloorSample:
        """The floor of one agentrun run, in this benchmark's directory (``floor_run``)."""
        self._floors += 1
        return floor_run(self.floor_dir / f"floor-{self._floors}.log", writes, syncs, total_bytes)


def floor_run(path: Path, writes: int, syncs: int, total_bytes: int) -> FloorSample:
    """``writes`` os.write calls (``total_bytes`` in all) and ``syncs`` fdatasyncs to ``path``."""
    base, extra = divmod(total_bytes, writes)
    small, big = b"x" * base, b"x" * (base + 1)
    chunks = [big if i < extra else small for i in range(writes)]
    # Spread the syncs evenly: write i is followed by one iff the running quota grows.
    plan = [(i + 1) * syncs // writes > i * syncs // writes for i in range(writes)]
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
    fd = os.open(path, flags, 0o600)
    in_sync = 0.0
    try:
        write, fdatasync, clock = os.write, os.fdatasync, time.perf_counter
        started = clock()
        for chunk, sync in zip(chunks, plan, strict=True):
            write(fd, chunk)
            if sync:
                before = clock()
                fdatasync(fd)
                in_sync += clock() - before
        elapsed = clock() - started
    finally:
        os.close(fd)
    os.unlink(path)
    return FloorSample(elapsed, in_sync)


def run_rounds(bench: Bench, rounds: int, deadline: float) -> list[Result]:
    """For each round and workload: agentrun, then the floor mirroring that very run.

    A round is started only if the slowest round so far would still end before ``deadline``
    (``time.perf_counter()``), so a very busy machine gets fewer rounds, not a late result.
    """
    results = {w: Result(w) for w in WORKLOADS}
    slowest = 0.0
    for _round in range(rounds):
        if slowest and time.perf_counter() + slowest > deadline:
            break
        started = time.perf_counter()
        for workload in WORKLOADS:
            sample = bench.run_agentrun(workload)
            syncs = 0 if workload.mode == "off" else sample.log_fsyncs
            floor = bench.run_floor(sample.log_writes, syncs, sample.log_bytes)
            results[workload].agentrun.append(sample)
            results[workload].floor.append(floor)
        slowest = max(slowest, time.perf_counter() - started)
    return list(results.values())


# -- reporting ---------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def mount_of(path: Path) -> str:
    """``device on mountpoint type fstype (options)`` of the mount holding ``path``."""
    target = os.path.realpath(path)
    best: list[str] = []
    try:
        lines = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return "unknown (no /proc/mounts)"
    for line in lines:
        parts = line.split()
        if len(parts) < 4:
            continue
        point = parts[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and (not best or len(point) >= len(best[1])):
            best = parts
    if not best:
        return "unknown"
    return f"{best[2]} ({best[0]} on {best[1]}, {best[3]})"


def us_per_step(seconds: float, steps: int) -> float:
    return seconds / steps * 1e6


def median_us(values: Iterator[float] | list[float], steps: int) -> float:
    return statistics.median(us_per_step(v, steps) for v in values)


def table(results: list[Result], steps: int) -> list[str]:
    lines = [
        "| workload (tool effect / fsync) | agentrun µs/step | floor µs/step | ratio "
        "| agentrun − floor µs/step | in fsync µs/step: agentrun (log) / floor "
        "| agentrun CPU µs/step | of which GC | first 10 % µs/step "
        "| last 10 % µs/step | log fsyncs/step | all fsyncs/step | log writes/step "
        "| log bytes/step | target met |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for r in results:
        agent_us = median_us([s.seconds for s in r.agentrun], steps)
        floor_us = median_us([f.seconds for f in r.floor], steps)
        agent_sync_us = median_us([s.sync_seconds for s in r.agentrun], steps)
        log_sync_us = median_us([s.log_sync_seconds for s in r.agentrun], steps)
        floor_sync_us = median_us([f.sync_seconds for f in r.floor], steps)
        cpu_us = median_us([s.cpu_seconds for s in r.agentrun], steps)
        gc_us = median_us([s.gc_seconds for s in r.agentrun], steps)
        first_us = statistics.median(s.first_us for s in r.agentrun)
        last_us = statistics.median(s.last_us for s in r.agentrun)
        last = r.agentrun[-1]
        fsyncs = last.log_fsyncs / steps
        ratio = f"{agent_us / floor_us:.2f}×"
        off = r.workload.mode == "off"
        noop = " (no-ops)" if off else ""
        if r.workload.mode == "always":
            wanted = TARGET_FSYNCS[r.workload.effect]
            ok = agent_us / floor_us <= TARGET_RATIO and round(fsyncs) == wanted
            met = f"{'yes' if ok else 'no'} (≤ {TARGET_RATIO}×, {wanted} fsync/step)"
        else:
            met = "n/a"
        lines.append(
            f"| {r.workload.effect} / {'off (patched)' if off else r.workload.mode} "
            f"| {agent_us:,.0f} | {floor_us:,.0f}{' (writes only)' if off else ''} "
            f"| {'— (CPU only)' if off else ratio} | {agent_us - floor_us:,.0f} "
            f"| {agent_sync_us:,.0f} ({log_sync_us:,.0f}) / {floor_sync_us:,.0f} "
            f"| {cpu_us:,.0f} | {gc_us:,.0f} | {first_us:,.0f} | {last_us:,.0f} "
            f"| {fsyncs:.3f}{noop} | {last.all_syncs / steps:.3f}{noop} "
            f"| {last.log_writes / steps:.3f} | {last.log_bytes / steps:,.0f} | {met} |"
        )
    return lines


NOTES = """\
Columns: µs/step = wall time of `Runner.run()` ÷ steps (median of the rounds; the final answer
turn, run_started, the closing snapshot and summary are included). floor = a raw O_APPEND file in
the same directory doing as many `os.write` calls (same total bytes) and `os.fdatasync` calls as
the agentrun run just before it (for "off" only the writes). CPU = process time of the run (all
its threads: the C library's thread that runs a background sync, and the loop polling for its
end). GC = wall time inside the cyclic garbage collector (`gc.callbacks`). in fsync = wall time
inside the fsync-like calls (agentrun: all of them, snapshots included, and in brackets the log's
fdatasyncs alone; of a sync run in the background while a read tool runs, only the time spent
starting it and waiting for it; floor: its fdatasyncs).
first/last 10 % = wall µs/step over the first and the last tenth of the turns: a growing value
means the per-step cost grows with the conversation. log fsyncs = `writer.fsync_count`; all
fsyncs adds the snapshot, summary and directory fsyncs (every `OsFileOps` fsync-like call).
Log bytes/step counts the frames the run appended (header and `task_created` excluded)."""


def describe(root: Path, args: argparse.Namespace, command: str) -> list[str]:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    return [
        "| | |",
        "|---|---|",
        f"| command | `{command}` |",
        f"| CPU | {cpu_model()} |",
        f"| cores | {os.cpu_count()} online, {affinity} usable by this process |",
        f"| OS | {platform.system()} {platform.release()} |",
        f"| Python | {platform.python_implementation()} {platform.python_version()} |",
        f"| agentrun | {__version__} ({git_revision()}) |",
        f"| directory | {root} |",
        f"| file system | {mount_of(root)} |",
        f"| steps per run | {args.steps} (+1 final answer turn, timed with them) |",
        f"| rounds | {args.done_rounds} of {args.rounds} asked (agentrun, floor, agentrun, floor, "
        "…; medians) |",
        f"| load average (1/5/15 min) | {args.load_before} before, {load_average()} after |",
        f"| I/O pressure (PSI some avg10/avg60) | {args.io_before} before, {io_pressure()} after |",
    ]


def io_pressure() -> str:
    """``avg10/avg60`` of /proc/pressure/io "some": % of time a task waited on I/O."""
    try:
        some = Path("/proc/pressure/io").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return "unknown"
    values = dict(part.split("=", 1) for part in some[1:] if "=" in part)
    return f"{values.get('avg10', '?')}% / {values.get('avg60', '?')}%"


def git_revision() -> str:
    """The checkout's commit, with ``+ uncommitted changes`` if the working tree differs."""
    repo = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "git revision unknown"
    if not head:
        return "not a git checkout"
    return f"git {head}{' + uncommitted changes' if dirty else ''}"


def load_average() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def short_name(key: tuple[str, int, str]) -> str:
    filename, line, name = key
    if filename == "~":
        return name  # a builtin
    parts = Path(filename).parts
    for anchor in ("agentrun", "site-packages", "lib"):
        if anchor in parts:
            index = len(parts) - 1 - parts[::-1].index(anchor)
            filename = "/".join(parts[index + (anchor != "agentrun") :])
            break
    else:
        filename = Path(filename).name
    return f"{filename}:{line}({name})"


def profile_table(stats: pstats.Stats, sort: int, steps: int, limit: int = 15) -> list[str]:
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    rows = sorted(raw.items(), key=lambda item: item[1][sort], reverse=True)[:limit]
    lines = [
        "| function | calls | calls/step | tottime s | cumtime s | cum µs/step |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for key, (_cc, nc, tt, ct, _callers) in rows:
        name = short_name(key).replace("|", "\\|")
        lines.append(
            f"| `{name}` | {nc:,} | {nc / steps:,.1f} | {tt:.3f} | {ct:.3f} "
            f"| {ct / steps * 1e6:,.0f} |"
        )
    return lines


def profile(root: Path, steps: int, effect: str) -> list[str]:
    bench = Bench(root / f"profile-{steps}", steps)
    profiler = cProfile.Profile()
    sample = bench.run_agentrun(Workload(effect, "off"), profiler)
    stats = pstats.Stats(profiler)
    return [
        f"### cProfile: {effect} steps, fsync off, {steps} steps "
        f"({us_per_step(sample.seconds, steps):,.0f} µs/step under the profiler)",
        "",
        "Top 15 by cumulative time:",
        "",
        *profile_table(stats, 3, steps),
        "",
        "Top 15 by total (own) time:",
        "",
        *profile_table(stats, 2, steps),
        "",
    ]


def main(argv: list[str] | None = None) -> int:
    print("\n".join(report(argv)))
    return 0


def report(argv: list[str] | None = None, *, command: str | None = None) -> list[str]:
    """Run the benchmark as ``python -m bench.loop ARGV`` would and return its markdown lines.

    The importable entry point (``python -m bench`` calls it); ``command`` overrides the
    reproduce command shown in the table.
    """
    parser = argparse.ArgumentParser(
        prog="python -m bench.loop", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="200 steps, 1 round (smoke run)")
    parser.add_argument("--steps", type=int, default=None, help="steps per run (default 1000)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3)")
    parser.add_argument(
        "--profile",
        choices=("auto", "always", "never"),
        default="auto",
        help="cProfile the no-fsync variant: auto = when a ratio exceeds the target",
    )
    parser.add_argument(
        "--profile-steps",
        type=int,
        default=None,
        help="steps of the profiled run (default: --steps); small values show the fixed part",
    )
    parser.add_argument(
        "--time-budget",
        type=float,
        default=None,
        help="seconds; skip later rounds that would not fit (default 160, --quick 25)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp directory")
    args = parser.parse_args(argv)
    args.steps = args.steps or (200 if args.quick else 1000)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.time_budget = args.time_budget or (25.0 if args.quick else 160.0)
    if command is None:
        given = argv if argv is not None else sys.argv[1:]
        command = " ".join(["python -m bench.loop", *given])

    args.load_before, args.io_before = load_average(), io_pressure()
    root = Path(tempfile.mkdtemp(prefix="agentrun-bench-loop-", dir=tempfile.gettempdir()))
    started = time.perf_counter()
    try:
        # Warm-up (imports, caches; not reported) on a short script of its own.
        Bench(root / "warm-up", 20).run_agentrun(Workload("read", "always"))
        bench = Bench(root, args.steps)
        profiling = args.profile != "never"
        # Leave room for the profiled run (about twice an unprofiled one) when it may happen.
        reserve = 0.1 * args.time_budget if profiling else 0.0
        results = run_rounds(bench, args.rounds, started + args.time_budget - reserve)
        args.done_rounds = len(results[0].agentrun)
        out = [
            f"## agentrun loop overhead vs raw durability floor ({args.steps} steps)",
            "",
            *describe(root, args, command),
            "",
            *table(results, args.steps),
            "",
            NOTES,
            "",
            # The floor syncs back to back; the loop computes between syncs (bench/fsync_gap.py).
            *gap_lines(root, syncs=300 if args.quick else 1000),
        ]
        worst = max(
            statistics.median(s.seconds for s in r.agentrun)
            / statistics.median(f.seconds for f in r.floor)
            for r in results
            if r.workload.mode == "always"
        )
        if args.profile == "always" or (args.profile == "auto" and worst > TARGET_RATIO):
            out += profile(root, args.profile_steps or args.steps, "read")
        elapsed = time.perf_counter() - started
        out.append(f"Total benchmark time: {elapsed:.1f} s.")
    finally:
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
