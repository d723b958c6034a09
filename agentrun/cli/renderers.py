"""Drawing views for people with rich: tables, log lines, diffs, reports. No computation here.

Every text that comes from a task (goals, outputs, arguments) goes in as ``Text``, never as
markup, so a ``[red]`` in a tool output is printed, not interpreted. Rich drops colour when
stdout is not a terminal and honours ``NO_COLOR``; lines are never wrapped by us (soft wrap),
so ``agentrun log T | grep`` sees one event per line.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING, Any

from rich.text import Text

from agentrun.cli.views import EventLine, TaskRow, TaskView, excerpt, format_call
from agentrun.cli.wording import check_words, plural, status_words
from agentrun.core.durations import format_duration

if TYPE_CHECKING:
    from rich.console import Console

    from agentrun.core.diff import RunComparison, StateDiff, Step, StepPair
    from agentrun.core.stats import Stats

# The diff and stats modules (and rich's tables) are imported by the renderers that draw them:
# ``ls`` and ``log`` start in a fresh process each time and must not pay for them.

STATUS_STYLE = {
    "succeeded": "green",
    "failed": "red",
    "cancelled": "dim",
    "needs_attention": "yellow",
    "paused": "cyan",
    "running": "bold blue",
    "interrupted": "magenta",
    "queued": "white",
}
TONE_STYLE = {"ok": "green", "error": "red", "warn": "yellow", "info": "cyan", "plain": ""}
MAX_PAIRS_SHOWN = 20


@cache
def diff_words() -> dict[str, str]:
    """How a step difference (``core.diff``) is named for people."""
    from agentrun.core.diff import ONLY_IN_A, ONLY_IN_B, RESULTS, TEXT, TOOL_CALLS

    return {
        TEXT: "text",
        TOOL_CALLS: "tool calls",
        RESULTS: "tool results",
        ONLY_IN_A: "only in A",
        ONLY_IN_B: "only in B",
    }


def status_text(status: str) -> Text:
    """A status for people (``needs attention``), coloured by meaning."""
    return Text(status_words(status), style=STATUS_STYLE.get(status, ""))


def when(ts: str) -> str:
    """``2026-11-26 08:15:02`` from an ISO-8601 UTC timestamp."""
    return ts[:19].replace("T", " ")


# -- ls ----------------------------------------------------------------------------------------


def render_rows(out: Console, rows: list[TaskRow]) -> None:
    """The ``ls`` table: fixed-width columns, the status coloured, the goal cut to fit.

    Written as whole lines with styles rendered once per status: ``ls`` over 10,000 tasks must
    not pay rich's per-cell layout (tens of microseconds a row).
    """
    if not rows:
        out.print("no tasks")
        return
    header = ("id", "status", "steps", "tokens", "cost", "age", "goal")
    cells = [
        (
            r.task_id,
            _ls_status(r),
            str(r.steps),
            f"{r.tokens:,}",
            f"${r.cost_usd:.4f}" if r.cost_usd else "-",
            format_duration(r.age_seconds),
            r.goal.splitlines()[0] if r.goal else "",
        )
        for r in rows
    ]
    widths = [max(len(header[i]), *(len(c[i]) for c in cells)) for i in range(6)]
    room = out.width - sum(widths) - 2 * 6 if out.is_terminal else None
    styled: dict[str, str] = {}
    lines = [_ls_line(header, widths, header[1], room)]
    for row, c in zip(rows, cells, strict=True):
        status = styled.get(c[1])
        if status is None:
            with out.capture() as captured:
                out.print(Text(c[1], style=STATUS_STYLE.get(row.status, "")), end="")
            status = styled[c[1]] = captured.get()
        lines.append(_ls_line(c, widths, status, room))
    out.file.write("\n".join(lines) + "\n")
    out.file.flush()


def _ls_status(r: TaskRow) -> str:
    status = status_words(r.status)
    if r.status == "running" and r.run:
        since = when(r.run.get("since", ""))
        status += f" (pid {r.run.get('pid')} on {r.run.get('host')} since {since})"
    return status


def _ls_line(cells: tuple[str, ...], widths: list[int], status: str, room: int | None) -> str:
    task_id, plain_status, steps, tokens, cost, age, goal = cells
    if room is not None and len(goal) > max(room, 10):
        goal = goal[: max(room, 10) - 1] + "…"
    padding = " " * (widths[1] - len(plain_status))
    return "  ".join(
        (
            task_id.ljust(widths[0]),
            status + padding,
            steps.rjust(widths[2]),
            tokens.rjust(widths[3]),
            cost.rjust(widths[4]),
            age.rjust(widths[5]),
            goal,
        )
    ).rstrip()


# -- show --------------------------------------------------------------------------------------


def render_task(out: Console, view: TaskView) -> None:
    s = view.state
    head = Text.assemble((s["task_id"], "bold"), "  ", status_text(s["status"]))
    if view.at_seq is not None:
        head.append(f"  as of event {view.at_seq}", style="dim")
    out.print(head)
    _field(out, "goal", s["goal"])
    agent = s["agent"]
    _field(out, "agent", f"{agent.get('name', '')} ({agent.get('model', '?')})")
    if s.get("parent"):
        p = s["parent"]
        _field(out, "fork of", f"{p.get('task_id')} at event {p.get('seq')}")
    if s.get("run") and s["status"] in ("running", "interrupted"):
        r = s["run"]
        _field(out, "run", f"pid {r.get('pid')} on {r.get('host')} since {when(r['since'])}")
    _field(
        out,
        "usage",
        f"{plural(s['steps'], 'step')} · {plural(s['tool_calls'], 'tool call')} · "
        f"{s['input_tokens']:,}+{s['output_tokens']:,} tokens · ${s['cost_usd']:.4f} · "
        f"{format_duration(s['active_seconds'])} active · {plural(s['attempts'], 'run')}",
    )
    limits = [f"{b.name} {_budget_use(b.name, b.used, b.limit)}" for b in view.budget if b.limit]
    if limits:
        _field(out, "budget", " · ".join(limits))
    if s.get("stop_reason") == "needs_attention" and s.get("status") != "needs_attention":
        # `resolve` settled what the run stopped for; its old instructions no longer apply.
        _field(out, "stopped", "needs attention, settled since: `agentrun resume` continues")
    elif s.get("stop_reason"):
        _field(out, "stopped", f"{status_words(s['stop_reason'])}: {s['stop_detail']}")
    if s.get("answer"):
        _field(out, "answer", s["answer"])
    if s.get("check"):
        _field(out, "check", check_words(s["check"]))
    heading = "conversation" if s["messages"] else "conversation: none yet (no model turn)"
    out.print(Text(heading, style="bold"))
    for message in s["messages"]:
        out.print(_message_line(message), soft_wrap=True)
    if s.get("compacted"):
        tokens = sum(m.get("tokens", 0) for m in view.context)
        out.print(
            Text(
                f"context as the model sees it ({plural(len(s['compactions']), 'compaction')}, "
                f"~{tokens:,} tokens)",
                style="bold",
            )
        )
        for message in view.context:
            out.print(_message_line(message), soft_wrap=True)
    for call in view.pending_calls:
        kind = "in doubt" if call["status"] == "intended" else call["status"]
        out.print(
            Text.assemble(
                ("pending ", "yellow"),
                f"{call['call_id']}: {format_call(call['tool'], call['arguments'])} ({kind})",
            ),
            soft_wrap=True,
        )
    for f in view.files:
        before = (f.get("before") or "absent")[:12]
        after = (f.get("after") or "deleted")[:12]
        out.print(Text(f"changed {f['path']}: {before} → {after} (event {f['seq']})"))


def _field(out: Console, name: str, value: str) -> None:
    out.print(Text.assemble((f"{name:<8}", "dim"), " ", value), soft_wrap=True)


def _budget_use(name: str, used: float, limit: float) -> str:
    """``used/limit`` in the budget's own unit: ``12/200``, ``1m05s/2h00m``, ``$0.0312/$5.00``.

    ``max_attempts`` counts crashed runs, not runs (the usage line counts those): it says so.
    """
    if name == "max_attempts":
        return f"{used:,}/{limit:,} runs crashed"
    if name == "max_time":
        return f"{format_duration(used)}/{format_duration(limit)}"
    if name == "max_cost_usd":
        cap = f"{limit:.2f}" if round(limit, 2) == limit else f"{limit:g}"  # $5.00, $0.001
        return f"${used:.4f}/${cap}"
    return (
        f"{used:,}/{limit:,}"
        if isinstance(used, int) and isinstance(limit, int)
        else f"{used:g}/{limit:g}"
    )


def _message_line(message: dict[str, Any]) -> Text:
    role = message.get("role", "?")
    line = Text(f"  {role:<9} ", style="dim")
    content = excerpt(message.get("content"), 100)
    if role == "tool":
        line.append(f"{message.get('name') or message.get('tool_call_id')}: ", style="dim")
    if content:
        line.append(content)
    calls = message.get("tool_calls") or []
    if calls:
        line.append(
            (" → " if content else "→ ")
            + ", ".join(format_call(c["name"], c.get("arguments")) for c in calls),
            style="cyan",
        )
    return line


# -- log ---------------------------------------------------------------------------------------


def event_text(line: EventLine) -> Text:
    """One log line: ``[task] seq  time  kind  summary``."""
    text = Text()
    if line.task_id:
        text.append(f"{line.task_id}  ", style="bold")
    text.append(f"{line.seq:>6}  ", style="dim")
    text.append(f"{when(line.ts)}  ", style="dim")
    text.append(f"{line.kind:<17} ", style=TONE_STYLE.get(line.tone, ""))
    text.append(line.summary)
    return text


def render_event(out: Console, line: EventLine) -> None:
    out.print(event_text(line), soft_wrap=True, crop=False)


def render_event_full(out: Console, line: EventLine, record: dict[str, Any]) -> None:
    import json

    from rich.json import JSON

    render_event(out, line)
    # soft wrap: a long output stays one JSON line, so the text can be copied or parsed back
    out.print(JSON(json.dumps(record, ensure_ascii=False, default=str), indent=2), soft_wrap=True)


# -- diff --------------------------------------------------------------------------------------


def render_state_diff(out: Console, d: StateDiff) -> None:
    out.print(Text(f"--- {d.task_id} at event {d.from_seq}", style="red"))
    out.print(Text(f"+++ {d.task_id} at event {d.to_seq}", style="green"))
    out.print(Text(f"{plural(d.events, 'event')}: " + _kinds(d.kinds), style="dim"))
    if d.status_before != d.status_after:
        out.print(
            Text.assemble(
                "status  ", status_text(d.status_before), " → ", status_text(d.status_after)
            )
        )
    if d.outcome:
        out.print(Text(f"outcome {d.outcome}: {excerpt(d.answer, 100)}"), soft_wrap=True)
    u = d.usage
    out.print(
        Text(
            f"usage   +{plural(u.steps, 'step')} · +{plural(u.tool_calls, 'tool call')} · "
            f"+{u.input_tokens:,}/+{u.output_tokens:,} tokens · +${u.cost_usd:.4f} · "
            f"+{format_duration(u.active_seconds)} active"
            + (f" · +{plural(u.attempts, 'run')}" if u.attempts else "")
        )
    )
    if d.messages_replaced:
        out.print(Text(f"@@ messages replaced by compaction: {len(d.messages_replaced)} @@"))
    out.print(Text(f"@@ messages +{len(d.messages_added)} @@", style="cyan"))
    for message in d.messages_added:
        line = _message_line(message)
        line.stylize("green")
        out.print(Text("+") + line, soft_wrap=True)
    if d.calls:
        out.print(Text(f"@@ tool calls {len(d.calls)} @@", style="cyan"))
        for c in d.calls:
            style = "red" if c.outcome in ("failed", "denied", "skipped") else ""
            result = f' → "{excerpt(c.output, 60)}"' if c.output is not None else ""
            out.print(
                Text(
                    f"  {format_call(c.tool, c.arguments)}  {c.effect or '-'}  {c.outcome}{result}",
                    style=style,
                ),
                soft_wrap=True,
            )
    if d.files:
        out.print(Text(f"@@ files {len(d.files)} @@", style="cyan"))
        for f in d.files:
            mark = {"added": ("A", "green"), "deleted": ("D", "red")}.get(f.change, ("M", "yellow"))
            out.print(
                Text(
                    f"{mark[0]} {f.path}  {(f.before or 'absent')[:12]} → "
                    f"{(f.after or 'deleted')[:12]}",
                    style=mark[1],
                )
            )


def _kinds(kinds: dict[str, int]) -> str:
    return ", ".join(f"{n} {k}" for k, n in kinds.items()) or "none"


def render_comparison(out: Console, c: RunComparison) -> None:
    out.print(Text(f"--- A {c.task_a} ({plural(c.steps_a, 'step')})", style="red"))
    out.print(Text(f"+++ B {c.task_b} ({plural(c.steps_b, 'step')})", style="green"))
    if c.fork is not None:
        child = "B" if c.fork.child == c.task_b else "A"
        out.print(
            Text(
                f"{child} is a fork of {c.fork.parent} at event {c.fork.seq}; "
                f"step {c.fork.step} is the first it ran itself"
            )
        )
    if c.first_divergence is None:
        out.print(Text(f"no divergence: the runs took the same {plural(c.common_steps, 'step')}"))
        return
    if c.common_steps:
        same = "step 1 is" if c.common_steps == 1 else f"steps 1-{c.common_steps} are"
        out.print(Text(f"{same} the same", style="dim"))
    d = c.first_divergence
    note = " — the fork point" if c.at_fork_point else ""
    out.print(Text(f"first divergence at step {d.number}{note}", style="bold"))
    _pair(out, d)
    rest = c.after[1:]
    if rest:
        out.print(Text(f"@@ after it: {plural(len(rest), 'more step')} @@", style="cyan"))
    for pair in rest[:MAX_PAIRS_SHOWN]:
        _pair(out, pair)
    if len(rest) > MAX_PAIRS_SHOWN:
        hidden = plural(len(rest) - MAX_PAIRS_SHOWN, "more step")
        out.print(Text(f"… {hidden} (--json has them all)"))


def _pair(out: Console, pair: StepPair) -> None:
    if not pair.differences:
        out.print(Text(f"  step {pair.number}: same", style="dim"))
        return
    words = ", ".join(diff_words()[d] for d in pair.differences)
    out.print(Text(f"@@ step {pair.number}: {words} @@", style="cyan"))
    if pair.a is not None:
        out.print(_step_line("-", "A", pair.a, "red"), soft_wrap=True)
    if pair.b is not None:
        out.print(_step_line("+", "B", pair.b, "green"), soft_wrap=True)


def _step_line(sign: str, name: str, step: Step, style: str) -> Text:
    # No seq: a fork inherited the turn, or the task was squashed and its events are gone.
    where = (
        f"event {step.seq}"
        if step.seq is not None
        else ("inherited" if step.inherited else "squashed")
    )
    parts = [f'"{excerpt(step.text, 50)}"'] if step.text else []
    for call in step.calls:
        result = f' = "{excerpt(call.output, 40)}"' if call.output is not None else ""
        parts.append(format_call(call.name, call.arguments, 60) + result)
    return Text(f"{sign} {name} {where}: {' · '.join(parts) or 'answered'}", style=style)


# -- stats -------------------------------------------------------------------------------------


def render_stats(out: Console, s: Stats) -> None:
    window = f"since {when(s.since)} UTC" if s.since else "all time"
    agent = f", agent {s.agent}" if s.agent else ""
    out.print(Text(f"{plural(s.tasks, 'task')} ({window}{agent})", style="bold"))
    rows = [
        ("completion rate", f"{_pct(s.completion_rate)} ({s.finished} of {s.tasks} finished)"),
        (
            "success rate",
            f"{_pct(s.success_rate)} ({s.by_status.get('succeeded', 0)} of "
            f"{plural(s.finished, 'finished task')} succeeded)",
        ),
        (
            "by status",
            " · ".join(f"{status_words(k)} {n}" for k, n in s.by_status.items() if n) or "-",
        ),
        ("wall time", _dist(s.wall_seconds, format_duration)),
        ("active time", _dist(s.active_seconds, format_duration)),
        ("steps", _dist(s.steps, lambda v: f"{v:g}")),
        ("tokens", f"{s.input_tokens:,} in · {s.output_tokens:,} out"),
        ("cost", f"${s.cost_usd:.4f}"),
        ("resumes", f"{s.resumes} ({_num2(s.resumes_per_task)} per task that ran)"),
        ("needed a person", f"{plural(s.needed_person, 'task')} ({_pct(s.needed_person_rate)})"),
        ("decisions", _decisions(s.resolutions)),
        (
            "reconciled",
            f"{plural(s.settled_by_reconcile, 'in-doubt call')} settled by reconcile",
        ),
    ]
    width = max(len(name) for name, _value in rows)
    for name, value in rows:  # plain lines: no cell padding after the value
        out.print(Text.assemble((name.ljust(width), "dim"), "  ", value))


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.0f}%"


def _num2(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _dist(d: Any, fmt: Any) -> str:
    if d.median is None:
        return "- (no finished tasks)"
    return f"median {fmt(d.median)} · p90 {fmt(d.p90)} (finished tasks)"


def _decisions(resolutions: dict[str, dict[str, int]]) -> str:
    parts = [
        f"{decision}: " + ", ".join(f"{who} {n}" for who, n in sorted(by.items()))
        for decision, by in sorted(resolutions.items())
    ]
    return " · ".join(parts) or "-"


def render_lines(out: Console, lines: Iterable[str]) -> None:
    for line in lines:
        out.print(Text(line), soft_wrap=True)
