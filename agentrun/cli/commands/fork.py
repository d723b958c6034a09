"""``agentrun fork``: a new task from another's state at an event, optionally with a new agent."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from agentrun.cli.commands.run import (
    AgentOpt,
    MaxAttempts,
    MaxCost,
    MaxSteps,
    MaxTime,
    MaxTokens,
    ModelOpt,
    QuietOpt,
    budget_options,
    run_in_foreground,
)
from agentrun.cli.output import print_json, print_json_line, warn
from agentrun.cli.settings import settings


def fork(
    ctx: typer.Context,
    task: Annotated[str, typer.Argument(help="Task id or prefix to fork.")],
    at: Annotated[
        int | None,
        typer.Option("--at", metavar="SEQ", help="Start from the state after this event."),
    ] = None,
    agent: AgentOpt = None,
    model: ModelOpt = None,
    system: Annotated[
        str | None, typer.Option("--system", metavar="TEXT", help="System prompt.")
    ] = None,
    tool: Annotated[
        list[str] | None,
        typer.Option("--tool", "-t", metavar="TOOL", help="Toolset, file or module (repeat)."),
    ] = None,
    workspace: Annotated[
        str | None, typer.Option("--workspace", "-w", metavar="DIR", help="Work dir.")
    ] = None,
    approve: Annotated[
        list[str] | None,
        typer.Option("--approve", metavar="TOOL", help="Tool that needs a yes (repeat)."),
    ] = None,
    on_unknown: Annotated[
        str | None, typer.Option("--on-unknown", metavar="POLICY", help="stop | retry | skip")
    ] = None,
    max_steps: MaxSteps = None,
    max_tokens: MaxTokens = None,
    max_cost_usd: MaxCost = None,
    max_time: MaxTime = None,
    max_attempts: MaxAttempts = None,
    task_id: Annotated[
        str | None, typer.Option("--id", metavar="ID", help="Choose the new task's id.")
    ] = None,
    drop_pending: Annotated[
        bool,
        typer.Option(
            "--drop-pending",
            help="Start before the model turn whose calls are unsettled at --at.",
        ),
    ] = False,
    run_now: Annotated[bool, typer.Option("--run", help="Run the fork at once.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    quiet: QuietOpt = False,
) -> int:
    """Create a task that starts from TASK's state at an event (default: its last)."""
    from agentrun.runtime.fork import fork_task
    from agentrun.runtime.spec import SpecOverrides

    store = settings(ctx).store()
    parent = store.resolve(task)
    seq = at if at is not None else store.summary(parent)["last_seq"]
    overrides = SpecOverrides(
        model=model,
        system=system,
        tools=tuple(tool or ()),
        workspace=workspace,
        budget=budget_options(max_steps, max_tokens, max_cost_usd, max_time, max_attempts),
        approve=tuple(approve or ()),
        on_unknown=on_unknown,
    )
    result = fork_task(
        store,
        parent,
        seq,
        agent_file=agent,
        overrides=overrides,
        cwd=Path.cwd(),
        drop_pending=drop_pending,
        task_id=task_id,
    )
    document = {
        "task_id": result.task_id,
        "parent": {"task_id": result.parent, "seq": result.seq, "steps": result.steps},
        "messages": result.messages,
        "agent_changed": result.agent_changed,
        "dropped_calls": result.dropped_calls,
        "warnings": result.warnings,
    }
    if as_json:
        (print_json_line if run_now else print_json)(document)
    else:
        print(result.task_id, flush=True)  # the id first, so a script can capture it
        for call in result.dropped_calls:
            warn(f"dropped {call['call_id']} ({call['tool']}): the fork asks its model again")
        for text in result.warnings:
            warn(text)
        print(
            f"forked {result.parent} at event {result.seq} (after step {result.steps}) as "
            f"{result.task_id}; `agentrun resume {result.task_id}` runs it",
            file=sys.stderr,
        )
    if not run_now:
        return 0
    sys.stdout.flush()
    return run_in_foreground(ctx, result.task_id, as_json=as_json, quiet=quiet, base_url=None)


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""
    app.command()(fork)
