"""``agentrun start``, ``resume`` and ``resolve``: running tasks and settling their calls."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from agentrun.cli.output import print_json
from agentrun.cli.settings import settings
from agentrun.cli.wording import naming_task, outcome_line, plural
from agentrun.core.errors import EXIT_OK, UsageError
from agentrun.runtime.signals import STOPPED_EXIT_CODES, StopFlag, stop_on_signals

AgentOpt = Annotated[
    Path | None, typer.Option("--agent", "-a", metavar="FILE", help="Agent spec (TOML).")
]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model", "-m", metavar="PROVIDER:MODEL", help="e.g. openai:gpt-4.1-mini, scripted:FILE"
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Stream events as JSON lines.")]
SubmitJsonOpt = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print the new task's id and status (with --from: the ids queued, the "
        "lines skipped) as JSON.",
    ),
]
FromOpt = Annotated[
    Path | None,
    typer.Option("--from", metavar="FILE", help="Queue one task per line of this file."),
]
SkipBadOpt = Annotated[
    bool, typer.Option("--skip-bad", help="With --from: queue the good lines anyway.")
]
# `start` runs one task: it parses --from and --skip-bad only to point at `submit` (a sentence
# instead of "no such option"), and does not list them.
StartFromOpt = Annotated[Path | None, typer.Option("--from", metavar="FILE", hidden=True)]
StartSkipBadOpt = Annotated[bool, typer.Option("--skip-bad", hidden=True)]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress; never ask.")]


def budget_options(
    max_steps: int | None,
    max_tokens: int | None,
    max_cost_usd: float | None,
    max_time: str | None,
    max_attempts: int | None,
) -> dict[str, object]:
    """The budget flags that were given, by their [budget] names."""
    values = {
        "max_steps": max_steps,
        "max_tokens": max_tokens,
        "max_cost_usd": max_cost_usd,
        "max_time": max_time,
        "max_attempts": max_attempts,
    }
    return {k: v for k, v in values.items() if v is not None}


MaxSteps = Annotated[
    int | None, typer.Option("--max-steps", metavar="N", help="Model turns at most.")
]
MaxTokens = Annotated[int | None, typer.Option("--max-tokens", metavar="N", help="Tokens at most.")]
MaxCost = Annotated[
    float | None, typer.Option("--max-cost-usd", metavar="USD", help="Dollars at most.")
]
MaxTime = Annotated[
    str | None, typer.Option("--max-time", metavar="DURATION", help="Active time at most, e.g. 2h.")
]
MaxAttempts = Annotated[
    int | None,
    typer.Option("--max-attempts", metavar="N", help="Crashed runs before the task fails."),
]


def _task_command(*, run_now: bool) -> Callable[..., int]:
    """``start`` and ``submit`` take the same options; only running at once differs."""

    def command(
        ctx: typer.Context,
        goal: Annotated[str | None, typer.Argument(help="What the agent should do.")] = None,
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
        task_id: Annotated[
            str | None, typer.Option("--id", metavar="ID", help="Choose the task id.")
        ] = None,
        approve: Annotated[
            list[str] | None,
            typer.Option("--approve", metavar="TOOL", help="Tool that needs a yes (repeat)."),
        ] = None,
        on_unknown: Annotated[
            str | None, typer.Option("--on-unknown", metavar="POLICY", help="stop | retry | skip")
        ] = None,
        check: Annotated[
            str | None, typer.Option("--check", metavar="COMMAND", help="Success check command.")
        ] = None,
        fsync: Annotated[
            str | None, typer.Option("--fsync", metavar="POLICY", help="always | batch")
        ] = None,
        base_url: Annotated[
            str | None,
            typer.Option("--base-url", metavar="URL", help="Model endpoint, kept with the task."),
        ] = None,
        max_steps: MaxSteps = None,
        max_tokens: MaxTokens = None,
        max_cost_usd: MaxCost = None,
        max_time: MaxTime = None,
        max_attempts: MaxAttempts = None,
        from_file: FromOpt = None,
        skip_bad: SkipBadOpt = False,
        as_json: JsonOpt = False,
        quiet: QuietOpt = False,
    ) -> int:
        from agentrun.runtime.spec import SpecOverrides

        overrides = SpecOverrides(
            model=model,
            system=system,
            tools=tuple(tool or ()),
            workspace=workspace,
            budget=budget_options(max_steps, max_tokens, max_cost_usd, max_time, max_attempts),
            approve=tuple(approve or ()),
            on_unknown=on_unknown,
            check=check,
            fsync=fsync,
            base_url=base_url,
        )
        if run_now and (from_file is not None or skip_bad):
            raise UsageError("to queue many tasks use `agentrun submit --from FILE [--skip-bad]`")
        if skip_bad and from_file is None:
            raise UsageError("--skip-bad goes with --from FILE: it skips the file's bad lines")
        if from_file is not None:
            if goal or task_id:
                raise UsageError(
                    "--from takes each goal (and id) from the file; give no GOAL or --id with it"
                )
            return submit_many(ctx, from_file, agent, overrides, skip_bad=skip_bad, as_json=as_json)
        if agent is None and model is None:
            raise UsageError("give an agent file (--agent FILE) or at least --model")
        if not goal:
            raise UsageError('say what the agent should do: agentrun start "GOAL" --agent FILE')
        new_id = _create(ctx, agent, overrides, goal, task_id)
        if not run_now:
            if as_json:
                print_json({"task_id": new_id, "status": "queued"})
            else:
                print(new_id)
            return EXIT_OK
        if as_json:  # the id first, so a script can capture it: here as the first event
            from agentrun.core.events import to_record

            first = next(settings(ctx).store().events(new_id))
            print(json.dumps(to_record(first), ensure_ascii=False), flush=True)
        else:
            print(new_id, flush=True)
        return run_in_foreground(ctx, new_id, as_json=as_json, quiet=quiet, base_url=None)

    # One signature for both commands; the options whose help or listing differs are swapped
    # in here (typer reads the annotations when the command is registered).
    if run_now:
        command.__annotations__.update(from_file=StartFromOpt, skip_bad=StartSkipBadOpt)
    else:
        command.__annotations__.update(as_json=SubmitJsonOpt)
    return command


start = _task_command(run_now=True)
start.__name__ = "start"
start.__doc__ = "Create a task and run it in the foreground with live progress."
submit = _task_command(run_now=False)
submit.__name__ = "submit"
submit.__doc__ = "Create a queued task (or many, with --from) for `agentrun batch` to run."


def _create(
    ctx: typer.Context, agent: Path | None, overrides: Any, goal: str, task_id: str | None
) -> str:
    from agentrun.runtime.spec import load_spec
    from agentrun.runtime.tasks import create_task

    spec = load_spec(agent, overrides, cwd=Path.cwd())
    return create_task(settings(ctx).store(), spec, goal, task_id=task_id)


def submit_many(
    ctx: typer.Context,
    path: Path,
    agent: Path | None,
    overrides: Any,
    *,
    skip_bad: bool,
    as_json: bool,
) -> int:
    """Queue one task per line of ``path``; nothing is queued if a line is bad (unless skipped)."""
    from agentrun.runtime.submit_file import parse_submit_file
    from agentrun.runtime.tasks import create_task

    entries, problems = parse_submit_file(path, agent, overrides, cwd=Path.cwd())
    for problem in problems:
        print(f"{'skipped: ' if skip_bad else 'error: '}{problem}", file=sys.stderr)
    if problems and not skip_bad:
        bad = plural(len(problems), "bad line")
        raise UsageError(f"{bad} in {path}; nothing was queued")
    store = settings(ctx).store()
    ids = [create_task(store, e.spec, e.goal, task_id=e.task_id) for e in entries]
    if as_json:
        print_json({"queued": ids, "skipped_lines": [p.line for p in problems]})
    else:
        for new_id in ids:
            print(new_id)
    return EXIT_OK


def resume(
    ctx: typer.Context,
    task: Annotated[str | None, typer.Argument(help="Task id or prefix.")] = None,
    all_tasks: Annotated[
        bool,
        typer.Option("--all", help="Every interrupted task: crashed, or paused (not queued)."),
    ] = False,
    retry_unknown: Annotated[
        bool, typer.Option("--retry-unknown", help="Run in-doubt calls again.")
    ] = False,
    skip_unknown: Annotated[
        bool, typer.Option("--skip-unknown", help="Give up on in-doubt calls.")
    ] = False,
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url", metavar="URL", help="Model endpoint for this run (default: the task's)."
        ),
    ] = None,
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
        budget_options(max_steps, max_tokens, max_cost_usd, max_time, max_attempts),
        "the command line",
    )
    store = settings(ctx).store()
    if all_tasks and task:
        raise UsageError("name a task or pass --all, not both")
    from agentrun.core.errors import (
        AgentrunError,
        ClaimedError,
        InvalidIdError,
        StorageError,
        TaskNotFoundError,
    )

    codes: list[int] = []
    if all_tasks:
        ids = []
        for task_id in store.task_ids():
            try:
                if _resumable(store.summary(task_id)["status"]):
                    ids.append(task_id)
            except TaskNotFoundError:
                continue  # deleted (pruned) while we listed, or a plain file: no task
            except InvalidIdError:
                from agentrun.cli.listing import warn_if_stray_directory

                warn_if_stray_directory(store, task_id)
            except StorageError:
                raise  # the disk, not the task: the next task would fail the same way
            except AgentrunError as exc:  # one broken task must not strand the others
                print(f"error: {naming_task(task_id, exc)}", file=sys.stderr)
                codes.append(exc.exit_code)
        if not ids and not codes:
            print("nothing to resume: no task is interrupted or paused", file=sys.stderr)
    elif task:
        ids = [store.resolve(task)]
    else:
        raise UsageError("name a task to resume, or pass --all")
    if "max_cost_usd" in budget and "prices" not in budget:
        from agentrun.runtime.budgets import check_cost_cap

        for task_id in ids:  # the prices may come from the task's own agent file
            try:
                agent_budget = store.load(task_id).state.agent.get("budget") or {}
            except StorageError:
                raise
            except AgentrunError:
                continue  # reported, with the others going on, when its turn comes
            check_cost_cap({**agent_budget, **budget}, f"task {task_id}", agent_is_recorded=True)
    for task_id in ids:
        try:
            codes.append(
                run_in_foreground(
                    ctx,
                    task_id,
                    as_json=as_json,
                    quiet=quiet,
                    base_url=base_url,
                    unknown=unknown,
                    budget=budget,
                )
            )
        except ClaimedError as exc:
            if not all_tasks:
                raise
            print(f"skipped: {exc}", file=sys.stderr)  # --all leaves running tasks alone
            continue
        except StorageError:
            raise  # the disk, not the task: the next task would fail the same way
        except AgentrunError as exc:
            if not all_tasks:
                raise
            # One broken task (a missing script, a corrupt log) must not strand the others.
            print(f"error: {naming_task(task_id, exc)}", file=sys.stderr)
            codes.append(exc.exit_code)
            continue
        if codes[-1] in STOPPED_EXIT_CODES:
            break  # a signal (or a closed output) stops the whole resume, not just this task
    # Worst first, as for batch: failed, an error, needs attention, paused, stopped, success.
    for worst in (1, 2, 3, 4, *STOPPED_EXIT_CODES):
        if worst in codes:
            return worst
    return EXIT_OK


def resolve(
    ctx: typer.Context,
    task: Annotated[str, typer.Argument(help="Task id or prefix.")],
    call: Annotated[str, typer.Argument(help="The call id (see `agentrun show`).")],
    approve: Annotated[bool, typer.Option("--approve", help="Allow the call to run.")] = False,
    deny: Annotated[bool, typer.Option("--deny", help="Refuse the call.")] = False,
    retry: Annotated[bool, typer.Option("--retry", help="Run the in-doubt call again.")] = False,
    skip: Annotated[bool, typer.Option("--skip", help="Give up on the in-doubt call.")] = False,
    result: Annotated[
        str | None, typer.Option("--result", metavar="JSON", help="The call's result, as JSON.")
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
    # Interrupted: a crashed run (still "running" in its log) or a paused one. Queued tasks
    # never started; they are `batch`'s to claim (docs/cron.md).
    return status in ("running", "paused")


def run_in_foreground(
    ctx: typer.Context,
    task_id: str,
    *,
    as_json: bool,
    quiet: bool,
    base_url: str | None,
    unknown: str | None = None,
    budget: dict[str, object] | None = None,
) -> int:
    """Run a task in this process with progress, signals and the exit code of design §8."""
    from agentrun.cli.progress import CliReporter
    from agentrun.models.options import ModelOptions
    from agentrun.runtime.runner import Runner, RunOptions

    interactive = not quiet and not as_json and sys.stdin.isatty() and sys.stderr.isatty()
    flag = StopFlag()
    flag.at_once_notice = (
        f"stopped at once; the log is consistent: `agentrun resume {task_id}` continues"
    )
    reporter = CliReporter(
        as_json=as_json,
        quiet=quiet,
        interactive=interactive,
        on_output_closed=lambda: flag.set(signal.SIGPIPE),
        stopped=lambda: flag.is_set,
    )
    options = RunOptions(
        unknown=unknown,
        budget=dict(budget or {}),
        model_options=ModelOptions(base_url=base_url) if base_url else None,
    )
    store = settings(ctx).store()
    try:
        with stop_on_signals(flag, on_stop=reporter.stopping):
            result = Runner(store, task_id, reporter, options, flag).run()
    finally:
        reporter.close()
    if as_json or reporter.output_closed:
        return result.exit_code
    try:
        print(outcome_line(task_id, result.status, result.message), file=sys.stderr)
        if result.status == "succeeded" and result.message and result.ran:
            print(result.message, flush=True)  # the answer; "already succeeded" is not one
    except OSError:  # `start … | head -1`, or a terminal gone: the task's outcome decides the code
        from agentrun.cli.output import discard_stdout

        discard_stdout()
    return result.exit_code


def register(app: typer.Typer) -> None:
    """Add the commands to ``app``."""
    app.command(name="start")(start)
    app.command(name="submit")(submit)
    app.command()(resume)
    app.command()(resolve)
