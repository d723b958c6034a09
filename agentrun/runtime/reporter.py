"""How the runtime tells the outside what happens: a small protocol the CLI implements.

The runtime never prints; the CLI renders these calls as a live line, JSON lines, or nothing.
"""

from __future__ import annotations

from typing import Any, Protocol

from agentrun.core.events import Event


class Reporter(Protocol):
    """Receives progress from a run."""

    def event(self, event: Event) -> None:
        """An event was appended to the log."""

    def text(self, delta: str) -> None:
        """A model is streaming text."""

    def warning(self, message: str) -> None:
        """Something a person should know (drift, a repaired tail)."""

    def ask_approval(self, call: dict[str, Any]) -> bool | None:
        """Ask a person to approve a call; ``None`` when nobody can be asked (unattended)."""


class SilentReporter:
    """A reporter that reports nothing and never approves (unattended)."""

    def event(self, event: Event) -> None:
        pass

    def text(self, delta: str) -> None:
        pass

    def warning(self, message: str) -> None:
        pass

    def ask_approval(self, call: dict[str, Any]) -> bool | None:
        return None
