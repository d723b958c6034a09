"""LangGraph with ``SqliteSaver``: one ``invoke`` per agent step with the step's new messages.

The graph is the minimal chat graph: a ``messages`` channel with the ``add_messages`` reducer
(mode ``full``) or a ``DeltaChannel`` folding the same reducer (mode ``delta``, beta in
LangGraph ≥ 1.1: checkpoints store a sentinel and the writes, with a full snapshot every
``snapshot_frequency`` = 100 updates), one pass-through node, ``durability="sync"``. The saver's
own setup puts the database in WAL mode; ``PRAGMA synchronous=FULL`` is set on the connection
(so every commit fsyncs the WAL, as durable as agentrun's fsync = "always").
"""

import sys
import time
from functools import reduce
from pathlib import Path
from typing import Annotated, Any, TypedDict

from bench.systems.content import (
    TOOL_NAME,
    assistant_text,
    call_id,
    emit,
    tenth_us,
    tool_output,
    tree_bytes,
)

THREAD = {"configurable": {"thread_id": "compare"}}
SIZE_CAP = 3 * 1024**3  # stop a run whose database passes 3 GiB (the full-state mode does)


def build_graph(mode: str) -> Any:
    from langgraph.graph import END, START, StateGraph
    from langgraph.graph.message import add_messages

    if mode == "delta":
        from langgraph.channels import DeltaChannel

        def add_batches(state: list[Any], writes: list[Any]) -> list[Any]:
            return reduce(add_messages, writes, state)

        # The annotations must be objects when LangGraph reads them (this module does not use
        # ``from __future__ import annotations`` for that reason).
        class DeltaState(TypedDict):
            messages: Annotated[list, DeltaChannel(add_batches)]

        schema: Any = DeltaState
    else:

        class FullState(TypedDict):
            messages: Annotated[list, add_messages]

        schema = FullState

    builder = StateGraph(schema)
    builder.add_node("step", lambda state: {})
    builder.add_edge(START, "step")
    builder.add_edge("step", END)
    return builder


def connect(path: Path) -> tuple[Any, Any]:
    import sqlite3

    from langgraph.checkpoint.sqlite import SqliteSaver

    conn = sqlite3.connect(str(path), check_same_thread=False)
    saver = SqliteSaver(conn)
    saver.setup()  # journal_mode=WAL
    conn.execute("PRAGMA synchronous=FULL")
    return conn, saver


def db_files(path: Path) -> list[str]:
    return [str(path), f"{path}-wal", f"{path}-shm", f"{path}-journal"]


def run(root: Path, mode: str, steps: int, cap: float) -> None:
    from langchain_core.messages import AIMessage, ToolMessage

    path = root / "langgraph.sqlite"
    conn, saver = connect(path)
    pragmas = {
        "journal_mode": conn.execute("PRAGMA journal_mode").fetchone()[0],
        "synchronous": conn.execute("PRAGMA synchronous").fetchone()[0],
    }
    graph = build_graph(mode).compile(checkpointer=saver)
    stamps: list[float] = []
    cpu_started, started = time.process_time(), time.perf_counter()
    deadline = started + cap
    done = 0
    for i in range(steps):
        ai = AIMessage(
            content=assistant_text(i),
            tool_calls=[{"name": TOOL_NAME, "args": {"n": i}, "id": call_id(i)}],
            id=f"ai-{i}",
        )
        result = ToolMessage(content=tool_output(i), tool_call_id=call_id(i), id=f"tool-{i}")
        graph.invoke({"messages": [ai, result]}, THREAD, durability="sync")
        done += 1
        stamps.append(time.perf_counter())
        if stamps[-1] > deadline:
            break
        if done % 25 == 0 and tree_bytes(*db_files(path)) > SIZE_CAP:
            break
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    checkpoints = conn.execute("SELECT count(*) FROM checkpoints").fetchone()[0]
    conn.close()  # checkpoints the WAL into the database file
    first, last = tenth_us(stamps)
    emit(
        {
            "steps": done,
            "capped": done < steps,
            "seconds": seconds,
            "cpu_seconds": cpu,
            "first_us": first,
            "last_us": last,
            "bytes": tree_bytes(*db_files(path)),
            "checkpoints": checkpoints,
            "pragmas": pragmas,
        }
    )


def load(root: Path, mode: str) -> None:
    started = time.perf_counter()
    import sqlite3

    from langgraph.checkpoint.sqlite import SqliteSaver

    builder = build_graph(mode)
    imported = time.perf_counter()
    conn = sqlite3.connect(str(root / "langgraph.sqlite"), check_same_thread=False)
    graph = builder.compile(checkpointer=SqliteSaver(conn))
    messages = graph.get_state(THREAD).values["messages"]
    loaded = time.perf_counter()
    conn.close()
    emit(
        {
            "import_ms": (imported - started) * 1000,
            "load_ms": (loaded - imported) * 1000,
            "messages": len(messages),
        }
    )


def main(argv: list[str]) -> None:
    if argv[0] == "run":
        run(Path(argv[1]), argv[2], int(argv[3]), float(argv[4]))
    else:
        load(Path(argv[1]), argv[2])


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except ImportError as exc:  # the column is skipped, with the reason, not the whole report
        emit({"skipped": f"not importable here ({exc})"})
