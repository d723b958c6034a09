"""agentrun: ``Runner`` in-process, scripted model, an instant ``read`` tool, fsync = "always".

Per step the log gets ``model_responded`` + ``tool_intended`` (one write, one fdatasync: group
commit) and ``tool_completed`` (rides on the next sync); a snapshot every 1,000 events.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
import time
from pathlib import Path

from bench.systems.content import (
    TOOL_NAME,
    assistant_text,
    emit,
    tenth_us,
    tool_output,
    tree_bytes,
)

USAGE = {"input_tokens": 1000, "output_tokens": 80}  # reported, as real providers do

TOOLS_HEAD = '''"""The compare benchmark's tool: instant, ~1 KB of distinct output."""

from agentrun import tool


'''

TOOLS_TAIL = f'''

@tool(effect="read")
def {TOOL_NAME}(n: int) -> str:
    """Read something.

    Args:
        n: The step number.
    """
    return tool_output(n)
'''


def write_agent(root: Path, steps: int) -> Path:
    agent = root / "agent"
    (agent / "workspace").mkdir(parents=True, exist_ok=True)
    (agent / "tools.py").write_text(TOOLS_HEAD + inspect.getsource(tool_output) + TOOLS_TAIL)
    turns = [
        {
            "content": assistant_text(i),
            "tool_calls": [{"name": TOOL_NAME, "arguments": {"n": i}}],
            "usage": USAGE,
        }
        for i in range(steps)
    ]
    turns.append({"content": "done", "usage": USAGE})
    (agent / "script.json").write_text(json.dumps({"turns": turns}))
    (agent / "agent.toml").write_text(
        'name = "compare"\nmodel = "scripted:script.json"\ntools = ["./tools.py"]\n'
        'workspace = "workspace"\nfsync = "always"\n'
    )
    return agent / "agent.toml"


def run(root: Path, steps: int, cap: float) -> None:
    from agentrun.core.events import Event, ModelResponded
    from agentrun.runtime.reporter import SilentReporter
    from agentrun.runtime.runner import Runner, RunOptions
    from agentrun.runtime.spec import SpecOverrides, load_spec
    from agentrun.runtime.tasks import create_task
    from agentrun.store.local import LocalTaskStore

    class Turns(SilentReporter):
        def __init__(self) -> None:
            self.stamps: list[float] = []

        def event(self, event: Event) -> None:
            if isinstance(event, ModelResponded):
                self.stamps.append(time.perf_counter())

    spec_path = write_agent(root, steps)
    store = LocalTaskStore(root / "home")
    spec = load_spec(spec_path, SpecOverrides(), cwd=spec_path.parent)
    task_id = create_task(store, spec, "compare: one read per step")
    clock = Turns()
    runner = Runner(store, task_id, clock, RunOptions(deadline=time.monotonic() + cap))
    cpu_started, started = time.process_time(), time.perf_counter()
    result = runner.run()
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    state = runner.writer.state
    done = state.steps - (1 if result.status == "succeeded" else 0)  # the final answer turn
    task_dir = store.task_dir(task_id)
    first, last = tenth_us(clock.stamps[:done])
    emit(
        {
            "steps": done,
            "capped": result.status != "succeeded",
            "seconds": seconds,
            "cpu_seconds": cpu,
            "first_us": first,
            "last_us": last,
            "bytes": tree_bytes(task_dir),
            "log_bytes": tree_bytes(os.path.join(task_dir, "log")),
            "snapshot_bytes": tree_bytes(os.path.join(task_dir, "snapshots")),
            "events": state.last_seq,
            "fsyncs": runner.writer.fsync_count,
        }
    )


def load(root: Path) -> None:
    started = time.perf_counter()
    from agentrun.store.local import LocalTaskStore

    imported = time.perf_counter()
    store = LocalTaskStore(root / "home")
    (task_id,) = store.task_ids()
    state = store.load(task_id).state
    loaded = time.perf_counter()
    emit(
        {
            "import_ms": (imported - started) * 1000,
            "load_ms": (loaded - imported) * 1000,
            "messages": len(state.messages),
        }
    )


def main(argv: list[str]) -> None:
    if argv[0] == "run":
        run(Path(argv[1]), int(argv[2]), float(argv[3]))
    else:
        load(Path(argv[1]))


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except ImportError as exc:  # the column is skipped, with the reason, not the whole report
        emit({"skipped": f"not importable here ({exc})"})
