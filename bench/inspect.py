"""Read commands at scale, in cold processes: `ls` over many tasks, `log --json` over long logs.

``python -m bench.inspect`` builds, in a scratch home (on tmpfs when there is one):

- 10,000 small finished tasks (task_created, run_started, three steps, task_finished; each with
  its summary, as a clean stop leaves it), then runs ``agentrun ls --json`` and ``agentrun ls``;
- tasks of 10^4, 5·10^4 and 10^5 events (turns of model_responded → tool_intended →
  tool_completed, about 300-450 bytes each), then runs ``agentrun log TASK --json``.

Each figure is the median over fresh ``python -m agentrun`` processes (start-up and imports
included, as a user sees it), each run under a small wrapper whose only child it is: wall time,
CPU time (user + system; it depends less on what else the machine runs) and peak RSS
(``RUSAGE_CHILDREN``). Output goes to /dev/null. Building is not timed and skips fsync (the bench
measures readers). ``--quick`` is a smoke run (1,000 tasks, logs of 10^3 to 10^4 events, one
round); ``--profile`` adds a cProfile of ``log --json`` in this process.

An installed agentrun starts from bytecode (pip compiles it at install). With
``PYTHONDONTWRITEBYTECODE`` set, as in some sandboxes and CI, every process would compile
agentrun's sources again (about a sixth of a read command's start-up), so the processes measured
here keep their bytecode under the scratch directory (``PYTHONPYCACHEPREFIX``) and each command
runs once unmeasured first; ``--compile-each-run`` measures the other way.

Targets: ``ls`` ≤ 0.5 s over 10,000 tasks; ``log --json`` ≥ 100,000 events/s; the RSS of
``log --json`` must not grow with the log (flat from 5·10^4 to 10^5 events: a segment's bytes
and a batch of its decoded records are the unit). ``ls --json`` over a home with no tasks shows
what a read command's start-up costs. This is a benchmark, not a test: nothing fails on a slow
machine; the table says what it saw, with the load average.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agentrun.core.events import (
    Event,
    ModelResponded,
    RunStarted,
    TaskCreated,
    TaskFinished,
    ToolCompleted,
    ToolIntended,
)
from agentrun.store.fileops import OsFileOps
from agentrun.store.local import LocalTaskStore

TARGET_LS_S = 0.5
TARGET_EVENTS_PER_S = 100_000
BASE = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
FILLER = "the quick brown fox jumps over the lazy dog; " * 8


class NoSyncOps(OsFileOps):
    """``OsFileOps`` without fsync: building the bench's tasks is not what it measures."""

    def fdatasync(self, fd: int) -> None:
        pass

    def fsync(self, fd: int) -> None:
        pass

    def fsync_dir(self, path: str) -> None:
        pass


# -- building ----------------------------------------------------------------------------------


def ts(i: int) -> str:
    return (BASE + timedelta(milliseconds=i)).isoformat()


def created(task_id: str, i: int) -> TaskCreated:
    return TaskCreated(
        seq=1,
        ts=ts(i),
        task_id=task_id,
        goal=f"bench task {i}: tidy the notes in folder {i % 97}",
        agent={"name": f"agent-{i % 5}", "model": "scripted:bench.json", "tools": ["files"]},
        workspace="/tmp/bench-workspace",
    )


def step_events(seq: int, step: int) -> list[Event]:
    """One step: a model turn asking for a read, its intent and its result (three events)."""
    call_id = f"call_{step}_0"
    arguments = {"path": f"notes/note-{step:06d}.md"}
    return [
        ModelResponded(
            seq=seq,
            ts=ts(seq),
            message={
                "role": "assistant",
                "content": FILLER[: 60 + step % 100],
                "tool_calls": [{"id": call_id, "name": "read_file", "arguments": arguments}],
            },
            usage={"input_tokens": 1000 + step, "output_tokens": 80},
            model="scripted:bench.json",
            latency_s=0.5,
        ),
        ToolIntended(
            seq=seq + 1,
            ts=ts(seq + 1),
            call_id=call_id,
            tool="read_file",
            arguments=arguments,
            effect="read",
            idempotency_key=f"agentrun-bench-{call_id}-{seq + 1}",
        ),
        ToolCompleted(
            seq=seq + 2,
            ts=ts(seq + 2),
            call_id=call_id,
            output=FILLER[: 150 + step % 150],
            duration_s=0.01,
        ),
    ]


