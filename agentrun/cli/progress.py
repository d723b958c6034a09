"""Live progress of a run: the CLI's ``Reporter`` (step, action, tokens, cost, elapsed).

On a terminal a rich status line on stderr; otherwise one short line per event on stderr;
``--json`` streams every event as a JSON line on stdout; ``--quiet`` prints nothing.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from rich.console import Console
from rich.status import Status

from agentrun.core.events import Event, ModelResponded, ToolCompleted, ToolIntended, to_record


class CliReporter:
    """Renders a run's progress for a person or a program."""

    def __init__(self, *, as_json: bool, quiet: bool, interactive: bool) -> None:
        self.as_json, self.quiet, self.interactive = as_json, quiet, interactive
        self.console = Console(stderr=True, highlight=False)
        self.started = time.monotonic()
        self.steps = 0
        self.tokens = 0
        self.cost = 0.0
        self._status: Status | None = None
        if not quiet and not as_json and self.console.is_terminal:
            self._status = self.console.status("starting…")
            self._status.start()

    def close(self) -> None:
        """Stop the live line."""
        if self._status is not None:
            self._status.stop()
            self._status = None

    def event(self, event: Event) -> None:
        if self.as_json:
            sys.stdout.write(json.dumps(to_record(event), ensure_ascii=False) + "\n")
            sys.stdout.flush()
            return
        if isinstance(event, ModelResponded):
            self.steps += 1
            self.tokens += int(event.usage.get("input_tokens", 0)) + int(
                event.usage.get("output_tokens", 0)
            )
            self.cost += event.cost_usd or 0.0
        if self.quiet:
            return
        action = _action(event)
        if self._status is not None:
            cost = f" · ${self.cost:.4f}" if self.cost else ""
            self._status.update(
                f"step {self.steps} · {action} · {self.tokens} tokens{cost} · "
                f"{time.monotonic() - self.started:.1f}s"
            )
        elif action:
            print(f"[{event.seq}] {action}", file=sys.stderr)

    def text(self, delta: str) -> None:
        pass

    def warning(self, message: str) -> None:
        if self._status is not None:
            self.console.print(f"[yellow]warning:[/] {message}", markup=True, highlight=False)
        else:
            print(f"warning: {message}", file=sys.stderr)

    def ask_approval(self, call: dict[str, Any]) -> bool | None:
        if not self.interactive:
            return None
        if self._status is not None:
            self._status.stop()
        try:
            args = json.dumps(call["arguments"], ensure_ascii=False)[:300]
            self.console.print(f"[bold]{call['tool']}[/] wants to run with {args}", markup=True)
            answer = self.console.input("approve? [y/N] ", markup=False).strip().lower()
            return answer in ("y", "yes")
        except EOFError:
            return None
        finally:
            if self._status is not None:
                self._status.start()


def _action(event: Event) -> str:
    if isinstance(event, ModelResponded):
        calls = event.message.get("tool_calls") or []
        if calls:
            return "model asked for " + ", ".join(c["name"] for c in calls)
        return "model answered"
    if isinstance(event, ToolIntended):
        return f"running {event.tool} ({event.effect})"
    if isinstance(event, ToolCompleted):
        return f"{'tool failed' if event.is_error else 'tool done'} {event.call_id}"
    return event.kind.replace("_", " ")
