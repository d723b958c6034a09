"""CLI latency in cold processes, against ``python -c pass`` as the floor.

``python -m bench.cli_latency`` times, each in a fresh process (median of 11; quick: 3):
``agentrun --help``, ``agentrun --version``, ``agentrun ls`` over 10,000 tasks (quick: 1,000)
and the first screen of ``agentrun log TASK | head -50`` on a task of 100,000 events (quick:
10,000), with ``python -c pass`` (interpreter and site-packages start-up) as the floor. The
command is the console script next to this interpreter, as a user runs it. The tasks are built
with ``bench.inspect.build_home`` (finished tasks with summaries; fsync skipped while building).

``python -X importtime`` of ``--help`` and ``--version`` is summarized by package (self time),
to show what start-up pays for. Goal: ``--help`` ≤ 150 ms.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from bench.inspect import build_home
from bench.procs import agentrun_argv, child_env

GOAL_HELP_MS = 150.0


def cold_once(argv: list[str], *, bytecode: bool = True) -> float:
    """Wall ms of ``argv`` in a fresh process, output discarded."""
    env = child_env(bytecode=bytecode)
    started = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return (time.perf_counter() - started) * 1000


def first_screen_once(argv: list[str], lines: int = 50) -> tuple[float, float]:
    """``argv | head -LINES``: ms to the LINES-th line, and ms until the writer has exited."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert proc.stdout is not None
    for _line in range(lines):
        if not proc.stdout.readline():
            break
    screen = (time.perf_counter() - started) * 1000
    proc.stdout.close()  # as head does: the writer gets EPIPE and should stop at once
    proc.wait()
    return screen, (time.perf_counter() - started) * 1000


def round_robin(probes: dict[str, Callable[[], list[float]]], reps: int) -> dict[str, list[float]]:
    """``reps`` rounds, each running every probe once (after one untimed round).

    Interleaving gives every command the same share of a shared machine's good and bad
    moments, so the differences from the floor mean something even when the medians move.
    """
    samples: dict[str, list[float]] = {}
    for round_number in range(reps + 1):
        for name, probe in probes.items():
            values = probe()
            if round_number:
                for index, value in enumerate(values):
                    samples.setdefault(f"{name}#{index}", []).append(value)
    return samples


_IMPORT = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|( *)(\S+)")


