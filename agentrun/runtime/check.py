"""The ``[outcome] check``: a command run in the workspace after the agent finishes.

Success of the task means the command exits 0. Runs in its own session with a time limit so a
hanging check cannot hold the task forever (rule 30).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any

CHECK_TIMEOUT_S = 600
POLL_S = 0.1  # how late a stop is noticed while the check runs
OUTPUT_EXCERPT = 4000


def run_check(
    command: str,
    workspace: str,
    timeout_s: float = CHECK_TIMEOUT_S,
    *,
    stopped: Callable[[], bool] = lambda: False,
) -> dict[str, Any] | None:
    """Run ``command`` with bash in ``workspace``; return exit code, duration and output excerpt.

    ``None`` if ``stopped()`` turned true meanwhile (a signal, design §9): the check's process
    group is killed and nothing is decided.
    """
    started = time.monotonic()
    proc = subprocess.Popen(
        ["bash", "-c", command],
        cwd=workspace,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = started + timeout_s
    while True:
        try:
            output, _ = proc.communicate(timeout=min(POLL_S, max(deadline - time.monotonic(), 0)))
            code = proc.returncode
            break
        except subprocess.TimeoutExpired:
            if stopped() or time.monotonic() >= deadline:
                with contextlib.suppress(ProcessLookupError):  # the group may be gone already
                    os.killpg(proc.pid, signal.SIGKILL)
                output, _ = proc.communicate()
                if stopped():
                    return None
                code = -1
                break
    text = output.decode("utf-8", "replace")
    if len(text) > OUTPUT_EXCERPT:
        text = text[: OUTPUT_EXCERPT // 2] + "\n…\n" + text[-OUTPUT_EXCERPT // 2 :]
    return {
        "command": command,
        "exit_code": code,
        "passed": code == 0,
        "duration_s": round(time.monotonic() - started, 3),
        "output": text,
    }
