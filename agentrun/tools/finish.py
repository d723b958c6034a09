"""The ``finish`` toolset: the agent reports that the task is done, and how it went.

Always part of a toolbox. The runtime recognises a call to ``finish`` by name and ends the task
with the given outcome; the tool itself only hands the summary back.
"""

from __future__ import annotations

from typing import Literal

from agentrun.tools.decorator import tool

FINISH = "finish"


@tool(effect="read")
def finish(outcome: Literal["succeeded", "failed"], summary: str) -> str:
    """Finish the task and report its outcome; call it once, when the work is done or cannot be.

    Args:
        outcome: "succeeded" if the goal was reached, "failed" if it cannot be.
        summary: What was done, or why it failed, for the person who asked.
    """
    return summary


TOOLS = (finish,)
