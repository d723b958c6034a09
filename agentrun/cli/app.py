"""The ``agentrun`` command: global options, command registration and the one error boundary.

Every ``AgentrunError`` becomes ``error: <message>`` on stderr and its exit code (design §8);
so does a mistake the parser finds (an unknown option, a missing argument: exit 2); anything
unexpected becomes one line too, with the traceback only under ``--debug`` or
``AGENTRUN_DEBUG=1``. Pretty exceptions never show locals: they can hold API keys.

Start-up is kept lazy (``bench/cli_latency.py`` measures it): this module imports only ``os``
and ``sys``; ``agentrun --version`` is answered before typer is imported; a command named on
the command line registers only the module that defines it (every command is registered for
the top-level ``--help``, an unknown name, or anything this shortcut does not recognize);
the plain forms of ``ls`` and ``log`` run without typer at all (``cli.dispatch``).
"""

# No ``from __future__ import annotations``: typer reads the callback's annotations at run time
# and they name objects imported inside ``_new_app``.
import contextlib
import os
import signal
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

HELP = "Durable execution for AI agents: run, resume, inspect and trust long agent tasks."

# Which module of ``agentrun.cli.commands`` registers each command: a start-up shortcut only.
# A name missing here, or a module that turns out not to register it, falls back to
# ``register_all``, so a stale entry costs time, never behaviour.
_COMMAND_MODULES = {
    "start": "run",
    "submit": "run",
    "resume": "run",
    "resolve": "run",
    "batch": "queue",
    "cancel": "queue",
    "prune": "queue",
    "ls": "inspect",
    "show": "inspect",
    "log": "history",
    "diff": "history",
    "export": "history",
    "fork": "fork",
    "stats": "stats",
    "verify": "verify",
}
_GLOBAL_FLAGS = ("--allow-network-fs", "--debug")

_app: "typer.Typer | None" = None


