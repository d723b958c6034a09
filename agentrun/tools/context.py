"""``ToolContext``: what a running tool knows about its call, and how file tools report changes.

The runtime builds one context per call and reads ``file_changes`` after the tool returns.
Nothing here does I/O.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def idempotency_key(task_id: str, call_id: str) -> str:
    """The stable key of one call (rule 26): the same on every retry, new in a fork.

    ``call_id`` is the model's tool-call id plus the seq of its ``tool_intended``; composing it is
    the runtime's job.
    """
    return f"agentrun-{task_id}-{call_id}"


@dataclass(frozen=True, slots=True)
class FileChange:
    """One file written by a tool: workspace-relative POSIX path, hashes before/after, content.

    ``before_sha256`` is ``None`` for a created file, ``after_sha256`` and ``content`` are
    ``None`` for a deleted one.
    """

    path: str
    before_sha256: str | None
    after_sha256: str | None
    content: bytes | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "before_sha256": self.before_sha256,
            "after_sha256": self.after_sha256,
            "content": self.content,
        }


# One logger for every call; ``logging.getLogger`` takes a lock, and contexts are built per call.
_TOOL_LOGGER = logging.getLogger("agentrun.tool")


@dataclass(frozen=True, kw_only=True)
class ToolContext:
    """Given to a tool that asks for it (a parameter annotated ``ToolContext`` or named ``ctx``).

    ``idempotency_key`` is filled from ``task_id`` and ``call_id`` (rule 26) when left empty.
    ``stop`` is set by the runtime when agentrun must stop (a signal); a long-running tool should
    end early, as the shell tool does. The fields are fixed; only ``file_changes`` grows.
    """

    task_id: str
    call_id: str
    workspace: Path
    idempotency_key: str = ""
    logger: logging.Logger = _TOOL_LOGGER
    arguments: Mapping[str, Any] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    file_changes: list[FileChange] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.idempotency_key:
            object.__setattr__(self, "idempotency_key", idempotency_key(self.task_id, self.call_id))
        if not isinstance(self.workspace, Path):
            object.__setattr__(self, "workspace", Path(self.workspace))

    def record_file_change(
        self,
        path: str,
        before_sha256: str | None,
        after_sha256: str | None,
        content: bytes | None,
    ) -> None:
        """Note that this call wrote ``path`` (design §5 "File state"); the runtime logs it."""
        self.file_changes.append(FileChange(path, before_sha256, after_sha256, content))
