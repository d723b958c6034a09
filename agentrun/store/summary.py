"""The ``summary`` file: a small derived record per task so ``ls`` need not fold logs.

A cache like snapshots: written atomically by the claim holder (rule 4), trusted only while the
log's last segment still has the name and size it records; otherwise ``ls`` folds in memory.
"""

from __future__ import annotations

from typing import Any

from agentrun.core.codec import decode_value, encode_value
from agentrun.core.errors import CorruptRecordError
from agentrun.core.state import State
from agentrun.store.atomic import write_atomic
from agentrun.store.fileops import FileOps

SUMMARY_FORMAT = 1
GOAL_EXCERPT = 200


def summarize(state: State, log_mark: list[Any]) -> dict[str, Any]:
    """The summary of a state; ``log_mark`` is ``[last segment name, its size]``."""
    return {
        "format": SUMMARY_FORMAT,
        "log_mark": log_mark,
        "task_id": state.task_id,
        "goal": state.goal[:GOAL_EXCERPT],
        "agent_name": state.agent.get("name", ""),
        "status": state.status,
        "stop_reason": state.stop_reason,
        "outcome": state.outcome,
        "created_at": state.created_at,
        "updated_at": state.updated_at,
        "last_seq": state.last_seq,
        "steps": state.steps,
        "tool_calls": state.tool_calls,
        "input_tokens": state.input_tokens,
        "output_tokens": state.output_tokens,
        "cost_usd": state.cost_usd,
        "attempts": state.attempts,
        "active_seconds": state.active_seconds,
        "run": state.run,
        "needed_person": state.needed_person,
        "resolutions": state.resolutions,
        "parent": state.parent,
    }


def write_summary(ops: FileOps, path: str, summary: dict[str, Any]) -> None:
    """Replace the summary file atomically."""
    write_atomic(ops, path, encode_value(summary), crash_prefix="summary")


def read_summary(ops: FileOps, path: str) -> dict[str, Any] | None:
    """The summary, or ``None`` if it is missing or unreadable (then it is rebuilt in memory)."""
    try:
        value = decode_value(ops.read_file(path))
    except (OSError, CorruptRecordError):
        return None
    if not isinstance(value, dict) or value.get("format") != SUMMARY_FORMAT:
        return None
    return value
