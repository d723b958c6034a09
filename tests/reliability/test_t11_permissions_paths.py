"""T11: permissions, planted symlinks, hostile ids and network file systems, through the CLI.

Rules 1 and 22; INV-PERM. The store-level half (every directory 0700 and file 0600 after rolls,
snapshots, blobs and repairs; refusing network file systems) is ``tests/store/test_permissions.py``.
Here:

- a real ``agentrun start`` under umask 000 and 077 leaves a home of 0700 directories and 0600
  files (INV-PERM);
- a home that already exists with mode 0755 gets a warning naming it (rule 1), and everything
  agentrun makes inside it is still 0700 or 0600;
- symlinks planted at ``lock``, at a ``*.tmp-*`` name, at ``snapshots/``, ``log/`` or
  ``blobs/``, at the exact next segment name and at a far one make the command fail closed: a
  one-line error, no file created or changed through the link (also for dangling links);
- ids ``..``, ``a/b``, 65 characters, non-ASCII, a newline or a leading dot exit 2 and create
  nothing (the empty id is an xfail: see the test);
- a home on nfs4, cifs or fuse.sshfs (mocked) is refused with exit 2 unless
  ``--allow-network-fs``, which warns (rule 22).

About 30 cases; T11 has no extended tier.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from agentrun.store import home as home_module
from agentrun.store.local import LocalTaskStore
from tests.conftest import CliResult
from tests.reliability.harness import visible_tasks
from tests.runtime.agents import MIXED_TURNS, make_agent

Cli = Callable[..., CliResult]
SHORT_TURNS = [MIXED_TURNS[i] for i in (0, 1, 2, 8)]


def modes(root: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(root.lstat().st_mode)}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


@pytest.mark.parametrize("umask", [0o000, 0o077], ids=["umask-000", "umask-077"])
def test_a_real_run_makes_only_private_directories_and_files(umask: int, tmp_path: Path) -> None:
    agent = make_agent(tmp_path / "agent", SHORT_TURNS)
    home = tmp_path / "home"
    env = {**os.environ, "AGENTRUN_HOME": str(home), **agent.env()}
    proc = subprocess.run(
        [sys.executable, "-m", "agentrun", "start", "--agent", str(agent.spec), "-q", "goal"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=lambda: os.umask(umask),
    )
    assert proc.returncode == 0, proc.stderr
    found = modes(home)
    kinds = {Path(p).suffix for p in found} | {Path(p).name for p in found}
    assert {".seg", ".snap", "lock", "summary", "blobs"} <= kinds, sorted(found)
    for rel, mode in found.items():
        expected = 0o700 if (home / rel).is_dir() else 0o600
        assert mode == expected, f"{rel} is {mode:o} under umask {umask:03o}"


def _start_in_a_0755_home(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, CliResult]:
    """Run a short task in a home created beforehand with mode 0755 (readable by others)."""
    agent = make_agent(tmp_path / "agent", SHORT_TURNS)
    monkeypatch.setenv("AGENTRUN_LEDGER", str(agent.ledger))
    home = tmp_path / "shared-home"
    home.mkdir(mode=0o755)
    os.chmod(home, 0o755)
    result = cli("--home", str(home), "start", "--agent", str(agent.spec), "-q", "goal")
    assert result.code == 0, result.err
    return home, result


def test_an_existing_home_readable_by_others_is_named_in_a_warning(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, result = _start_in_a_0755_home(cli, tmp_path, monkeypatch)
    warnings = [line for line in result.err.splitlines() if line.startswith("warning:")]
    assert any(str(home) in w and "chmod 700" in w for w in warnings), result.err


def test_an_existing_0755_home_still_gets_private_tasks_and_files(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, _result = _start_in_a_0755_home(cli, tmp_path, monkeypatch)
    found = modes(home)
    assert found.pop(".") == 0o755, "agentrun changed the mode of a home it did not create"
    assert found, "nothing was created"
    for rel, mode in found.items():
        expected = 0o700 if (home / rel).is_dir() else 0o600
        assert mode == expected, f"{rel} is {mode:o} in a 0755 home"


# -- symlinks planted where the store writes ---------------------------------------------------


@pytest.fixture
def started(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str, Path]:
    """A paused task (two steps done) in a fresh home, and a precious file outside the home."""
    agent = make_agent(tmp_path / "agent", SHORT_TURNS)
    monkeypatch.setenv("AGENTRUN_LEDGER", str(agent.ledger))
    home = tmp_path / "home"
    result = cli(
        "--home", str(home), "start", "--agent", str(agent.spec), "-q", "--max-steps", "2", "g"
    )
    assert result.code == 4, result.err
    precious = tmp_path / "precious"
    precious.write_bytes(b"precious bytes")
    os.chmod(precious, 0o644)
    return home, visible_tasks(home)[0], precious


def assert_failed_closed(result: CliResult, precious: Path, *words: str) -> None:
    assert result.code == 1, result
    lines = result.err.strip().splitlines()
    assert lines and lines[-1].startswith("error: "), result.err
    assert "Traceback" not in result.err
    for word in words:
        assert word in lines[-1], lines[-1]
    assert precious.read_bytes() == b"precious bytes", "a file was changed through a symlink"
    assert stat.S_IMODE(precious.stat().st_mode) == 0o644


def resume(cli: Cli, home: Path, task_id: str) -> CliResult:
    return cli("--home", str(home), "resume", task_id, "-q", "--max-steps", "10")


def test_a_symlink_planted_at_the_lock_fails_closed(
    cli: Cli, started: tuple[Path, str, Path]
) -> None:
    home, task_id, precious = started
    lock = home / "tasks" / task_id / "lock"
    lock.unlink()
    lock.symlink_to(precious)
    assert_failed_closed(resume(cli, home, task_id), precious, "claim")
    missing = home / "tasks" / task_id / "nowhere"
    lock.unlink()
    lock.symlink_to(missing)  # a dangling link: nothing may be created at its target either
    assert_failed_closed(resume(cli, home, task_id), precious, "claim")
    assert not missing.exists()
    lock.unlink()
    lock.touch(mode=0o600)  # put the real lock back: the task goes on
    assert resume(cli, home, task_id).code == 0


@pytest.mark.parametrize("directory", ["snapshots", "log", "blobs"])
def test_a_task_directory_replaced_by_a_symlink_fails_closed(
    cli: Cli, started: tuple[Path, str, Path], tmp_path: Path, directory: str
) -> None:
    home, task_id, precious = started
    task_dir = home / "tasks" / task_id
    outside = tmp_path / f"outside-{directory}"
    if (task_dir / directory).exists():
        os.rename(task_dir / directory, outside)
    else:
        outside.mkdir()
    before = sorted(p.name for p in outside.iterdir())
    (task_dir / directory).symlink_to(outside, target_is_directory=True)
    assert_failed_closed(resume(cli, home, task_id), precious, directory, "symbolic link")
    assert sorted(p.name for p in outside.iterdir()) == before, "a file was made through it"
    (task_dir / directory).unlink()
    if before:
        os.rename(outside, task_dir / directory)
    assert resume(cli, home, task_id).code == 0  # with the link gone the task goes on


def test_a_symlink_at_the_next_segment_name_fails_closed(
    cli: Cli, started: tuple[Path, str, Path]
) -> None:
    home, task_id, precious = started
    log_dir = home / "tasks" / task_id / "log"
    (log_dir / f"{99_999:020d}.seg").symlink_to(precious)
    assert_failed_closed(resume(cli, home, task_id), precious)
    readers = cli("--home", str(home), "show", task_id)
    assert readers.code != 0 and "Traceback" not in readers.err
    assert precious.read_bytes() == b"precious bytes"
    (log_dir / f"{99_999:020d}.seg").unlink()


@pytest.mark.parametrize("dangling", [False, True], ids=["to-a-file", "dangling"])
def test_a_symlink_at_the_exact_next_segment_name_fails_closed(
    cli: Cli, started: tuple[Path, str, Path], dangling: bool
) -> None:
    """The name the next roll would take, ``<next seq>.seg``, planted before the resume."""
    home, task_id, precious = started
    log_dir = home / "tasks" / task_id / "log"
    next_seq = len(list(LocalTaskStore(home).events(task_id))) + 1
    target = home.parent / "nowhere" if dangling else precious
    link = log_dir / f"{next_seq:020d}.seg"
    link.symlink_to(target)
    assert_failed_closed(resume(cli, home, task_id), precious)
    assert not (home.parent / "nowhere").exists(), "a file was created through the link"
    assert link.is_symlink()
    link.unlink()
    assert resume(cli, home, task_id).code == 0


@pytest.mark.parametrize(
    ("point", "target"),
    [("after_sync", "snapshot"), ("after_sync", "summary"), ("before_write", "roll")],
)
def test_a_symlink_planted_at_a_temp_name_during_a_run_fails_closed(
    cli: Cli,
    started: tuple[Path, str, Path],
    monkeypatch: pytest.MonkeyPatch,
    point: str,
    target: str,
) -> None:
    """Temp names are O_EXCL|O_NOFOLLOW: a link planted under the writer is never followed."""
    home, task_id, precious = started
    task_dir = home / "tasks" / task_id
    monkeypatch.setattr("agentrun.store.atomic.secrets.token_hex", lambda n: "deadbeef")

    def plant(name: str) -> None:
        if name != point:
            return
        if target == "snapshot":
            seq = max(int(p.name.split(".")[0]) for p in (task_dir / "log").glob("*.seg"))
            for n in range(seq, seq + 200):  # whichever seq the next snapshot takes
                link = task_dir / "snapshots" / f"{n:020d}.snap.tmp-deadbeef"
                if not link.is_symlink():
                    link.symlink_to(precious)
        elif target == "summary":
            link = task_dir / "summary.tmp-deadbeef"
            if not link.is_symlink():
                link.symlink_to(precious)
        else:
            for n in range(1, 200):
                link = task_dir / "log" / f"{n:020d}.seg.tmp"
                if not link.exists() and not link.is_symlink():
                    link.symlink_to(precious)

    monkeypatch.setattr("agentrun.store.log_writer.crash_point", plant)
    if target == "roll":
        small_segments(monkeypatch)
    assert_failed_closed(resume(cli, home, task_id), precious)
    monkeypatch.undo()
    assert resume(cli, home, task_id).code == 0  # the next claim holder removes the links


def small_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the CLI's stores roll 1 KiB segments, so the next append rolls."""
    from agentrun.store.local import LocalTaskStore

    original = LocalTaskStore.__init__

    def init(self: LocalTaskStore, home: Path, **kwargs: object) -> None:
        original(self, home, **{**kwargs, "segment_bytes": 1024})  # type: ignore[arg-type]

    monkeypatch.setattr(LocalTaskStore, "__init__", init)