def build_task(store: LocalTaskStore, task_id: str, i: int, n_events: int) -> None:
    """A finished task of about ``n_events`` events, appended by one writer, synced once."""
    store.create(lambda new_id: created(new_id, i), now=BASE, task_id=task_id)
    writer = store.open_writer(task_id)
    try:
        seq = writer.next_seq
        writer.append(
            [RunStarted(seq=seq, ts=ts(seq), pid=1, host="bench", version="0", attempt=1)],
            sync=False,
        )
        seq, step, batch = seq + 1, 0, []
        while seq + 3 <= n_events:
            batch += step_events(seq, step)
            seq, step = seq + 3, step + 1
            if len(batch) >= 3000:
                writer.append(batch, sync=False)
                batch = []
        batch.append(TaskFinished(seq=seq, ts=ts(seq), outcome="succeeded", answer="done"))
        writer.append(batch, sync=False)
        writer.sync()
    finally:
        writer.close()


def build_home(home: Path, tasks: int, long_logs: list[int]) -> dict[str, int]:
    """``tasks`` small tasks plus one task per size in ``long_logs``; returns the long ones."""
    store = LocalTaskStore(home, ops=NoSyncOps(), snapshot_every=10**9)
    for i in range(tasks):
        build_task(store, f"bench-{i:05d}", i, 12)
    long_ids = {}
    for n in long_logs:
        task_id = f"long-{n}"
        build_task(store, task_id, tasks + n, n)
        long_ids[task_id] = store.load(task_id).state.last_seq
    return long_ids


# -- measuring ---------------------------------------------------------------------------------

WRAPPER = (
    "import resource, subprocess, sys, time\n"
    "started = time.perf_counter()\n"
    "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)\n"
    "wall = time.perf_counter() - started\n"
    "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss)\n"
)


@dataclass(frozen=True)
class Measure:
    """Medians over fresh processes: wall seconds, CPU seconds (user + system), peak RSS KiB."""

    wall: float
    cpu: float
    rss_kib: int


def agentrun_cmd(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "agentrun", "--home", str(home), *args]


