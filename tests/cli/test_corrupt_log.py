"""A corrupt log is one error line that names the task, whichever command read it (design §8).

``error: corrupt log of task <id>: <segment> at byte <n>: <reason>; run `agentrun verify`…``
and exit 1, from every command that reads or opens the log: with two tasks on the command
line (``diff A B``) or many in the home, the id says which one to look at. ``verify`` keeps
its own report. A log that cannot be read at all (a file where ``log/`` should be, a directory
where a segment should be) is reported the same way, naming the path:
``error: cannot read the log of task <id>: <path> is …; run `agentrun verify <id>```.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from agentrun.store.local import LocalTaskStore
from tests.conftest import CliResult, run_agentrun
from tests.store.builders import BuiltTask, build_task

Cli = Callable[..., CliResult]
TASK = "job-corrupt"


def flip_a_bit(built: BuiltTask, offset: int) -> str:
    """Damage the task's last segment at ``offset``; its file name."""
    segment = built.segments()[-1]
    data = bytearray(segment.read_bytes())
    data[offset] ^= 0x01
    segment.write_bytes(bytes(data))
    return segment.name


@pytest.fixture(params=["record", "segment header"])
def corrupt(request: pytest.FixtureRequest, agentrun_home: Path) -> str:
    """A healthy task ``job-healthy`` and ``job-corrupt`` with a damaged record or header."""
    store = LocalTaskStore(agentrun_home)
    build_task(store, 10, task_id="job-healthy")
    built = build_task(store, 10, task_id=TASK)
    return flip_a_bit(built, 200 if request.param == "record" else 2)


READERS = [
    ("show",),
    ("show", TASK, "--at", "3"),
    ("log",),
    ("log", TASK, "--json"),
    ("log", TASK, "--kind", "run_started"),
    ("log", TASK, "--follow"),
    ("export",),
    ("diff",),
    ("diff", "job-healthy", TASK),
    ("fork", TASK, "--at", "2"),
    ("resume",),
    ("cancel",),
]


def the_one_error_line(cli: Cli, command: tuple[str, ...]) -> str:
    """Run ``command`` on the damaged task (its id added when it has no other argument): it
    exits 1 with one line on stderr and no traceback; that line."""
    result = cli(*(command if len(command) > 1 else (*command, TASK)))
    assert result.code == 1, result
    lines = result.err.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.err, lines
    return lines[0]


@pytest.mark.parametrize("command", READERS, ids=" ".join)
def test_a_corrupt_log_is_one_error_line_naming_the_task_and_exit_1(
    cli: Cli, corrupt: str, command: tuple[str, ...]
) -> None:
    line = the_one_error_line(cli, command)
    assert line.startswith(f"error: corrupt log of task {TASK}: "), line
    assert corrupt in line and "run `agentrun verify`" in line, line


def test_a_real_process_names_the_task_of_a_corrupt_log(corrupt: str) -> None:
    proc = run_agentrun("show", TASK)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"error: corrupt log of task {TASK}: ")
    assert corrupt in proc.stderr and proc.stderr.count("\n") == 1


@pytest.mark.parametrize("command", [("stats",), ("ls",), ("log", "--grep", "x")])
def test_a_read_over_every_task_names_the_corrupt_one_and_goes_on(
    cli: Cli, agentrun_home: Path, corrupt: str, command: tuple[str, ...]
) -> None:
    (agentrun_home / "tasks" / TASK / "summary").unlink()  # make it read the log
    result = cli(*command)
    assert result.code == 0, result
    warnings = [line for line in result.err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and corrupt in warnings[0]
    assert warnings[0].startswith(f"warning: task {TASK}") and "corrupt log: " in warnings[0]
    assert warnings[0].count(TASK) == 1 and warnings[0].count("agentrun verify") == 1, warnings


def test_verify_reports_the_damage_in_its_own_words(cli: Cli, corrupt: str) -> None:
    result = cli("verify", TASK)
    assert result.code == 1 and result.err == ""
    assert result.out.startswith(f"{TASK}  CORRUPT") and f"  {corrupt} at byte " in result.out


@pytest.fixture(params=["log is a file", "segment is a directory"])
def unreadable(request: pytest.FixtureRequest, agentrun_home: Path) -> Path:
    """``job-healthy``, and ``job-corrupt`` with a file for its ``log/`` or a directory for its
    segment: the path that is of the wrong kind."""
    store = LocalTaskStore(agentrun_home)
    build_task(store, 10, task_id="job-healthy")
    built = build_task(store, 10, task_id=TASK)
    if request.param == "log is a file":
        shutil.rmtree(built.log_dir)
        built.log_dir.write_bytes(b"not a directory")
        return built.log_dir
    segment = built.segments()[-1]
    segment.unlink()
    segment.mkdir()
    return segment


@pytest.mark.parametrize("command", READERS, ids=" ".join)
def test_a_log_that_cannot_be_read_is_one_error_line_naming_the_path_and_verify(
    cli: Cli, unreadable: Path, command: tuple[str, ...]
) -> None:
    line = the_one_error_line(cli, command)
    assert line.startswith(f"error: cannot read the log of task {TASK}: {unreadable} is ")
    assert line.endswith(f"; run `agentrun verify {TASK}`"), line


def test_a_real_process_names_the_log_it_cannot_read(unreadable: Path) -> None:
    proc = run_agentrun("show", TASK)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"error: cannot read the log of task {TASK}: {unreadable} is ")
    assert proc.stderr.count("\n") == 1


@pytest.mark.parametrize("command", [("stats",), ("ls",), ("log", "--grep", "x")])
def test_a_read_over_every_task_names_the_unreadable_one_and_goes_on(
    cli: Cli, unreadable: Path, command: tuple[str, ...]
) -> None:
    result = cli(*command)
    assert result.code == 0, result
    warnings = [line for line in result.err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1, result.err
    assert warnings[0].startswith(f"warning: task {TASK}") and str(unreadable) in warnings[0]
    assert warnings[0].count("agentrun verify") == 1, warnings
    if command == ("ls",):
        assert "job-healthy" in result.out and TASK not in result.out