def _new_app() -> "typer.Typer":
    """A Typer app with the global options and no commands."""
    from pathlib import Path
    from typing import Annotated

    import typer

    from agentrun import __version__
    from agentrun.cli.settings import Settings, segment_bytes_from_env

    new = typer.Typer(
        name="agentrun",
        help=HELP,
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

    @new.callback()
    def main_options(
        ctx: typer.Context,
        home: Annotated[
            str | None,  # not Path: typer would turn "" into ".", the current directory
            typer.Option(
                "--home",
                metavar="DIR",
                help="Where tasks live (default: $AGENTRUN_HOME or the user data dir).",
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
        if home is not None and not home.strip():
            from agentrun.core.errors import UsageError

            raise UsageError("--home is empty; give the directory where tasks live")
        ctx.obj = Settings(
            home=Path(home) if home is not None else None,
            allow_network_fs=allow_network_fs,
            debug=debug,
            segment_bytes=segment_bytes_from_env(),
        )

    return new


def _full_app() -> "typer.Typer":
    """The app with every command (``register_all`` registers them once)."""
    global _app
    if _app is None:
        _app = _new_app()
    from agentrun.cli.commands import register_all

    register_all(_app)
    return _app


def __getattr__(name: str) -> Any:
    if name == "app":  # ``from agentrun.cli.app import app`` still works, built on first use
        global _app
        if _app is None:
            _app = _new_app()
        return _app
    raise AttributeError(name)


def _register() -> None:
    _full_app()


def _command_name(args: list[str]) -> str | None:
    """The command named by ``args`` after the global options, if they are all recognized."""
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--home":
            index += 2
            continue
        if arg.startswith("--home=") or arg in _GLOBAL_FLAGS:
            index += 1
            continue
        if arg.startswith("-"):
            return None  # --help, --version, a typo: the full app decides
        return arg
    return None


def _app_for(args: list[str]) -> "typer.Typer":
    """An app with just the command ``args`` names, or the full app."""
    name = _command_name(args)
    module_name = _COMMAND_MODULES.get(name or "")
    if module_name is None:
        return _full_app()
    import importlib

    module = importlib.import_module(f"agentrun.cli.commands.{module_name}")
    small = _new_app()
    module.register(small)
    names = {
        info.name or info.callback.__name__.replace("_", "-").lower()
        for info in small.registered_commands
        if info.callback is not None or info.name
    }
    return small if name in names else _full_app()


def _click(name: str) -> tuple[type[BaseException], ...]:
    """The classes named ``name`` of every click in use: typer's bundled copy and click itself.

    typer < 0.29 runs on click; typer 0.29 bundles its own copy (``typer._click``) and raises
    its own ``Exit``/``Abort``. A class can only have been raised once its module is imported,
    so looking them up lazily costs nothing at start-up and misses nothing.
    """
    found: list[type[BaseException]] = []
    for module_name in ("typer._click.exceptions", "click.exceptions", "typer.exceptions"):
        module = sys.modules.get(module_name)
        cls = getattr(module, name, None) if module is not None else None
        if isinstance(cls, type) and issubclass(cls, BaseException) and cls not in found:
            found.append(cls)
    return tuple(found)


def _parser_error_line(exc: Any, args: list[str], command: Any) -> str:
    """A click/typer parser error as one line: what was wrong, then where the help is.

    click's own ``show`` prints the usage, a "Try ... for help." line and the message; the
    design wants one line on stderr for every mistake (design §8). An error raised while
    parsing an option's value carries no context: the command named in ``args`` gives the help.
    """
    import re  # here, not at the top: start-up stays lean (module docstring)

    # click writes sentences ("No such command 'lss'. Did you mean 'ls'?"); one line joins them
    # as clauses: "no such command 'lss'; did you mean 'ls'".
    sentences = re.split(r"(?<=[.?!])\s+", " ".join(exc.format_message().split()))
    message = "; ".join(x[:1].lower() + x[1:].rstrip(".?!") for x in sentences if x)
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        if ctx.command.get_help_option(ctx) is None:
            return message
        path = ctx.command_path
    else:
        name = _command_name(args)
        known = name is not None and name in getattr(command, "commands", {})
        path = f"agentrun {name}" if known else "agentrun"
    return f"{message}; see `{path} --help`"


def run(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` and return the exit code; the one error boundary."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:  # the common case, answered without importing typer
        from agentrun import __version__

        print(f"agentrun {__version__}")
        return 0

    from agentrun.cli import dispatch
    from agentrun.core.errors import AgentrunError

    debug = "--debug" in args or os.environ.get("AGENTRUN_DEBUG") == "1"
    invocation = dispatch.parse(args)  # `ls` and `log` as typed most often, without typer
    command: Any = None
    if invocation is None:
        import typer

        command = typer.main.get_command(_app_for(args))
    try:
        if invocation is not None:
            result = dispatch.call(invocation)
        else:
            result = command.main(args=args, prog_name="agentrun", standalone_mode=False)
    except _click("Exit") as exc:
        return exc.exit_code
    except _click("Abort"):
        return 130
    except _click("NoArgsIsHelpError") as exc:  # `agentrun` alone: the help, as typer prints it
        exc.show()
        return exc.exit_code
    except _click("ClickException") as exc:  # the parser's: one line, like every error
        print(f"error: {_parser_error_line(exc, args, command)}", file=sys.stderr)
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
        from agentrun.cli.output import discard_stdout

        discard_stdout()
        return 0
    except SystemExit as exc:
        # typer's main answers a closed pipe itself: it wraps the streams in click's
        # PacifyFlushWrapper and exits 1, which would read as "failed" (verify: "corrupt").
        if exc.code == 1 and type(sys.stdout).__name__ == "PacifyFlushWrapper":
            return 0
        raise
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
    code = run()
    _exit_at_once_on_signals()
    sys.exit(code)


def _exit_at_once_on_signals() -> None:
    """From here on, SIGINT or SIGTERM ends the process at once with 130 or 143 (rule 29).

    The command is done and its state is durable, but the interpreter still runs Python while
    it exits (filelock's atexit hook, thread joins); a Ctrl-C landing there would otherwise
    print a KeyboardInterrupt traceback.
    """

    def handle(signum: int, _frame: object) -> None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(128 + signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, handle)
