"""Live progress of a run: the CLI's ``Reporter`` (step, action, tokens, cost, elapsed).

On a terminal a rich status line on stderr; otherwise one short line per event on stderr;
``--json`` streams every event as a JSON line on stdout; ``--quiet`` prints nothing.
"""

from __future__ import annotations

import contextlib
import json
import select
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from rich.console import Console
from rich.status import Status

from agentrun.cli.views import EventDescriber
from agentrun.cli.wording import plural
from agentrun.core.events import Event, ModelResponded, ToolCompleted, ToolIntended, to_record
from agentrun.runtime.signals import start_deaf_to_stops

ANSWER_POLL_S = 0.1  # how late a Ctrl-C at the approval prompt is noticed


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
        stopped: Callable[[], bool] = lambda: False,
    ) -> None:
        self.as_json, self.quiet, self.interactive = as_json, quiet, interactive
        self._stopped = stopped
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
            start_deaf_to_stops(self._status.start)

    def close(self) -> None:
        """Stop the live line."""
        if self._status is not None:
            status, self._status = self._status, None
            with self._terminal_may_be_gone():
                status.stop()

    @contextlib.contextmanager
    def _terminal_may_be_gone(self) -> Iterator[None]:
        """A write that fails because the terminal went away (EIO after a hangup) is a closed
        output, as a broken pipe is: the run stops at its next safe point, not with an error."""
        try:
            yield
        except OSError:
            self._output_gone()

    def _output_gone(self) -> None:
        if not self.output_closed:
            self.output_closed = True
            if self._on_output_closed is not None:
                self._on_output_closed()

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

    def stopping(self, signal_name: str) -> None:
        """Say that a stop was asked for and what happens next (called once, from a watcher)."""
        if self.quiet or self.output_closed:
            return
        message = (
            f"{signal_name}: stopping after the current step (nothing is lost); "
            "press Ctrl-C again to stop at once"
        )
        if self._status is not None:
            with self._terminal_may_be_gone():
                self._status.update(message)
        else:
            self._write("stderr", f"{message}\n")

    def warning(self, message: str) -> None:
        if self._status is not None:
            with self._terminal_may_be_gone():
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
            self._output_gone()

    def ask_approval(self, call: dict[str, Any]) -> bool | None:
        if not self.interactive:
            return None
        if self._status is not None:
            self._status.stop()
        try:
            args = json.dumps(call["arguments"], ensure_ascii=False)[:300]
            self.console.print(f"[bold]{call['tool']}[/] wants to run with {args}", markup=True)
            self.console.print("approve? [y/N] ", markup=False, end="")
            answer = self._read_answer()
            return None if answer is None else answer.strip().lower() in ("y", "yes")
        except OSError:  # the terminal went away: nobody can answer
            self._output_gone()
            return None
        finally:
            if self._status is not None and not self.output_closed:
                with self._terminal_may_be_gone():
                    start_deaf_to_stops(self._status.start)

    def _read_answer(self) -> str | None:
        """A line from stdin, or ``None`` at its end or once a stop is asked for (Ctrl-C).

        A signal does not cut a blocking read short (PEP 475 resumes it), so stdin is polled.
        """
        while not self._stopped():
            readable, _, _ = select.select([sys.stdin], [], [], ANSWER_POLL_S)
            if readable:
                line = sys.stdin.readline()
                return line or None
        self.console.print()
        return None


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
