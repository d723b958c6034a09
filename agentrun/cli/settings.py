"""Global options shared by every command, and the store they select."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from agentrun.store.local import LocalTaskStore


@dataclass(frozen=True, slots=True)
class Settings:
    """What the global options said."""

    home: Path | None
    allow_network_fs: bool
    debug: bool

    def store(self) -> LocalTaskStore:
        """The task store for the chosen home (imported lazily: it pulls in msgpack/filelock)."""
        from agentrun.store.home import default_home
        from agentrun.store.local import LocalTaskStore

        return LocalTaskStore(self.home or default_home(), allow_network_fs=self.allow_network_fs)


def settings(ctx: typer.Context) -> Settings:
    """The settings of the running command."""
    obj = ctx.find_root().obj
    assert isinstance(obj, Settings)
    return obj
