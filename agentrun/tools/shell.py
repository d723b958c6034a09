"""The ``shell`` toolset: one ``bash -c`` command run in the workspace, with a timeout.

Off unless an agent lists ``shell``. The command runs in its own session (rule 30), so a Ctrl-C
in the terminal reaches agentrun, which decides when to stop; on timeout or stop the whole
process group is ended (SIGTERM, then SIGKILL). Output is capped here, keeping head and tail,
because a command can print without end. The environment is agentrun's, minus the model
providers' API keys, plus the call's ids.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time

from agentrun.tools.context import ToolContext
from agentrun.tools.decorator import tool
from agentrun.tools.outcome import ToolError
from agentrun.tools.workspace import real_root

HEAD_BYTES = 16 * 1024
TAIL_BYTES = 16 * 1024
KILL_GRACE_S = 2.0
# After bash exits, how long to wait for a background process still holding the output pipe.
DRAIN_AFTER_EXIT_S = 0.5
_POLL_S = 0.05
_READ_BYTES = 1 << 16

# Keys agentrun itself uses to reach model providers: a command must not print them into the
# log or back to the model (design §6).
SCRUBBED_ENV = frozenset({"OPENAI_API_KEY", "ANTHROPIC_API_KEY"})


class _Capture:
    """Keeps the first ``HEAD_BYTES`` and the last ``TAIL_BYTES`` of a stream, counts the rest."""

    def __init__(self, head_limit: int = HEAD_BYTES, tail_limit: int = TAIL_BYTES) -> None:
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self._head_limit = head_limit
        self._tail_limit = tail_limit

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self._head_limit - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > self._tail_limit:
                del self.tail[: len(self.tail) - self._tail_limit]

    def text(self) -> str:
        dropped = self.total - len(self.head) - len(self.tail)
        if not dropped:
            return bytes(self.head + self.tail).decode("utf-8", "replace")
        return (
            bytes(self.head).decode("utf-8", "replace")
            + f"\n… [{dropped} bytes of output dropped] …\n"
            + bytes(self.tail).decode("utf-8", "replace")
        )


def _environment(ctx: ToolContext) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    # Rule 26: a command that calls an API can pass the call's key as its idempotency header.
    env["AGENTRUN_TASK_ID"] = ctx.task_id
    env["AGENTRUN_CALL_ID"] = ctx.call_id
    env["AGENTRUN_IDEMPOTENCY_KEY"] = ctx.idempotency_key
    return env


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member changed user: still there
        return True
    return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def end_process_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group of ``proc`` (its own session), SIGKILL it after the grace time."""
    pgid = proc.pid  # start_new_session makes the child the leader of its group
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + KILL_GRACE_S
    while time.monotonic() < deadline:
        proc.poll()  # reap bash, so that only its descendants count as alive
        if not _group_alive(pgid):
            break
        time.sleep(0.02)
    else:
        _signal_group(pgid, signal.SIGKILL)
    proc.wait()


def _read_available(fd: int, capture: _Capture) -> bool:
    """Read what the pipe holds now; ``True`` at end of file."""
    while True:
        try:
            chunk = os.read(fd, _READ_BYTES)
        except BlockingIOError:
            return False
        if not chunk:
            return True
        capture.add(chunk)


def _status(returncode: int | None, reason: str | None, timeout_s: int) -> str:
    if reason == "timeout":
        return f"timed out after {timeout_s} s; the command and its child processes were killed"
    if reason == "stopped":
        return "stopped because agentrun is stopping; the command and its children were killed"
    if returncode is not None and returncode < 0:
        try:
            return f"killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


@tool(effect="side_effect")
def shell(command: str, timeout_s: int = 60, *, ctx: ToolContext) -> str:
    """Run a bash command in the workspace directory and return its exit code and output.

    stdout and stderr are merged; long output is shortened in the middle. stdin is empty, so
    interactive commands fail. The command is killed when the timeout is reached.

    Args:
        command: The bash command line to run, e.g. "pytest -q tests/".
        timeout_s: Seconds before the command is killed.
    """
    if timeout_s < 1:
        raise ToolError("timeout_s must be at least 1")
    try:
        proc = subprocess.Popen(
            ["bash", "-c", command],
            cwd=real_root(ctx.workspace),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # rule 30
            env=_environment(ctx),
        )
    except FileNotFoundError as exc:
        raise ToolError(f"cannot start bash: {exc.strerror}: {exc.filename}") from None
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)
    capture = _Capture()
    reason: str | None = None
    deadline = time.monotonic() + timeout_s
    exited_at: float | None = None
    with selectors.DefaultSelector() as selector, proc.stdout:
        selector.register(fd, selectors.EVENT_READ)
        at_eof = False
        while True:
            now = time.monotonic()
            if proc.poll() is not None:
                if at_eof:
                    break
                if exited_at is None:
                    exited_at = now
                elif now - exited_at > DRAIN_AFTER_EXIT_S:
                    break  # a background process keeps the pipe open; do not wait for it
            elif now >= deadline:
                reason = "timeout"
            elif ctx.stop.is_set():
                reason = "stopped"
            if reason:
                end_process_group(proc)
                if not at_eof:
                    _read_available(fd, capture)
                break
            if at_eof:  # output closed, process still running
                time.sleep(_POLL_S)
            elif selector.select(timeout=_POLL_S):
                at_eof = _read_available(fd, capture)
        returncode = proc.wait()
    output = capture.text()
    return f"{_status(returncode, reason, timeout_s)}\n{output or '(no output)'}"


TOOLS = (shell,)
