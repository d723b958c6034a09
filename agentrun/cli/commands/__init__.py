"""The commands, one module each; ``register_all`` adds them to the app."""

from __future__ import annotations

import typer

_registered = False


def register_all(app: typer.Typer) -> None:
    """Register every command on ``app`` once."""
    global _registered
    if _registered:
        return
    from agentrun.cli.commands import fork, history, inspect, queue, run, stats, verify

    for module in (run, queue, inspect, history, fork, stats, verify):
        module.register(app)
    _registered = True
