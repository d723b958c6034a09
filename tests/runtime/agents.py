"""Building scripted test agents in a temp directory: script, spec, workspace, ledger."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LEDGER_TOOLS = Path(__file__).with_name("ledger_tools.py")


@dataclass(frozen=True)
class TestAgent:
    """Paths of a test agent: its spec file, workspace and ledger."""

    spec: Path
    workspace: Path
    ledger: Path

    def env(self) -> dict[str, str]:
        """Environment a real process needs to run this agent's tools."""
        return {"AGENTRUN_LEDGER": str(self.ledger)}


def call(name: str, **arguments: Any) -> dict[str, Any]:
    """One scripted tool call."""
    return {"name": name, "arguments": arguments}


def turn(*calls: dict[str, Any], content: str = "", delay_s: float = 0) -> dict[str, Any]:
    """One scripted model turn."""
    data: dict[str, Any] = {"content": content, "tool_calls": list(calls)}
    if delay_s:
        data["delay_s"] = delay_s
    return data


# A mixed workload: reads, an idempotent write, file edits, side effects with and without
# reconcile, several calls in one turn, then finish. Deterministic outputs.
MIXED_TURNS = [
    turn(call("lookup", key="a"), content="start"),
    turn(call("write_file", path="out.txt", content="one\n")),
    turn(call("charge", amount=5)),
    turn(call("lookup", key="b"), call("store_value", key="k", value="v")),
    turn(call("notify", text="hello")),
    turn(call("edit_file", path="out.txt", old="one", new="two")),
    turn(call("charge", amount=7), call("lookup", key="c")),
    turn(call("notify", text="bye")),
    turn(call("finish", outcome="succeeded", summary="all done")),
]
# A short task for queue tests: a read, a charge, a reconciled notify, done.
QUICK_TURNS = [
    turn(call("lookup", key="a")),
    turn(call("charge", amount=1)),
    turn(call("notify", text="hi")),
    turn(content="done"),
]


def make_agent(
    root: Path,
    turns: list[dict[str, Any]] | None = None,
    *,
    extra: str = "",
    tools: tuple[str, ...] = ("files",),
) -> TestAgent:
    """Write a scripted agent under ``root`` and return its paths."""
    root.mkdir(parents=True, exist_ok=True)
    workspace = root / "workspace"
    workspace.mkdir(exist_ok=True)
    (root / "script.json").write_text(json.dumps({"turns": turns or MIXED_TURNS}))
    tool_list = json.dumps([*tools, str(LEDGER_TOOLS)])
    (root / "agent.toml").write_text(
        f'name = "test"\nmodel = "scripted:script.json"\ntools = {tool_list}\n'
        f'workspace = "workspace"\n{extra}'
    )
    return TestAgent(root / "agent.toml", workspace, root / "ledger.jsonl")