# -- ids and file systems -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "task_id", ["..", "a/b", "x" * 65, "tâche", "../../etc", ".", "任务", "a\\b", "id\n", ".new-x"]
)
def test_a_hostile_id_exits_2_and_creates_nothing(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, task_id: str
) -> None:
    assert_id_refused(cli, tmp_path, monkeypatch, task_id)


def test_an_empty_id_exits_2_and_creates_nothing(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert_id_refused(cli, tmp_path, monkeypatch, "")


def assert_id_refused(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, task_id: str
) -> None:
    agent = make_agent(tmp_path / "agent", SHORT_TURNS)
    monkeypatch.setenv("AGENTRUN_LEDGER", str(agent.ledger))
    home = tmp_path / "home"
    before = sorted(p.name for p in tmp_path.iterdir())
    started = cli("--home", str(home), "start", "--agent", str(agent.spec), "--id", task_id, "g")
    assert started.code == 2, started
    assert started.err.startswith("error: ") and "Traceback" not in started.err
    assert visible_tasks(home) == []
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "home") == before
    for command in (("resume", task_id), ("verify", task_id), ("show", task_id)):
        result = cli("--home", str(home), *command)
        assert result.code == 2, (command, result)
        assert "Traceback" not in result.err


@pytest.mark.parametrize("fs_type", ["nfs4", "cifs", "fuse.sshfs"])
def test_a_network_home_is_refused_unless_allowed(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fs_type: str
) -> None:
    agent = make_agent(tmp_path / "agent", SHORT_TURNS)
    monkeypatch.setenv("AGENTRUN_LEDGER", str(agent.ledger))
    monkeypatch.setattr(home_module, "filesystem_type", lambda path: fs_type)
    home = tmp_path / "home"
    refused = cli("--home", str(home), "start", "--agent", str(agent.spec), "-q", "g")
    assert refused.code == 2, refused
    assert fs_type in refused.err and "--allow-network-fs" in refused.err
    assert not home.exists(), "nothing is created on a refused file system"
    allowed = cli(
        "--home", str(home), "--allow-network-fs", "start", "--agent", str(agent.spec), "-q", "g"
    )
    assert allowed.code == 0, allowed.err
    assert any(
        line.startswith("warning:") and fs_type in line for line in allowed.err.splitlines()
    ), allowed.err
