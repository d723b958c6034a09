"""A test tool that holds a run at a gate until the test opens it (T8 iv).

``gate(gate_id)`` returns once the file ``$AGENTRUN_GATES/<gate_id>`` exists. A run that has
not passed a closed gate cannot finish, so the test knows the process is mid-run and holding the
claim without sleeping and hoping.
"""

from __future__ import annotations

import os
import time

from agentrun import tool


@tool(effect="read")
def gate(gate_id: str) -> str:
    """Wait until the test opens this gate.

    Args:
        gate_id: The gate's file name under ``$AGENTRUN_GATES``.
    """
    path = os.path.join(os.environ["AGENTRUN_GATES"], gate_id)
    while not os.path.exists(path):
        time.sleep(0.001)  # polls for the file the test creates; never guesses a duration
    return f"passed {gate_id}"
