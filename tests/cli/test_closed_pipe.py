"""A reader that stops reading (``agentrun … | head -1``) is not an error: exit 0, no noise.

rich answers a closed pipe with exit 1 on its own, which for ``verify`` reads as "corrupt"; the
CLI's boundary decides for every command, on the typer path and on the fast one alike.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentrun.store.local import LocalTaskStore
from tests.store.builders import build_task

READERS = [
    ("verify", "--all"),
    ("ls",),
    ("ls", "--json"),
    ("log", "many"),
    ("log", "many", "--json"),
    ("show", "many"),
    ("export", "many"),
    ("stats",),
]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("closed-pipe") / "home"
    store = LocalTaskStore(home)
    build_task(store, 3000, task_id="many")  # far more output than a pipe buffers
    for n in range(30):
        build_task(store, 3, task_id=f"small-{n:02d}")
    return home


@pytest.mark.parametrize("args", READERS, ids=[" ".join(a) for a in READERS])
def test_a_reader_that_stops_early_is_not_an_error(home: Path, args: tuple[str, ...]) -> None:
    env = {**os.environ, "AGENTRUN_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentrun", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(1)  # read a byte, then go away as `head -c1` does
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, err
    assert err == ""
