"""Live progress of a run: the CLI's ``Reporter`` (step, action, tokens, cost, elapsed).

On a terminal a rich status line on stderr; otherwise one short line per event on stderr;
``--json`` streams every event as a JSON line on stdout; ``--quiet`` prints nothing.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.status import Status

from agentrun.cli.views import EventDescriber
from agentrun.cli.wording import plural
from agentrun.core.events import Event, ModelResponded, ToolCompleted, ToolIntended, to_record


class CliReporter:
    """Renders a run's progress for a person or a program.

    If the output goes away (the reader of a pipe exits, a stream was closed), nothing more is
    written and ``on_output_closed`` is called once: the run then stops at its next safe point
    with ``run_stopped``, instead of dying mid-step on the write error (docs/decisions.md).
    """

    def __init__(
        self,
        *,
        as_json: bool,
        quiet: bool,
        interactive: bool,
        on_output_closed: Callable[[], None] | None = None,
    ) -> None:
        self.as_json, self.quiet, self.interactive = as_json, quiet, interactive
        self.output_closed = False
        self._on_output_closed = on_output_closed
        self.console = Console(stderr=True, highlight=False)
        self.started = time.monotonic()
        self.steps = 0
        self.tokens = 0
        self.cost = 0.0
        self._names = (
            EventDescriber()
        )  # which tool each call id names: a completion says only the id
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
            self._write("stdout", json.dumps(to_record(event), ensure_ascii=False) + "\n")
            return
        if isinstance(event, ModelResponded):
            self.steps += 1
            self.tokens += int(event.usage.get("input_tokens", 0)) + int(
                event.usage.get("output_tokens", 0)
            )
            self.cost += event.cost_usd or 0.0
        self._names.learn(event)
        if self.quiet:
            return
        action = _action(event, self._names)
        if self._status is not None:
            cost = f" · ${self.cost:.4f}" if self.cost else ""
            self._status.update(
                f"step {self.steps} · {action} · {plural(self.tokens, 'token')}{cost} · "
                f"{time.monotonic() - self.started:.1f}s"
            )
        elif action:
            self._write("stderr", f"[{event.seq}] {action}\n")

    def text(self, delta: str) -> None:
        pass

    def warning(self, message: str) -> None:
        if self._status is not None:
            self.console.print(f"[yellow]warning:[/] {message}", markup=True, highlight=False)
        else:
            self._write("stderr", f"warning: {message}\n")

    def _write(self, name: str, text: str) -> None:
        if self.output_closed:
            return
        stream = getattr(sys, name)
        try:
            if stream is None:  # started with the descriptor closed (`2>&-`)
                raise BrokenPipeError(f"{name} is closed")
            stream.write(text)
            stream.flush()
        except (OSError, ValueError):  # a broken pipe; ValueError: a closed file object
            self.output_closed = True
            if self._on_output_closed is not None:
                self._on_output_closed()

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


def _action(event: Event, names: EventDescriber) -> str:
    """What ``event`` did, for the live line; ``names`` knows the tool of each call id."""
    if isinstance(event, ModelResponded):
        calls = event.message.get("tool_calls") or []
        if calls:
            return "model asked for " + ", ".join(c["name"] for c in calls)
        return "model answered"
    if isinstance(event, ToolIntended):
        return f"running {event.tool} ({event.effect})"
    if isinstance(event, ToolCompleted):
        verdict = "tool failed" if event.is_error else "tool done"
        tool = names.tool_of(event.call_id)
        return f"{verdict} {tool} ({event.call_id})" if tool else f"{verdict} {event.call_id}"
    return event.kind.replace("_", " ")
