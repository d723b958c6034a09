"""``agentrun start``, ``resume`` and ``resolve``: running tasks and settling their calls."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from agentrun.cli.settings import settings
from agentrun.core.errors import EXIT_OK, UsageError

AgentOpt = Annotated[Path | None, typer.Option("--agent", "-a", help="Agent spec (TOML).")]
ModelOpt = Annotated[str | None, typer.Option("--model", "-m", help="provider:model")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Stream events as JSON lines.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress; never ask.")]


def _budget(
    max_steps: int | None,
    max_tokens: int | None,
    max_cost_usd: float | None,
    max_time: str | None,
    max_attempts: int | None,
) -> dict[str, object]:
    values = {
        "max_steps": max_steps,
        "max_tokens": max_tokens,
        "max_cost_usd": max_cost_usd,
        "max_time": max_time,
        "max_attempts": max_attempts,
    }
    return {k: v for k, v in values.items() if v is not None}


MaxSteps = Annotated[int | None, typer.Option("--max-steps", help="Model turns at most.")]
MaxTokens = Annotated[int | None, typer.Option("--max-tokens", help="Tokens at most.")]
MaxCost = Annotated[float | None, typer.Option("--max-cost-usd", help="Dollars at most.")]
MaxTime = Annotated[str | None, typer.Option("--max-time", help="Active time at most, e.g. 2h.")]
MaxAttempts = Annotated[
    int | None, typer.Option("--max-attempts", help="Crashed runs before the task fails.")
]


def start(
    ctx: typer.Context,
    goal: Annotated[str | None, typer.Argument(help="What the agent should do.")] = None,
    agent: AgentOpt = None,
    model: ModelOpt = None,
    system: Annotated[str | None, typer.Option("--system", help="System prompt.")] = None,
    tool: Annotated[
        list[str] | None, typer.Option("--tool", "-t", help="Toolset, file or module (repeat).")
    ] = None,
    workspace: Annotated[str | None, typer.Option("--workspace", "-w", help="Work dir.")] = None,
    task_id: Annotated[str | None, typer.Option("--id", help="Choose the task id.")] = None,
    approve: Annotated[
        list[str] | None, typer.Option("--approve", help="Tool that needs a yes (repeat).")
    ] = None,
    on_unknown: Annotated[
        str | None, typer.Option("--on-unknown", help="stop | retry | skip")
    ] = None,
    check: Annotated[str | None, typer.Option("--check", help="Success check command.")] = None,
    fsync: Annotated[str | None, typer.Option("--fsync", help="always | batch")] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help="Model endpoint.")] = None,
    max_steps: MaxSteps = None,
    max_tokens: MaxTokens = None,
    max_cost_usd: MaxCost = None,
    max_time: MaxTime = None,
    max_attempts: MaxAttempts = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> int:
    """Create a task and run it in the foreground with live progress."""
    from agentrun.runtime.spec import SpecOverrides, load_spec
    from agentrun.runtime.tasks import create_task

    if agent is None and model is None:
        raise UsageError("give an agent file (--agent FILE) or at least --model")
    overrides = SpecOverrides(
        model=model,
        system=system,
        tools=tuple(tool or ()),
        workspace=workspace,
        budget=_budget(max_steps, max_tokens, max_cost_usd, max_time, max_attempts),
        approve=tuple(approve or ()),
        on_unknown=on_unknown,
        check=check,
        fsync=fsync,
    )
    spec = load_spec(agent, overrides, cwd=Path.cwd())
    if not goal:
        raise UsageError('say what the agent should do: agentrun start "GOAL" --agent FILE')
    store = settings(ctx).store()
    new_id = create_task(store, spec, goal, task_id=task_id)
    if not as_json:
        print(new_id, flush=True)  # the id first, so a script can capture it
    return _run(ctx, new_id, as_json=as_json, quiet=quiet, base_url=base_url)


def resume(
    ctx: typer.Context,
    task: Annotated[str | None, typer.Argument(help="Task id or prefix.")] = None,
    all_tasks: Annotated[bool, typer.Option("--all", help="Every interrupted task.")] = False,
    retry_unknown: Annotated[
        bool, typer.Option("--retry-unknown", help="Run in-doubt calls again.")
    ] = False,
    skip_unknown: Annotated[
        bool, typer.Option("--skip-unknown", help="Give up on in-doubt calls.")
    ] = False,
    base_url: Annotated[str | None, typer.Option("--base-url", help="Model endpoint.")] = None,
    max_steps: MaxSteps = None,
    max_tokens: MaxTokens = None,
    max_cost_usd: MaxCost = None,
    max_time: MaxTime = None,
    max_attempts: MaxAttempts = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> int:
    """Continue interrupted tasks from their last durable event."""
    from agentrun.runtime.spec import parse_budget as check_budget

    if retry_unknown and skip_unknown:
        raise UsageError("choose one of --retry-unknown and --skip-unknown")
    unknown = "retry" if retry_unknown else "skip" if skip_unknown else None
    budget = check_budget(
        _budget(max_steps, max_tokens, max_cost_usd, max_time, max_attempts), "the command line"
    )
    store = settings(ctx).store()
    if all_tasks:
        ids = [i for i in store.task_ids() if _resumable(store.summary(i)["status"])]
    elif task:
        ids = [store.resolve(task)]
    else:
        raise UsageError("name a task to resume, or pass --all")
    code = EXIT_OK
    for task_id in ids:
        code = max(
            code,
            _run(
                ctx,
                task_id,
                as_json=as_json,
                quiet=quiet,
                base_url=base_url,
                unknown=unknown,
                budget=budget,
            ),
        )
    return code


def resolve(
    ctx: typer.Context,
    task: Annotated[str, typer.Argument(help="Task id or prefix.")],
    call: Annotated[str, typer.Argument(help="The call id (see `agentrun show`).")],
    approve: Annotated[bool, typer.Option("--approve", help="Allow the call to run.")] = False,
    deny: Annotated[bool, typer.Option("--deny", help="Refuse the call.")] = False,
    retry: Annotated[bool, typer.Option("--retry", help="Run the in-doubt call again.")] = False,
    skip: Annotated[bool, typer.Option("--skip", help="Give up on the in-doubt call.")] = False,
    result: Annotated[
        str | None, typer.Option("--result", help="The call's result, as JSON.")
    ] = None,
) -> int:
    """Settle an approval or an in-doubt call of a task that needs attention."""
    from agentrun.runtime.tasks import resolve_call

    chosen = [
        name
        for name, flag in (
            ("approve", approve),
            ("deny", deny),
            ("retry", retry),
            ("skip", skip),
            ("result", result is not None),
        )
        if flag
    ]
    if len(chosen) != 1:
        raise UsageError("give exactly one of --approve, --deny, --retry, --skip, --result JSON")
    store = settings(ctx).store()
    task_id = store.resolve(task)
    print(resolve_call(store, task_id, call, chosen[0], result), file=sys.stderr)
    return EXIT_OK


def _resumable(status: str) -> bool:
    return status in ("running", "paused", "queued")


def _run(
    ctx: typer.Context,
    task_id: str,
    *,
    as_json: bool,
    quiet: bool,
    base_url: str | None,
    unknown: str | None = None,
    budget: dict[str, object] | None = None,
) -> int:
    from agentrun.cli.progress import CliReporter
    from agentrun.models.options import ModelOptions
    from agentrun.runtime.runner import Runner, RunOptions
    from agentrun.runtime.signals import StopFlag, stop_on_signals

    interactive = not quiet and not as_json and sys.stdin.isatty() and sys.stderr.isatty()
    reporter = CliReporter(as_json=as_json, quiet=quiet, interactive=interactive)
    options = RunOptions(
        unknown=unknown,
        budget=dict(budget or {}),
        model_options=ModelOptions(base_url=base_url) if base_url else None,
    )
    store = settings(ctx).store()
    flag = StopFlag()
    try:
        with stop_on_signals(flag):
            result = Runner(store, task_id, reporter, options, flag).run()
    finally:
        reporter.close()
    if as_json:
        return result.exit_code
    line = f"{task_id}: {result.status}"
    if result.message:
        line += f" — {result.message}"
    print(line, file=sys.stderr)
    if result.status == "succeeded" and result.message:
        print(result.message)
    return result.exit_code


def register(app: typer.Typer) -> None:
    """Add the commands to ``app``."""
    app.command()(start)
    app.command()(resume)
    app.command()(resolve)