def import_profile(args: list[str]) -> tuple[float, dict[str, float]]:
    """(total ms of imports, self ms by package) of ``python -X importtime ARGS``."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        env=child_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    by_package: dict[str, float] = defaultdict(float)
    total = 0.0
    for line in proc.stderr.splitlines():
        match = _IMPORT.match(line)
        if not match:
            continue
        self_us, name = int(match.group(1)), match.group(4)
        parts = name.split(".")
        key = ".".join(parts[:2]) if parts[0] == "agentrun" else parts[0]
        by_package[key] += self_us / 1000
        total += self_us / 1000
    return total, dict(by_package)


def import_table(profiles: dict[str, tuple[float, dict[str, float]]], top: int = 12) -> list[str]:
    labels = list(profiles)
    totals: dict[str, float] = defaultdict(float)
    for _total, packages in profiles.values():
        for name, ms in packages.items():
            totals[name] += ms
    names = sorted(totals, key=totals.__getitem__, reverse=True)[:top]
    lines = [
        "| package (self time of its modules) | " + " | ".join(f"`{x}` ms" for x in labels) + " |",
        "|---|" + "--:|" * len(labels),
    ]
    for name in names:
        cells = " | ".join(f"{profiles[x][1].get(name, 0.0):,.1f}" for x in labels)
        lines.append(f"| {name} | {cells} |")
    lines.append(
        "| **all imports** | " + " | ".join(f"**{profiles[x][0]:,.1f}**" for x in labels) + " |"
    )
    return lines


def report(argv: list[str] | None = None, *, command: str | None = None) -> list[str]:
    parser = argparse.ArgumentParser(prog="python -m bench.cli_latency", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1,000 tasks, 10^4 events, 3 runs")
    parser.add_argument("--reps", type=int, default=None, help="cold runs per figure (≥ 10)")
    args = parser.parse_args(argv)
    tasks, events = (1_000, 10_000) if args.quick else (10_000, 100_000)
    reps = args.reps or (3 if args.quick else 11)
    if command is None:
        given = argv if argv is not None else sys.argv[1:]
        command = " ".join(["python -m bench.cli_latency", *given])
    started = time.perf_counter()
    cli = agentrun_argv()
    root = Path(tempfile.mkdtemp(prefix="agentrun-bench-cli-"))
    try:
        home = root / "home"
        print(f"cli: building {tasks:,} tasks and a log of {events:,}", file=sys.stderr, flush=True)
        built = time.perf_counter()
        long_ids = build_home(home, tasks, [events])
        build_s = time.perf_counter() - built
        ((long_id, long_events),) = long_ids.items()
        log = [*cli, "--home", str(home), "log", long_id]
        samples = round_robin(
            {
                "floor": lambda: [cold_once([sys.executable, "-c", "pass"])],
                "version": lambda: [cold_once([*cli, "--version"])],
                "help": lambda: [cold_once([*cli, "--help"])],
                "help-nocache": lambda: [cold_once([*cli, "--help"], bytecode=False)],
                "ls": lambda: [cold_once([*cli, "--home", str(home), "ls"])],
                "log": lambda: list(first_screen_once(log)),
            },
            reps,
        )
        floor = samples["floor#0"]
        rows = [
            ("`python -c pass` (floor)", floor, None, ""),
            ("`agentrun --version`", samples["version#0"], None, ""),
            ("`agentrun --help`", samples["help#0"], GOAL_HELP_MS, "≤ 150 ms"),
            (
                "`agentrun --help`, no bytecode cache (`PYTHONDONTWRITEBYTECODE=1`)",
                samples["help-nocache#0"],
                GOAL_HELP_MS,
                "≤ 150 ms",
            ),
            (f"`agentrun ls` ({tasks:,} tasks)", samples["ls#0"], None, ""),
            (
                f"`agentrun log TASK \\| head -50` ({long_events:,} events): first screen",
                samples["log#0"],
                None,
                "",
            ),
            ("… until `log` has exited (EPIPE)", samples["log#1"], None, ""),
        ]
        profiles = {
            "python -c pass": import_profile(["-c", "pass"]),
            "agentrun --version": import_profile(["-m", "agentrun", "--version"]),
            "agentrun --help": import_profile(["-m", "agentrun", "--help"]),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)
    floor_ms = statistics.median(floor)
    out = [
        f"Command: `{command}`; the CLI is `{' '.join(Path(a).name for a in cli)}` (the console "
        f"script). Median (and min) of {reps} cold processes each, in {reps} interleaved rounds "
        f"(after one untimed round); tasks built in {build_s:.0f} s (not timed).",
        "",
        "| command | median ms | min ms | median − floor median ms | min − floor min ms | goal "
        "| met (median) |",
        "|---|--:|--:|--:|--:|--:|---|",
    ]
    floor_min = min(floor)
    for label, times, goal, goal_text in rows:
        median = statistics.median(times)
        met = "" if goal is None else ("yes" if median <= goal else "no")
        over = "" if times is floor else f"{median - floor_ms:,.0f}"
        over_min = "" if times is floor else f"{min(times) - floor_min:,.0f}"
        out.append(
            f"| {label} | {median:,.0f} | {min(times):,.0f} | {over} | {over_min} | {goal_text} "
            f"| {met} |"
        )
    out += [
        "",
        "What start-up imports (`python -X importtime …`, with the bytecode cache; self time "
        "summed by package; importtime adds its own overhead, so the figures are larger than "
        "the wall-time differences above; `python -c pass` shows what site-packages start-up "
        "imports before any command):",
        "",
        *import_table(profiles),
        "",
        f"Time for this section: {time.perf_counter() - started:.0f} s.",
    ]
    return out


def main(argv: list[str] | None = None) -> int:
    print("\n".join(report(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
