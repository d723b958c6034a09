"""agentrun against what users pick today: LangGraph + SqliteSaver, and DBOS on SQLite.

``python -m bench.compare`` runs the same conversation through each system for N steps (an
assistant message of ~300 bytes with one tool call, a tool result of ~1 KB, different content
every step; ``bench/systems/content.py``) and reports, for each N:

- wall time per step (and over the first and last tenth of the steps: growth with N);
- bytes on disk and bytes per step;
- the time a fresh process takes to load the latest state (the conversation so far).

Systems (each in its own process, ``bench/systems/*.py``): agentrun (``Runner`` in-process,
scripted model, instant ``read`` tool, fsync = "always"); LangGraph with ``SqliteSaver``, a
``messages`` channel with ``add_messages``, one ``invoke`` per step with the step's new messages,
``durability="sync"`` and ``PRAGMA synchronous=FULL``; the same with LangGraph's ``DeltaChannel``
when the installed version has it; DBOS with its SQLite system database, one workflow step per
agent step. A system whose packages are not importable is skipped with a note
(``pip install -e '.[bench]'`` installs them). A configuration that runs past ``--cap`` seconds
is stopped and reported as "> cap" (default 60 s; quick 3 s), and larger N are not run for that
system.

This is a benchmark, not a test: nothing fails on a slow machine; the tables say what it saw.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.procs import REPO, child_env

GOALS = {"dbos": 10.0, "langgraph": 20.0}  # agentrun's speed-up at N = 1,000


@dataclass(frozen=True)
class System:
    key: str
    label: str
    module: str
    args: tuple[str, ...] = ()


SYSTEMS = (
    System("agentrun", "agentrun (fsync = always)", "bench.systems.agentrun_sys"),
    System("langgraph", "LangGraph + SqliteSaver", "bench.systems.langgraph_sys", ("full",)),
    System(
        "langgraph-delta",
        "LangGraph + SqliteSaver, DeltaChannel",
        "bench.systems.langgraph_sys",
        ("delta",),
    ),
    System("dbos", "DBOS (SQLite system database)", "bench.systems.dbos_sys"),
)


@dataclass
class Cell:
    system: System
    n: int
    run: dict[str, Any] | None = None  # the driver's JSON, or None when not run
    loads: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""
    paired: dict[str, Any] | None = None  # an agentrun run made just before this one

    @property
    def cpu_per_step(self) -> float | None:
        if not self.run or self.skipped or not self.run.get("steps"):
            return None
        return self.run["cpu_seconds"] / self.run["steps"] * 1e6

    @property
    def skipped(self) -> str | None:
        return (self.run or {}).get("skipped")

    @property
    def us_per_step(self) -> float | None:
        if not self.run or self.skipped or not self.run.get("steps"):
            return None
        return self.run["seconds"] / self.run["steps"] * 1e6


def driver(module: str, *args: str, timeout: float) -> dict[str, Any]:
    """Run ``python -m module args`` from the repository; its last stdout line is JSON."""
    env = child_env()
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", module, *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"killed after {timeout:.0f} s"}
    wall_ms = (time.perf_counter() - started) * 1000
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"error": f"exit {proc.returncode}: {tail[0][:200]}"}
    result = json.loads(lines[-1])
    result["wall_ms"] = wall_ms
    return result


def fsync_probe(directory: Path, count: int = 50, size: int = 1300) -> float:
    """Median µs of one ``os.write`` of ``size`` bytes + ``os.fdatasync`` in ``directory``.

    Taken right before each run, in its directory: the disk's speed at that moment, so that
    runs made minutes apart on a shared machine can be compared in units of one fsync.
    """
    path = directory / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    chunk, times = b"x" * size, []
    try:
        for _ in range(count):
            started = time.perf_counter()
            os.write(fd, chunk)
            os.fdatasync(fd)
            times.append(time.perf_counter() - started)
    finally:
        os.close(fd)
        path.unlink()
    return statistics.median(times) * 1e6


def measure(
    sizes: list[int],
    cap: float,
    reps: int,
    systems: list[System],
    load_sizes: list[int],
    paired_at: int | None = None,
) -> list[Cell]:
    """Every system at every N; at N = ``paired_at``, an agentrun run right before each rival.

    The disk of a shared machine changes speed from minute to minute (the probe column shows
    it): the paired run gives each ratio an agentrun figure taken moments before the rival's.
    """
    # Fill agentrun's bytecode cache (bench.procs; site-packages have theirs): a load of nothing.
    driver("bench.systems.agentrun_sys", "load", "/nonexistent-agentrun-bench", timeout=120)
    cells: list[Cell] = []
    capped_at: dict[str, int] = {}
    skipped: dict[str, str] = {}
    for n in sizes:
        for system in systems:
            cell = Cell(system, n)
            cells.append(cell)
            if system.key in skipped:
                cell.run = {"skipped": skipped[system.key]}
                continue
            if system.key in capped_at:
                cell.note = f"not run: > cap at N = {capped_at[system.key]:,}"
                continue
            if (
                n == paired_at
                and system.key != "agentrun"
                and "agentrun" in {s.key for s in systems}
            ):
                cell.paired = paired_agentrun(n, cap)
            root = Path(tempfile.mkdtemp(prefix=f"agentrun-bench-{system.key}-"))
            try:
                print(f"compare: {system.key} N={n:,}", file=sys.stderr, flush=True)
                probe = fsync_probe(root)
                cell.run = driver(
                    system.module,
                    "run",
                    str(root),
                    *system.args,
                    str(n),
                    str(cap),
                    timeout=cap + 180,
                )
                if cell.skipped:
                    skipped[system.key] = cell.skipped
                    continue
                if "error" in cell.run:
                    cell.note = cell.run["error"]
                    capped_at[system.key] = n
                    continue
                cell.run["probe_us"] = probe
                if cell.run.get("capped"):
                    capped_at[system.key] = n
                # Cold loads at the sizes asked, and at the last size a capped system reached.
                for _ in range(reps if n in load_sizes or system.key in capped_at else 0):
                    cell.loads.append(
                        driver(system.module, "load", str(root), *system.args, timeout=300)
                    )
            finally:
                shutil.rmtree(root, ignore_errors=True)
    return cells


def paired_agentrun(n: int, cap: float) -> dict[str, Any] | None:
    root = Path(tempfile.mkdtemp(prefix="agentrun-bench-paired-"))
    try:
        print(f"compare: agentrun N={n:,} (paired)", file=sys.stderr, flush=True)
        result = driver(
            "bench.systems.agentrun_sys", "run", str(root), str(n), str(cap), timeout=cap + 180
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return None if "error" in result or result.get("capped") else result


SYNC_CALLS = ("fsync", "fdatasync")
WRITE_CALLS = ("write", "pwrite64")


def syscalls(systems: list[System], n: int) -> dict[str, dict[str, float]]:
    """Per step: fsync-like and write calls of each system's run at N = ``n`` (``strace -f -c``)."""
    strace = shutil.which("strace")
    counts: dict[str, dict[str, float]] = {}
    if strace is None:
        return counts
    env = child_env()
    for system in systems:
        root = Path(tempfile.mkdtemp(prefix=f"agentrun-bench-strace-{system.key}-"))
        out = root / "strace.txt"
        try:
            proc = subprocess.run(
                [
                    strace,
                    "-f",
                    "-c",
                    "-o",
                    str(out),
                    "-e",
                    "trace=" + ",".join(SYNC_CALLS + WRITE_CALLS),
                    sys.executable,
                    "-m",
                    system.module,
                    "run",
                    str(root),
                    *system.args,
                    str(n),
                    "600",
                ],
                cwd=REPO,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            lines = proc.stdout.strip().splitlines()
            if proc.returncode != 0 or not lines or "skipped" in json.loads(lines[-1]):
                continue
            steps = json.loads(lines[-1])["steps"]
            calls: dict[str, int] = {}
            for line in out.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 5 and parts[-1] in SYNC_CALLS + WRITE_CALLS:
                    calls[parts[-1]] = int(parts[3])
            counts[system.label] = {
                "syncs": sum(calls.get(c, 0) for c in SYNC_CALLS) / steps,
                "writes": sum(calls.get(c, 0) for c in WRITE_CALLS) / steps,
            }
        except (OSError, subprocess.SubprocessError, ValueError):
            continue
        finally:
            shutil.rmtree(root, ignore_errors=True)
    return counts


def syscall_table(counts: dict[str, dict[str, float]], n: int) -> list[str]:
    if not counts:
        return ["(strace is not installed: no system-call counts.)"]
    lines = [
        f"System calls per step over a whole run of N = {n} (`strace -f -c`; the fixed calls "
        "of start-up and close are spread over the steps):",
        "",
        "| system | fsync + fdatasync per step | write + pwrite64 per step |",
        "|---|--:|--:|",
    ]
    for label, c in counts.items():
        lines.append(f"| {label} | {c['syncs']:.2f} | {c['writes']:.1f} |")
    return lines


# -- reporting ---------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def size(n_bytes: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:,.1f} {unit}"
    return f"{n_bytes:,.0f} B"


def median_of(loads: list[dict[str, Any]], key: str) -> float | None:
    values = [load[key] for load in loads if key in load]
    return statistics.median(values) if values else None


def row(cell: Cell, cap: float) -> str:
    label = f"{cell.system.label} | {cell.n:,}"
    if cell.skipped:
        return f"| {label} | skipped: {cell.skipped} |" + " |" * 12
    if cell.run is None or "error" in cell.run:
        return f"| {label} | {cell.note} |" + " |" * 12
    r = cell.run
    steps = r["steps"]
    per_step = fmt(cell.us_per_step)
    if r.get("capped"):
        per_step = f"> cap ({steps:,} of {cell.n:,} steps in {r['seconds']:.0f} s: {per_step})"
    notes = []
    if "log_bytes" in r:
        notes.append(f"log {size(r['log_bytes'])} + snapshots {size(r['snapshot_bytes'])}")
        notes.append(f"{r['fsyncs'] / max(1, steps):.2f} log fsyncs/step")
    if "checkpoints" in r:
        notes.append(f"{r['checkpoints']:,} checkpoints")
    loads = [load for load in cell.loads if "error" not in load]
    load_errors = [load["error"] for load in cell.loads if "error" in load]
    if load_errors:
        notes.append(f"load failed: {load_errors[0]}")
    messages = loads[-1]["messages"] if loads else None
    probe = r.get("probe_us")
    in_fsyncs = f"{cell.us_per_step / probe:,.1f}" if probe and cell.us_per_step else "—"
    return (
        f"| {label} | {per_step} | {fmt(cell.cpu_per_step)} | {fmt(probe)} | {in_fsyncs} "
        f"| {fmt(r.get('first_us'))} | {fmt(r.get('last_us'))} "
        f"| {size(r['bytes'])} | {fmt(r['bytes'] / max(1, steps))} "
        f"| {fmt(median_of(loads, 'wall_ms'))} | {fmt(median_of(loads, 'import_ms'))} "
        f"| {fmt(median_of(loads, 'load_ms'), 1)} | {fmt(messages)} | {'; '.join(notes)} |"
    )


def ratios(cells: list[Cell], n: int, counts: dict[str, dict[str, float]]) -> list[str]:
    """agentrun's speed-up at N = ``n``, four ways.

    Measured wall time against agentrun's row and against an agentrun run made just before the
    rival; CPU time (the disk's speed does not enter it); and a model that puts both on the same
    disk: CPU µs/step + fsyncs per step (strace) × one fsync's latency, for the fastest and the
    slowest fsync the probes saw. On a shared disk whose fsync changes from ~0.2 to ~4 ms from
    one minute to the next, the last two are the figures that do not depend on luck.
    """
    at_n = {c.system.key: c for c in cells if c.n == n}
    base = at_n.get("agentrun")
    if base is None or base.us_per_step is None or base.cpu_per_step is None:
        return [f"No agentrun figure at N = {n:,}: no ratios."]
    probes = [c.run["probe_us"] for c in cells if c.run and "probe_us" in c.run]
    fast, slow = min(probes), max(probes)
    base_syncs = counts.get(base.system.label, {}).get("syncs")
    model_head = (
        f" | model, fsync = {fast:,.0f} µs | model, fsync = {slow:,.0f} µs" if counts else ""
    )
    lines = [
        f"agentrun's speed-up at N = {n:,}:",
        "",
        "| rival | rival µs/step | wall: vs agentrun's row | wall: vs an agentrun run just "
        f"before the rival (its µs/step) | CPU time{model_head} | goal | met |",
        "|---|--:|--:|--:|--:|" + ("--:|--:|" if counts else "") + "--:|---|",
    ]
    for key, cell in at_n.items():
        if key == "agentrun":
            continue
        goal = GOALS.get(key.split("-")[0])
        goal_text = f"≥ {goal:.0f}×" if goal else ""
        if cell.us_per_step is None or cell.cpu_per_step is None:
            why = cell.skipped or cell.note or "no figure"
            empty = " |" * (6 if counts else 4)
            lines.append(f"| {cell.system.label} | — ({why}){empty} {goal_text} | |")
            continue
        lower = "≥ " if cell.run and cell.run.get("capped") else ""
        views = [cell.us_per_step / base.us_per_step]
        paired_text = "—"
        if cell.paired:
            paired_us = cell.paired["seconds"] / cell.paired["steps"] * 1e6
            views.append(cell.us_per_step / paired_us)
            paired_text = f"{lower}{views[-1]:,.1f}× ({paired_us:,.0f})"
        views.append(cell.cpu_per_step / base.cpu_per_step)
        model_text = ""
        syncs = counts.get(cell.system.label, {}).get("syncs")
        if counts:
            if syncs is not None and base_syncs is not None:
                for latency in (fast, slow):
                    rival = cell.cpu_per_step + syncs * latency
                    views.append(rival / (base.cpu_per_step + base_syncs * latency))
                    model_text += f" | {lower}{views[-1]:,.1f}×"
            else:
                model_text = " | — | —"
        met = ""
        if goal is not None:
            hits = sum(view >= goal for view in views)
            met = (
                "yes" if hits == len(views) else ("no" if hits == 0 else f"{hits} of {len(views)}")
            )
        lines.append(
            f"| {cell.system.label} | {lower}{fmt(cell.us_per_step)} | {lower}{views[0]:,.1f}× "
            f"| {paired_text} | {lower}{cell.cpu_per_step / base.cpu_per_step:,.1f}×{model_text} "
            f"| {goal_text} | {met} |"
        )
    return lines


def pragma_notes(cells: list[Cell]) -> list[str]:
    seen: dict[str, str] = {}
    for cell in cells:
        pragmas = (cell.run or {}).get("pragmas")
        if pragmas and cell.system.label not in seen:
            sync = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(pragmas["synchronous"], "?")
            seen[cell.system.label] = (
                f"journal_mode={pragmas['journal_mode']}, synchronous={sync} "
                f"({pragmas['synchronous']})"
            )
    return [f"- {label}: {text}" for label, text in seen.items()]


NOTES = """\
Columns: µs/step = wall time of the N steps ÷ N (agentrun: `Runner.run()` including opening the
task, the final answer turn and the closing snapshot; LangGraph: the `invoke` calls and building
the two messages; DBOS: the workflow). CPU µs/step = the process's CPU time over the same span
(all threads; the disk's speed does not enter it). disk fsync µs = median of 50 × (write 1.3 kB +
fdatasync) in the run's directory just before the run: this machine's disk varied between
~0.2 ms and ~4 ms per fsync from one minute to the next, so read each row with its probe;
step ÷ fsync = µs/step in units of that probe. first / last 10 % = µs/step over the first and
the last tenth of the steps (a larger last figure: a step costs more as the conversation grows).
Bytes on disk after a clean close (agentrun: the task directory — log segments, every snapshot,
summary; SQLite: the database file and any -wal/-journal left). Cold load = a fresh
`python -m bench.systems.<driver> load` process that imports the system, opens the store and
materializes the conversation (agentrun: `LocalTaskStore.load(task).state.messages`; LangGraph:
`graph.get_state(thread).values["messages"]`; DBOS: `DBOSClient.list_workflow_steps(workflow)`
outputs): wall ms from spawn to exit, of which the import of the system and the load itself."""


def report(argv: list[str] | None = None, *, command: str | None = None) -> list[str]:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="N = 100 and 500, cap 3 s, cold loads at 500 only"
    )
    parser.add_argument("--sizes", default=None, help="comma-separated N (default 100,1000,5000)")
    parser.add_argument("--cap", type=float, default=None, help="seconds per configuration")
    parser.add_argument("--reps", type=int, default=None, help="cold loads per cell (median)")
    parser.add_argument(
        "--systems", default=None, help="comma-separated keys: " + ",".join(s.key for s in SYSTEMS)
    )
    args = parser.parse_args(argv)
    sizes = [
        int(n) for n in (args.sizes or ("100,500" if args.quick else "100,1000,5000")).split(",")
    ]
    cap = args.cap or (3.0 if args.quick else 60.0)
    reps = args.reps or (1 if args.quick else 3)
    wanted = set((args.systems or ",".join(s.key for s in SYSTEMS)).split(","))
    systems = [s for s in SYSTEMS if s.key in wanted]
    if command is None:
        given = argv if argv is not None else sys.argv[1:]
        command = " ".join(["python -m bench.compare", *given])
    started = time.perf_counter()
    ratio_n = 1000 if 1000 in sizes else sizes[-1]
    cells = measure(
        sizes,
        cap,
        reps,
        systems,
        sizes[-1:] if args.quick else sizes,
        paired_at=None if args.quick else ratio_n,
    )
    strace_n = 200
    counts = {} if args.quick else syscalls(systems, strace_n)
    out = [
        f"Command: `{command}`. Sizes N = {', '.join(f'{n:,}' for n in sizes)}; cap "
        f"{cap:.0f} s per configuration; cold loads: median of {reps}.",
        "",
        "| system | N | µs/step | CPU µs/step | disk fsync µs (probe) | step ÷ fsync "
        "| first 10 % µs/step "
        "| last 10 % µs/step | bytes on disk | bytes/step | cold load wall ms "
        "| of which import ms | load ms | messages loaded | notes |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
        *(row(cell, cap) for cell in cells),
        "",
        *ratios(cells, ratio_n, counts),
        "",
        *(
            [
                "SQLite settings as measured on the benchmark's connections (agentrun: "
                'fdatasync of the log at every group commit, `fsync = "always"`):',
                "",
                *pragma_notes(cells),
                "",
            ]
            if pragma_notes(cells)
            else []
        ),
        *([] if args.quick else [*syscall_table(counts, strace_n), ""]),
        NOTES,
        "",
        f"Time for this section: {time.perf_counter() - started:.0f} s.",
    ]
    return out


def main(argv: list[str] | None = None) -> int:
    print("\n".join(report(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
