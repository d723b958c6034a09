"""The ``[outcome] check``: a command run in the workspace after the agent finishes.

Success of the task means the command exits 0. Runs in its own session with a time limit so a
hanging check cannot hold the task forever (rule 30).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import Any

CHECK_TIMEOUT_S = 600
OUTPUT_EXCERPT = 4000


def run_check(command: str, workspace: str, timeout_s: float = CHECK_TIMEOUT_S) -> dict[str, Any]:
    """Run ``command`` with bash in ``workspace``; return exit code, duration and output excerpt."""
    started = time.monotonic()
    proc = subprocess.Popen(
        ["bash", "-c", command],
        cwd=workspace,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=timeout_s)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        code = -1
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
