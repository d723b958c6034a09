"""DBOS Transact with its SQLite system database: one workflow, one ``@DBOS.step`` per agent step.

The step returns the step's two messages (assistant turn with its tool call, tool result), which
DBOS records (pickled) in ``operation_outputs`` before the workflow goes on; the workflow keeps
the conversation in memory as an agent would. The database uses DBOS's defaults: SQLite's
rollback journal and ``synchronous=FULL`` (this build's default; the driver reports both).
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

from bench.systems.content import (
    TOOL_NAME,
    assistant_text,
    call_id,
    emit,
    tenth_us,
    tool_output,
    tree_bytes,
)

WORKFLOW_ID = "compare-agent"


def db_path(root: Path) -> Path:
    return root / "dbos.sqlite"


def messages_of_step(i: int) -> list[dict[str, Any]]:
    return [
        {
            "role": "assistant",
            "content": assistant_text(i),
            "tool_calls": [{"id": call_id(i), "name": TOOL_NAME, "arguments": {"n": i}}],
        },
        {"role": "tool", "tool_call_id": call_id(i), "content": tool_output(i)},
    ]


def run(root: Path, steps: int, cap: float) -> None:
    from dbos import DBOS, SetWorkflowID

    logging.getLogger("dbos").setLevel(logging.WARNING)
    url = f"sqlite:///{db_path(root)}"
    DBOS(
        config={
            "name": "bench-compare",
            "system_database_url": url,
            "run_admin_server": False,
            "log_level": "WARNING",
        }
    )
    stamps: list[float] = []

    @DBOS.step()
    def agent_step(i: int) -> list[dict[str, Any]]:
        return messages_of_step(i)

    @DBOS.workflow()
    def agent(steps: int, deadline: float) -> int:
        # A benchmark's cap, not workflow logic: a real workflow must stay deterministic.
        messages: list[dict[str, Any]] = []
        for i in range(steps):
            messages += agent_step(i)
            stamps.append(time.perf_counter())
            if time.time() > deadline:
                break
        return len(messages)

    DBOS.launch()
    cpu_started, started = time.process_time(), time.perf_counter()
    with SetWorkflowID(WORKFLOW_ID):
        count = agent(steps, time.time() + cap)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    DBOS.destroy()
    import sqlite3

    conn = sqlite3.connect(str(db_path(root)))
    pragmas = {
        "journal_mode": conn.execute("PRAGMA journal_mode").fetchone()[0],
        "synchronous": conn.execute("PRAGMA synchronous").fetchone()[0],
    }
    conn.close()
    first, last = tenth_us(stamps)
    path = db_path(root)
    emit(
        {
            "steps": count // 2,
            "capped": count // 2 < steps,
            "seconds": seconds,
            "cpu_seconds": cpu,
            "first_us": first,
            "last_us": last,
            "bytes": tree_bytes(str(path), f"{path}-journal", f"{path}-wal"),
            "pragmas": pragmas,
        }
    )


def load(root: Path) -> None:
    started = time.perf_counter()
    from dbos import DBOSClient

    logging.getLogger("dbos").setLevel(logging.WARNING)
    imported = time.perf_counter()
    client = DBOSClient(system_database_url=f"sqlite:///{db_path(root)}")
    messages = [m for step in client.list_workflow_steps(WORKFLOW_ID) for m in step["output"]]
    loaded = time.perf_counter()
    client.destroy()
    emit(
        {
            "import_ms": (imported - started) * 1000,
            "load_ms": (loaded - imported) * 1000,
            "messages": len(messages),
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