def measure(cmd: list[str], rounds: int, env: dict[str, str] | None = None) -> Measure:
    """Run ``cmd`` once unmeasured, then ``rounds`` times under a wrapper whose only child it is.

    CPU time is reported beside wall time because it depends less on what else the machine runs.
    """
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True, env=env)
    samples = []
    for _ in range(rounds):
        out = subprocess.run(
            [sys.executable, "-c", WRAPPER, *cmd],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        wall, cpu, rss = out.stdout.split()
        samples.append((float(wall), float(cpu), int(rss)))
    return Measure(
        statistics.median(s[0] for s in samples),
        statistics.median(s[1] for s in samples),
        int(statistics.median(s[2] for s in samples)),
    )


def profile_log(home: Path, task_id: str) -> str:
    from agentrun.cli.app import run

    profiler = cProfile.Profile()
    sink = io.StringIO()
    with redirect_stdout(sink):
        profiler.enable()
        run(["--home", str(home), "log", task_id, "--json"])
        profiler.disable()
    report = io.StringIO()
    pstats.Stats(profiler, stream=report).sort_stats("tottime").print_stats(15)
    return report.getvalue()


def bytecode_env(pycache: Path) -> dict[str, str]:
    """The environment of a process that reads and writes bytecode under ``pycache``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


@contextmanager
def scratch() -> Iterator[Path]:
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    path = Path(tempfile.mkdtemp(prefix="agentrun-bench-inspect-", dir=base))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.inspect", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke run: small and one round")
    parser.add_argument("--rounds", type=int, default=3, help="processes per figure (median)")
    parser.add_argument("--profile", action="store_true", help="cProfile `log --json` too")
    parser.add_argument(
        "--compile-each-run",
        action="store_true",
        help="no bytecode cache: honour PYTHONDONTWRITEBYTECODE if it is set",
    )
    args = parser.parse_args(argv)
    tasks = 1_000 if args.quick else 10_000
    sizes = [1_000, 5_000, 10_000] if args.quick else [10_000, 50_000, 100_000]
    rounds = 1 if args.quick else args.rounds
    with scratch() as root:
        home = root / "home"
        started = time.perf_counter()
        long_ids = build_home(home, tasks, sizes)
        print(
            f"built {tasks:,} tasks and logs of {', '.join(f'{n:,}' for n in sizes)} events in "
            f"{time.perf_counter() - started:.1f}s under {root}",
            file=sys.stderr,
        )
        env = None if args.compile_each_run else bytecode_env(root / "pycache")
        version = measure([sys.executable, "-m", "agentrun", "--version"], rounds, env)
        (root / "empty").mkdir()
        ls_empty = measure(agentrun_cmd(root / "empty", "ls", "--json"), rounds, env)
        ls_json = measure(agentrun_cmd(home, "ls", "--json"), rounds, env)
        ls_table = measure(agentrun_cmd(home, "ls"), rounds, env)
        logs = {
            n: measure(agentrun_cmd(home, "log", f"long-{n}", "--json"), rounds, env) for n in sizes
        }
        big, small = sizes[-1], sizes[0]
        events_big, events_small = long_ids[f"long-{big}"], long_ids[f"long-{small}"]
        rate, cpu_rate = events_big / logs[big].wall, events_big / logs[big].cpu
        steady = (events_big - events_small) / max(1e-9, logs[big].cpu - logs[small].cpu)
        rows = [
            ("python -m agentrun --version", _fig(version), "process start + imports"),
            ("ls --json (no tasks)", _fig(ls_empty), "a read command's start-up"),
            (f"ls --json ({tasks:,} tasks)", _fig(ls_json), _verdict(ls_json.wall, TARGET_LS_S)),
            (f"ls ({tasks:,} tasks)", _fig(ls_table), _verdict(ls_table.wall, TARGET_LS_S)),
            *((f"log --json ({long_ids[f'long-{n}']:,} events)", _fig(logs[n]), "") for n in sizes),
            (
                f"log --json rate ({events_big:,} events)",
                f"{rate:,.0f}/s wall, {cpu_rate:,.0f}/s cpu",
                _verdict(TARGET_EVENTS_PER_S, rate),
            ),
            ("log --json marginal rate", f"{steady:,.0f}/s cpu", "start-up excluded"),
            (
                "log --json peak RSS",
                " / ".join(f"{logs[n].rss_kib / 1024:.1f} MiB" for n in sizes),
                # a segment (4 MiB on disk) and a batch of its records are the unit: flat from
                # a few segments on
                "bounded" if logs[big].rss_kib <= logs[sizes[1]].rss_kib * 1.1 else "GROWS",
            ),
        ]
        width = max(len(r[0]) for r in rows)
        load = os.getloadavg()[0]
        mode = "quick" if args.quick else "full"
        bytecode = "compiled in every process" if env is None else "bytecode cached"
        print(
            f"agentrun read commands, {mode} run, {rounds} round(s), {bytecode}, "
            f"load average {load:.2f}"
        )
        for name, figure, note in rows:
            print(f"  {name:<{width}}  {figure:<40} {note}")
        if args.profile:
            print(profile_log(home, f"long-{big}"))
    return 0


def _fig(m: Measure) -> str:
    return f"{m.wall:.3f} s wall, {m.cpu:.3f} s cpu, {m.rss_kib / 1024:.0f} MiB"


def _verdict(value: float, limit: float) -> str:
    return "ok" if value <= limit else "MISSED"


if __name__ == "__main__":
    sys.exit(main())
