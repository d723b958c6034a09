"""Long logs: resume cost and memory against log length.

``python -m bench.longlog`` builds tasks of 10^3, 10^4 and 10^5 events (quick: 10^3 and 10^4)
through ``LocalTaskStore`` and the writer in a fresh process (one ``append(sync=False)`` per step,
one sync at the end, the snapshot the writer makes every 1,000 events), of the conversation of
``bench.compare`` (a ~300-byte assistant turn with one ``fetch`` call, a ~1 KB result: three
events per step). The run is then abandoned without ``run_stopped``: as after ``kill -9``, the
newest snapshot is up to 999 events behind the end of the log.

**Resume.** Each measurement copies the task (sealed segments and snapshots hard-linked, the
open segment copied) and runs ``agentrun --home H resume TASK --quiet`` in a fresh process. The
script answers the next turn with a call of ``stamp``, a tool of the bench that writes
``time.time()`` to a file and ends the process with ``os._exit``: the figure is process start →
claim, recovery, load, tools and model loaded, prompt built, first new model turn played and
made durable (one fdatasync), tool started. The model is ``scripted`` and must parse a script
with one entry per step: ``load_script``'s time is measured apart and subtracted. A second cold
process gives the breakdown (imports; ``open_writer`` = claim + recovery + load).

**Memory.** Peak RSS (``RUSAGE_CHILDREN.ru_maxrss`` of a wrapper whose only child is the
measured process) of: the build (appending every event through the writer, which folds each
into its state: what a run of that length holds), a real ``Runner`` run of the middle size
(full mode; validates the build as a proxy), the resume, and ``agentrun log TASK --json``
streaming the whole log to /dev/null. Goals: resume flat in N; memory bounded (10^4 vs 10^5).
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.procs import REPO, agentrun_argv, child_env
from bench.systems.content import TOOL_NAME, assistant_text, tool_output, tree_bytes

STAMP_ENV = "AGENTRUN_BENCH_STAMP"
USAGE = {"input_tokens": 1000, "output_tokens": 80}
BASE = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)

TOOLS = f'''"""Tools of the resume benchmark."""

import os
import time

from agentrun import tool


@tool(effect="read")
def {TOOL_NAME}(n: int) -> str:
    """Read something.

    Args:
        n: The step number.
    """
    return "output " + str(n)


@tool(effect="read")
def stamp() -> str:
    """Write the time to ${STAMP_ENV} and end the process at once (the benchmark's kill)."""
    path = os.environ.get("{STAMP_ENV}")
    if path:
        with open(path, "w") as out:
            out.write(repr(time.time()))
        if os.environ.get("AGENTRUN_BENCH_STAMP_RAISE"):  # the profiled run ends by itself
            raise KeyboardInterrupt
        os._exit(0)
    return "stamped"
'''


def write_agent(root: Path, steps: int) -> Path:
    """An agent whose script plays ``stamp`` at turn ``steps`` (earlier turns were replayed)."""
    agent = root / "agent"
    (agent / "workspace").mkdir(parents=True)
    (agent / "tools.py").write_text(TOOLS)
    # Turns before ``steps`` are in the log already and never played: empty placeholders.
    turns: list[dict[str, Any]] = [{} for _ in range(steps)]
    turns.append({"content": "stamp", "tool_calls": [{"name": "stamp"}], "usage": USAGE})
    turns.append({"content": "done", "usage": USAGE})
    (agent / "script.json").write_text(json.dumps({"turns": turns}))
    (agent / "agent.toml").write_text(
        'name = "resume-bench"\nmodel = "scripted:script.json"\ntools = ["./tools.py"]\n'
        'workspace = "workspace"\n\n[budget]\nmax_attempts = 1000\n'
    )
    return agent / "agent.toml"


def build(root: Path, n_events: int) -> tuple[Path, str, Path, int]:
    """A killed task of about ``n_events`` events; returns (home, task id, script, steps)."""
    from agentrun import __version__
    from agentrun.core.events import Event, ModelResponded, RunStarted, ToolCompleted, ToolIntended
    from agentrun.runtime.spec import SpecOverrides, load_spec
    from agentrun.runtime.tasks import create_task
    from agentrun.store.local import LocalTaskStore

    steps = (n_events - 2) // 3  # task_created and run_started, then three events per step
    spec_path = write_agent(root, steps)
    home = root / "home"
    store = LocalTaskStore(home)
    spec = load_spec(spec_path, SpecOverrides(), cwd=spec_path.parent)
    task_id = create_task(store, spec, "resume benchmark")
    writer = store.open_writer(task_id)
    seq = writer.next_seq

    def ts(s: int) -> str:
        return (BASE + timedelta(milliseconds=s)).isoformat()

    batch: list[Event] = [
        RunStarted(
            seq=seq, ts=ts(seq), pid=os.getpid(), host="bench", version=__version__, attempt=1
        )
    ]
    seq += 1
    for step in range(steps):
        call = f"call_{step}_0"
        message = {
            "role": "assistant",
            "content": assistant_text(step),
            "tool_calls": [{"id": call, "name": TOOL_NAME, "arguments": {"n": step}}],
        }
        batch += [
            ModelResponded(seq=seq, ts=ts(seq), message=message, usage=USAGE, model="scripted"),
            ToolIntended(
                seq=seq + 1,
                ts=ts(seq + 1),
                call_id=call,
                tool=TOOL_NAME,
                arguments={"n": step},
                effect="read",
                idempotency_key=f"agentrun-{task_id}-{call}-{seq + 1}",
            ),
            ToolCompleted(seq=seq + 2, ts=ts(seq + 2), call_id=call, output=tool_output(step)),
        ]
        seq += 3
        writer.append(batch, sync=False)  # a step at a time; a snapshot every 1,000 events
        batch = []
    writer.sync()
    writer.abandon()  # a kill: no run_stopped, no closing snapshot, no summary
    return home, task_id, spec_path.parent / "script.json", steps


def copy_task(home: Path, task_id: str, dest: Path) -> Path:
    """``dest`` as a home holding a copy of the task that a resume may append to.

    Files a writer never modifies (sealed segments, snapshots) are hard-linked; the newest
    segment and everything else is copied.
    """
    from agentrun.store.local import LocalTaskStore

    src = Path(LocalTaskStore(home).task_dir(task_id))
    dst_task = Path(LocalTaskStore(dest).task_dir(task_id))
    newest = max((src / "log").iterdir())
    for folder, _dirs, files in os.walk(src):
        rel = Path(folder).relative_to(src)
        (dst_task / rel).mkdir(parents=True, exist_ok=True)
        os.chmod(dst_task / rel, os.stat(folder).st_mode & 0o7777)
        for name in files:
            source = Path(folder) / name
            target = dst_task / rel / name
            linkable = rel.parts[:1] in (("log",), ("snapshots",)) and source != newest
            if linkable:
                os.link(source, target)
            else:
                shutil.copy2(source, target)
    for folder in (dest, dest / "tasks"):  # the same modes as the original home
        os.chmod(folder, os.stat(home / folder.relative_to(dest)).st_mode & 0o7777)
    for item in home.iterdir():  # home-level files (a marker, the trash folder, …)
        if not (dest / item.name).exists():
            if item.is_dir():
                shutil.copytree(item, dest / item.name)
            else:
                shutil.copy2(item, dest / item.name)
    return dest


def resume_once(home: Path, task_id: str, scratch: Path, rep: int) -> float:
    """ms from spawning ``agentrun resume`` to the ``stamp`` tool of the first new turn."""
    rep_home = copy_task(home, task_id, scratch / f"rep-{rep}")
    stamp = scratch / f"stamp-{rep}"
    env = child_env({STAMP_ENV: str(stamp)})
    argv = [*agentrun_argv(), "--home", str(rep_home), "resume", task_id, "--quiet"]
    started = time.time()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, check=False)
    if not stamp.exists():
        raise SystemExit(f"resume did not reach the stamp tool ({proc.returncode}): {proc.stderr}")
    elapsed = (float(stamp.read_text()) - started) * 1000
    shutil.rmtree(rep_home, ignore_errors=True)
    return elapsed


BREAKDOWN = """\
import json, sys, time
t0 = time.perf_counter()
from pathlib import Path
from agentrun.models.scripted import load_script
from agentrun.runtime.runner import Runner
from agentrun.store.local import LocalTaskStore
t1 = time.perf_counter()
writer = LocalTaskStore(Path(sys.argv[1])).open_writer(sys.argv[2])
t2 = time.perf_counter()
messages, last_seq = len(writer.state.messages), writer.state.last_seq
writer.abandon()
t3 = time.perf_counter()
load_script(Path(sys.argv[3]))
t4 = time.perf_counter()
print(json.dumps({"import_ms": (t1 - t0) * 1e3, "open_ms": (t2 - t1) * 1e3,
                  "script_ms": (t4 - t3) * 1e3, "messages": messages, "last_seq": last_seq}))
"""


def breakdown(home: Path, task_id: str, script: Path, scratch: Path) -> dict[str, Any]:
    rep_home = copy_task(home, task_id, scratch / "breakdown")
    proc = subprocess.run(
        [sys.executable, "-c", BREAKDOWN, str(rep_home), task_id, str(script)],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    shutil.rmtree(rep_home, ignore_errors=True)
    return json.loads(proc.stdout)


# -- processes ---------------------------------------------------------------------------------

RSS_WRAPPER = """\
import json, resource, subprocess, sys
proc = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"rss_kib": peak, "code": proc.returncode}))
sys.stdout.write(proc.stdout.decode("utf-8", "replace")[-100000:])
"""

BUILD = """\
import json, sys
from pathlib import Path
from bench.longlog import build
home, task_id, script, steps = build(Path(sys.argv[1]), int(sys.argv[2]))
print(json.dumps({"home": str(home), "task_id": task_id, "script": str(script), "steps": steps}))
"""


def with_rss(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    """(peak RSS KiB, stdout) of ``argv`` run as the only child of a fresh wrapper."""
    proc = subprocess.run(
        [sys.executable, "-c", RSS_WRAPPER, *argv],
        env=env or child_env(),
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )
    head, _, rest = proc.stdout.partition("\n")
    return json.loads(head)["rss_kib"], rest


def cold_ms(argv: list[str], reps: int) -> float:
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        subprocess.run(argv, env=child_env(), capture_output=True, check=False)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


PROFILE = """\
import cProfile, os, pstats, sys
from agentrun.cli.app import run
os.environ["AGENTRUN_BENCH_STAMP_RAISE"] = "1"
profiler = cProfile.Profile()
profiler.enable()
run(["--home", sys.argv[1], "resume", sys.argv[2], "--quiet"])
profiler.disable()
pstats.Stats(profiler).sort_stats("cumulative").print_stats(sys.argv[3], 18)
"""


def profile_resume(home: Path, task_id: str, scratch: Path) -> list[str]:
    """cProfile of one cold ``resume`` (in a fresh process), agentrun's functions only."""
    rep_home = copy_task(home, task_id, scratch / "profile")
    env = child_env({STAMP_ENV: str(scratch / "stamp-profile")})
    proc = subprocess.run(
        [sys.executable, "-c", PROFILE, str(rep_home), task_id, "agentrun/"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    shutil.rmtree(rep_home, ignore_errors=True)
    text = proc.stdout.strip()
    lines = text.splitlines()
    for index, line in enumerate(lines):  # from the table header on
        if line.strip().startswith("ncalls"):
            lines = lines[index:]
            break
    return ["```", *(line.replace(str(REPO) + "/", "") for line in lines), "```"]


# -- measuring ---------------------------------------------------------------------------------


@dataclass
class Size:
    n: int
    steps: int = 0
    task_id: str = ""
    home: Path = Path()
    log_bytes: int = 0
    snapshots: int = 0
    snapshot_bytes: int = 0
    newest: int = 0
    build_s: float = 0.0
    build_rss: int = 0
    resume_ms: list[float] = field(default_factory=list)
    resume_rss: int = 0
    parts: dict[str, Any] = field(default_factory=dict)
    log_json_rss: int = 0
    log_json_s: float = 0.0
    run_rss: int | None = None
    run_s: float | None = None


@dataclass
class Results:
    sizes: list[Size]
    reps: int
    floor_ms: float
    version_ms: float
    floor_rss: int
    version_rss: int
    profile: list[str]
    command: str
    seconds: float = 0.0


def measure_size(root: Path, n: int, reps: int, real_run: bool) -> Size:
    size = Size(n)
    print(f"longlog: building {n:,} events", file=sys.stderr, flush=True)
    started = time.perf_counter()
    size.build_rss, out = with_rss(
        [sys.executable, "-c", BUILD, str(root), str(n)], env=child_env()
    )
    size.build_s = time.perf_counter() - started
    built = json.loads(out.strip().splitlines()[-1])
    size.home, size.task_id, size.steps = Path(built["home"]), built["task_id"], built["steps"]
    task_dir = size.home / "tasks" / size.task_id
    size.log_bytes = tree_bytes(str(task_dir / "log"))
    snaps = sorted((task_dir / "snapshots").glob("*.snap"))
    size.snapshots = len(snaps)
    size.snapshot_bytes = sum(p.stat().st_size for p in snaps)
    size.newest = snaps[-1].stat().st_size if snaps else 0
    # One more than asked: the first (bytecode cache, page cache) is not counted.
    runs = [resume_once(size.home, size.task_id, root, rep) for rep in range(reps + 1)]
    size.resume_ms = runs[1:]
    size.parts = breakdown(size.home, size.task_id, Path(built["script"]), root)
    newest_seq = int(snaps[-1].name.split(".")[0]) if snaps else 0  # ``<seq>.snap``
    size.parts["lag"] = size.parts["last_seq"] - newest_seq
    # Memory: the resume process (to the first new turn), and `log --json` of the whole log.
    rep_home = copy_task(size.home, size.task_id, root / "rss")
    env = child_env({STAMP_ENV: str(root / "stamp-rss")})
    resume = [*agentrun_argv(), "--home", str(rep_home), "resume", size.task_id, "--quiet"]
    size.resume_rss, _ = with_rss(resume, env=env)
    shutil.rmtree(rep_home, ignore_errors=True)
    started = time.perf_counter()
    log = [*agentrun_argv(), "--home", str(size.home), "log", size.task_id, "--json"]
    size.log_json_rss, _ = with_rss(log)
    size.log_json_s = time.perf_counter() - started
    if real_run:
        run_root = root / "real-run"
        run_root.mkdir()
        driver = [sys.executable, "-m", "bench.systems.agentrun_sys", "run", str(run_root)]
        rss, out = with_rss([*driver, str(size.steps), "600"], env=child_env())
        size.run_rss, size.run_s = rss, json.loads(out.strip().splitlines()[-1])["seconds"]
        shutil.rmtree(run_root, ignore_errors=True)
    return size


def measure(sizes: list[int], reps: int, real_run_at: int | None, profile: bool) -> Results:
    started = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="agentrun-bench-longlog-"))
    try:
        cold_ms([*agentrun_argv(), "--help"], 1)  # fills the bytecode cache (bench.procs)
        floor_ms = cold_ms([sys.executable, "-c", "pass"], reps)
        version_ms = cold_ms([*agentrun_argv(), "--version"], reps)
        floor_rss, _ = with_rss([sys.executable, "-c", "pass"])
        version_rss, _ = with_rss([*agentrun_argv(), "--version"])
        results = Results([], reps, floor_ms, version_ms, floor_rss, version_rss, [], "")
        for n in sizes:
            size = measure_size(root / f"n{n}", n, reps, real_run=n == real_run_at)
            results.sizes.append(size)
            if profile and n == sizes[-1]:
                results.profile = profile_resume(size.home, size.task_id, root / f"n{n}")
            shutil.rmtree(root / f"n{n}", ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    results.seconds = time.perf_counter() - started
    return results


# -- reporting ---------------------------------------------------------------------------------


def mib(kib: int) -> str:
    return f"{kib / 1024:,.1f} MiB"


def resume_section(r: Results) -> list[str]:
    out = [
        f"Command: `{r.command}`. Median of {r.reps} cold resumes per size (warm page cache). "
        f"Floor: `python -c pass` {r.floor_ms:.0f} ms, `agentrun --version` "
        f"{r.version_ms:.0f} ms (medians of {r.reps}).",
        "",
        "| events | steps | log | snapshots kept (all of them) | newest snapshot "
        "| events after it | resume → first new turn ms (min) | minus script parse ms "
        "| imports ms | open_writer ms (claim + recovery + load) | script parse ms "
        "| messages | build s |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for s in r.sizes:
        p = s.parts
        median = statistics.median(s.resume_ms)
        out.append(
            f"| {s.n:,} | {s.steps:,} | {s.log_bytes / 1e6:,.1f} MB "
            f"| {s.snapshots} ({s.snapshot_bytes / 1e6:,.1f} MB) | {s.newest / 1e6:,.2f} MB "
            f"| {p['lag']:,} | {median:,.0f} ({min(s.resume_ms):,.0f}) "
            f"| {median - p['script_ms']:,.0f} | {p['import_ms']:,.0f} | {p['open_ms']:,.1f} "
            f"| {p['script_ms']:,.1f} | {p['messages']:,} | {s.build_s:,.1f} |"
        )
    if len(r.sizes) >= 2:
        a, b = r.sizes[0], r.sizes[-1]
        ra = statistics.median(a.resume_ms) - a.parts["script_ms"]
        rb = statistics.median(b.resume_ms) - b.parts["script_ms"]
        out += [
            "",
            f"From {a.n:,} to {b.n:,} events: resume (script parse excluded) {ra:,.0f} → "
            f"{rb:,.0f} ms ({rb / ra:.2f}×), `open_writer` {a.parts['open_ms']:,.1f} → "
            f"{b.parts['open_ms']:,.1f} ms. Goal: flat in N — "
            f"{'met' if rb <= 1.25 * ra else 'missed'}.",
        ]
    if r.profile:
        out += [
            "",
            f"cProfile of one cold `resume` at {r.sizes[-1].n:,} events (agentrun functions, "
            "by cumulative time; the profiler inflates small functions):",
            "",
            *r.profile,
        ]
    return out


def memory_section(r: Results) -> list[str]:
    out = [
        f"Peak RSS (`ru_maxrss` of the only child of a fresh wrapper). Baselines: "
        f"`python -c pass` {mib(r.floor_rss)}, `agentrun --version` {mib(r.version_rss)}.",
        "",
        "| events | writer appending + folding every event (build) | real `Runner` run "
        "| `resume` to the first new turn | `log TASK --json` (whole log to /dev/null) "
        "| `log --json` s |",
        "|--:|--:|--:|--:|--:|--:|",
    ]
    for s in r.sizes:
        run = "—" if s.run_rss is None else f"{mib(s.run_rss)} ({s.run_s:.1f} s)"
        out.append(
            f"| {s.n:,} | {mib(s.build_rss)} | {run} | {mib(s.resume_rss)} "
            f"| {mib(s.log_json_rss)} | {s.log_json_s:.2f} |"
        )
    big = [s for s in r.sizes if s.n >= 10_000]
    if len(big) >= 2:
        a, b = big[0], big[-1]
        out += [
            "",
            f"{a.n:,} → {b.n:,} events (×{b.n // a.n}): writer {b.build_rss / a.build_rss:.1f}×, "
            f"resume {b.resume_rss / a.resume_rss:.1f}×, `log --json` "
            f"{b.log_json_rss / a.log_json_rss:.2f}×. Goal: bounded (≈ 1×).",
        ]
    return out


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.longlog", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10^3 and 10^4 events, 2 resumes")
    parser.add_argument("--sizes", default=None, help="comma-separated event counts")
    parser.add_argument("--reps", type=int, default=None, help="resumes per size (median)")
    parser.add_argument("--no-profile", action="store_true", help="skip the resume cProfile")
    return parser.parse_args(argv)


def run(argv: list[str] | None = None, *, command: str | None = None) -> Results:
    args = parse(argv)
    default = "1000,10000" if args.quick else "1000,10000,100000"
    sizes = [int(n) for n in (args.sizes or default).split(",")]
    reps = args.reps or (2 if args.quick else 7)
    real_run_at = None if args.quick else (10_000 if 10_000 in sizes else None)
    results = measure(sizes, reps, real_run_at, profile=not (args.quick or args.no_profile))
    given = argv if argv is not None else sys.argv[1:]
    results.command = command or " ".join(["python -m bench.longlog", *given])
    return results


def main(argv: list[str] | None = None) -> int:
    results = run(argv)
    print("\n".join(["## Resume", "", *resume_section(results), ""]))
    print("\n".join(["## Memory", "", *memory_section(results), ""]))
    print(f"Time: {results.seconds:.0f} s.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
