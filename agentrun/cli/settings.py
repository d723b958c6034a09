"""Global options shared by every command, and the store they select.

``AGENTRUN_SEGMENT_BYTES`` is read here, not in the store: the store takes the size as an
argument (style.md, "The CLI is a thin shell").
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agentrun.core.errors import UsageError

if TYPE_CHECKING:
    import typer

    from agentrun.store.local import LocalTaskStore

SEGMENT_BYTES_ENV = "AGENTRUN_SEGMENT_BYTES"
# Below this a segment holds few records and rolls on almost every append (rule 12 costs a file
# fsync and a directory fsync); 4096 is still small enough for tests to roll several times.
MIN_SEGMENT_BYTES = 4096


@dataclass(frozen=True, slots=True)
class Settings:
    """What the global options said."""

    home: Path | None
    allow_network_fs: bool
    debug: bool
    segment_bytes: int | None = None  # None: the store's default

    def store(self) -> LocalTaskStore:
        """The task store for the chosen home (imported lazily: it pulls in msgpack/filelock)."""
        from agentrun.store.home import default_home
        from agentrun.store.local import LocalTaskStore
        from agentrun.store.log_writer import DEFAULT_SEGMENT_BYTES

        return LocalTaskStore(
            self.home or default_home(),
            allow_network_fs=self.allow_network_fs,
            segment_bytes=self.segment_bytes or DEFAULT_SEGMENT_BYTES,
        )


def segment_bytes_from_env(environ: Mapping[str, str] = os.environ) -> int | None:
    """``$AGENTRUN_SEGMENT_BYTES``: the size at which log segments roll, or None when unset.

    For tests (small segments reach the roll and repair code in real processes) and for tuning.
    Raises ``UsageError`` for anything but a whole number of at least ``MIN_SEGMENT_BYTES``.
    """
    raw = environ.get(SEGMENT_BYTES_ENV, "")
    if not raw:
        return None
    try:
        value = int(raw.strip(), 10)
    except ValueError:
        value = None
    if value is None or value < MIN_SEGMENT_BYTES:
        raise UsageError(
            f"{SEGMENT_BYTES_ENV} must be a whole number of bytes, at least {MIN_SEGMENT_BYTES} "
            f"(got {raw!r}); unset it to use the default"
        )
    return value


def settings(ctx: typer.Context) -> Settings:
    """The settings of the running command."""
    obj = ctx.find_root().obj
    assert isinstance(obj, Settings)
    return obj
