"""Batch throughput: tasks per minute for short scripted tasks at concurrency 1, 2 and 8.

    python -m bench.batch [--tasks 1000] [--quick]

Each task is a short scripted agent (a read tool, a side effect, a final answer: 3 model turns,
about 5 fsyncs). Tasks are queued through the store, then one cold `agentrun batch -j N` process
runs them all; the figure is tasks finished per minute of that process's wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOOLS = '''
from agentrun import tool

@tool(effect="read")
def lookup(key: str) -> str:
    """Look up a key."""
    return "value of " + key

@tool(effect="side_effect")
def record(text: str) -> str:
    """Record a line."""
    return "recorded " + text
'''
SCRIPT = {
    "turns": [
        {"content": "look", "tool_calls": [{"name": "lookup", "arguments": {"key": "a"}}]},
        {"content": "note", "tool_calls": [{"name": "record", "arguments": {"text": "x"}}]},
        {"content": "done"},
    ]
}


def make_agent(root: Path) -> Path:
    (root / "ws").mkdir(parents=True)
    (root / "tools.py").write_text(TOOLS)
    (root / "script.json").write_text(json.dumps(SCRIPT))
    spec = root / "agent.toml"
    spec.write_text('model = "scripted:script.json"\ntools = ["./tools.py"]\nworkspace = "ws"\n')
    return spec


def queue(home: Path, spec: Path, count: int) -> None:
    from agentrun.runtime.spec import SpecOverrides, load_spec
    from agentrun.runtime.tasks import create_task
    from agentrun.store.local import LocalTaskStore

    store = LocalTaskStore(home)
    agent = load_spec(spec, SpecOverrides(), cwd=spec.parent)
    for n in range(count):
        create_task(store, agent, f"task {n}")


def run_batch(home: Path, concurrency: int) -> tuple[float, dict]:
    env = {**os.environ, "AGENTRUN_HOME": str(home)}
    began = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "agentrun", "batch", "-j", str(concurrency), "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - began
    if proc.returncode != 0:
        raise SystemExit(f"batch failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return elapsed, json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="100 tasks")
    args = parser.parse_args()
    count = 100 if args.quick else args.tasks
    rows = []
    with tempfile.TemporaryDirectory(prefix="agentrun-bench-") as tmp:
        spec = make_agent(Path(tmp) / "agent")
        for concurrency in (1, 2, 8):
            home = Path(tmp) / f"home-{concurrency}"
            queue(home, spec, count)
            elapsed, report = run_batch(home, concurrency)
            assert report["succeeded"] == count, report
            rows.append((concurrency, elapsed, count / elapsed * 60))
    print(f"Batch throughput, {count} short scripted tasks (3 turns, 1 side effect each)\n")
    print(f"Python {platform.python_version()}, {os.cpu_count()} cores, {platform.platform()}\n")
    print("| concurrency | wall time (s) | tasks per minute |")
    print("|---:|---:|---:|")
    for concurrency, elapsed, per_minute in rows:
        print(f"| {concurrency} | {elapsed:.1f} | {per_minute:,.0f} |")
    print(f"\nReproduce: python -m bench.batch --tasks {count}")


if __name__ == "__main__":
    main()
