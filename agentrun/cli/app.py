"""The ``agentrun`` command: global options, command registration and the one error boundary.

Every ``AgentrunError`` becomes ``error: <message>`` on stderr and its exit code (design §8);
anything unexpected becomes one line too, with the traceback only under ``--debug`` or
``AGENTRUN_DEBUG=1``. Pretty exceptions never show locals: they can hold API keys.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from agentrun import __version__
from agentrun.cli.settings import Settings

app = typer.Typer(
    name="agentrun",
    help="Durable execution for AI agents: run, resume, inspect and trust long agent tasks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"agentrun {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option(
            "--home", help="Where tasks live (default: $AGENTRUN_HOME or the user data dir)."
        ),
    ] = None,
    allow_network_fs: Annotated[
        bool, typer.Option("--allow-network-fs", help="Accept a home on NFS/SMB/FUSE (risky).")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Durable execution for AI agents: run, resume, inspect and trust long agent tasks."""
    ctx.obj = Settings(home=home, allow_network_fs=allow_network_fs, debug=debug)


def _register() -> None:
    from agentrun.cli.commands import register_all

    register_all(app)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` and return the exit code; the one error boundary."""
    import click

    from agentrun.core.errors import AgentrunError

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("AGENTRUN_DEBUG") == "1"
    _register()
    command = typer.main.get_command(app)
    try:
        result = command.main(args=args, prog_name="agentrun", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        return 130
    except click.ClickException as exc:
        exc.show()
        return 2 if exc.exit_code in (1, 2) else exc.exit_code
    except AgentrunError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `agentrun log | head`: the reader went away; that is not an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as exc:  # the boundary: never a traceback for the user unless asked
        if debug:
            import traceback

            traceback.print_exc()
        print(
            f"error: internal error ({type(exc).__name__}: {exc}); rerun with --debug and "
            "report it",
            file=sys.stderr,
        )
        return 1
    return result if isinstance(result, int) else 0


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())
