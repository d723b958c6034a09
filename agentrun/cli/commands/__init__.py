"""The commands, one module each; ``register_all`` adds them to the app."""

from __future__ import annotations

import typer

_registered = False


def register_all(app: typer.Typer) -> None:
    """Register every command on ``app`` once."""
    global _registered
    if _registered:
        return
    from agentrun.cli.commands import inspect, queue, run, verify

    for module in (run, queue, inspect, verify):
        module.register(app)
    _registered = True
