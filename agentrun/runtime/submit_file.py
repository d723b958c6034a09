"""``submit --from FILE``: one task per line, a plain goal or a JSON object with overrides.

Every line is checked before anything is queued, so a bad line costs nothing: the caller
decides whether to queue the good ones (``--skip-bad``) or none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from agentrun.core.errors import AgentrunError, UsageError
from agentrun.core.ids import validate_task_id
from agentrun.runtime.spec import AgentSpec, SpecOverrides, load_spec, parse_budget

BUDGET_FIELDS = ("max_steps", "max_tokens", "max_cost_usd", "max_time", "max_attempts")
TEXT_FIELDS = ("model", "system", "workspace", "on_unknown", "check", "fsync")
LIST_FIELDS = ("tools", "approve")
KNOWN = {"goal", "id", "agent", *BUDGET_FIELDS, *TEXT_FIELDS, *LIST_FIELDS}


@dataclass(frozen=True, slots=True)
class SubmitEntry:
    """A line that will become a task."""

    line: int
    goal: str
    spec: AgentSpec
    task_id: str | None


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that cannot become a task, and why."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path} line {self.line}: {self.message}"


def parse_submit_file(
    path: Path, agent: Path | None, overrides: SpecOverrides, *, cwd: Path
) -> tuple[list[SubmitEntry], list[BadLine]]:
    """Read ``path``; blank lines and ``#`` comments are skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text") from None
    entries: list[SubmitEntry] = []
    problems: list[BadLine] = []
    for number, text in enumerate(lines, start=1):
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        try:
            entries.append(_entry(number, text, agent, overrides, cwd))
        except (AgentrunError, ValueError) as exc:
            problems.append(BadLine(str(path), number, str(exc)))
    ids = [e.task_id for e in entries if e.task_id]
    for duplicate in {i for i in ids if ids.count(i) > 1}:
        problems.append(BadLine(str(path), 0, f"id {duplicate!r} is used twice"))
    if not entries and not problems:
        raise UsageError(f"{path} has no goals")
    return entries, problems


def _entry(
    number: int, text: str, agent: Path | None, overrides: SpecOverrides, cwd: Path
) -> SubmitEntry:
    if not text.lstrip().startswith("{"):
        spec = load_spec(agent, overrides, cwd=cwd)
        return SubmitEntry(number, text.strip(), spec, None)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise ValueError("a JSON line must be an object with a 'goal'")
    unknown = sorted(set(data) - KNOWN)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r}; known: {', '.join(sorted(KNOWN))}")
    goal = data.get("goal")
    if not isinstance(goal, str) or not goal.strip():
        raise ValueError("'goal' must be a non-empty string")
    task_id = data.get("id")
    if task_id is not None:
        validate_task_id(str(task_id))
    line_agent = Path(data["agent"]) if isinstance(data.get("agent"), str) else agent
    spec = load_spec(line_agent, _merge(overrides, data), cwd=cwd)
    return SubmitEntry(number, goal, spec, task_id)


def _merge(overrides: SpecOverrides, data: dict[str, Any]) -> SpecOverrides:
    changes: dict[str, Any] = {}
    for key in TEXT_FIELDS:
        if key in data:
            if not isinstance(data[key], str):
                raise ValueError(f"{key!r} must be a string")
            changes[key] = data[key]
    for key in LIST_FIELDS:
        if key in data:
            if not isinstance(data[key], list) or not all(isinstance(v, str) for v in data[key]):
                raise ValueError(f"{key!r} must be a list of strings")
            changes[key] = tuple(data[key])
    budget = {k: data[k] for k in BUDGET_FIELDS if k in data}
    if budget:
        parse_budget(budget, "this line")  # so an error names the line, not the command line
        changes["budget"] = {**overrides.budget, **budget}
    return replace(overrides, **changes)
