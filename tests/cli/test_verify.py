"""``agentrun verify``: exit 0 for a clean log, 1 for corruption at a named segment and byte.

A clean task (also one ending in a torn tail, which is not corruption) exits 0 and its ``--json``
report counts the events; a damaged record followed by valid ones exits 1, and both the JSON
``problems[0]`` and the human line name the segment and byte offset of the damaged record and
the next valid record (rule 16). ``verify`` changes no byte or mtime (rule 17, INV-RO). About
20 random damages (T3 through the CLI; seed printed, ``AGENTRUN_SEED`` reruns) also check that
``show`` refuses with one line.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from agentrun.store.local import SNAPSHOTS_KEPT, LocalTaskStore
from tests.conftest import CliResult, run_agentrun
from tests.store.builders import BuiltTask, build_task, record_bounds, seed_from_env, tree_digest

Cli = Callable[..., CliResult]
CLI_DAMAGES = 20


@pytest.fixture
def task(agentrun_home: Path) -> BuiltTask:
    """40 events in several segments, no snapshot: every reader reads every record."""
    store = LocalTaskStore(agentrun_home, segment_bytes=8 * 1024)
    return build_task(store, 40, task_id="job-verify", big={30: 5 * 1024})


def verify_json(cli: Cli, *args: str) -> tuple[int, list[dict]]:
    result = cli("verify", *args, "--json")
    assert result.err == ""
    return result.code, json.loads(result.out)


def test_a_clean_task_verifies_with_exit_0(cli: Cli, task: BuiltTask) -> None:
    code, reports = verify_json(cli, task.task_id)
    assert code == 0
    assert len(reports) == 1
    report = reports[0]
    assert report["task_id"] == task.task_id and report["ok"] is True
    assert report["events"] == 40 and report["problems"] == []
    assert report["segments"] == len(task.segments()) > 1
    assert report["snapshots"] == 0 and report["torn_tail_bytes"] == 0
    human = cli("verify", task.task_id)
    assert human.code == 0
    assert human.out.startswith(f"{task.task_id}  ok  40 events in {report['segments']} segments")


def test_snapshots_are_counted_and_checked(cli: Cli, agentrun_home: Path) -> None:
    store = LocalTaskStore(agentrun_home, snapshot_every=10)
    built = build_task(store, 35, task_id="job-snapshots")
    code, reports = verify_json(cli, built.task_id)
    assert code == 0 and reports[0]["snapshots"] == SNAPSHOTS_KEPT and reports[0]["problems"] == []


def test_show_reads_from_the_newest_snapshot_so_only_verify_sees_older_damage(
    cli: Cli, agentrun_home: Path
) -> None:
    """By design (snapshots make loading flat in N): damage before the newest snapshot is
    invisible to ``show``, which starts reading there; ``verify`` reads everything."""
    store = LocalTaskStore(agentrun_home, snapshot_every=10)
    built = build_task(store, 35, task_id="job-old-damage")
    segment = built.segments()[0]
    data = bytearray(segment.read_bytes())
    data[100] ^= 0x04  # inside the first records, well before the snapshot at seq 30
    segment.write_bytes(bytes(data))
    assert cli("show", built.task_id).code == 0
    assert cli("verify", built.task_id).code == 1


def test_a_torn_tail_is_not_corruption(cli: Cli, task: BuiltTask) -> None:
    segment = task.segments()[-1]
    segment.write_bytes(segment.read_bytes() + b"\x33\x00\x00\x00partial")
    code, reports = verify_json(cli, task.task_id)
    assert code == 0
    assert reports[0]["ok"] is True and reports[0]["torn_tail_bytes"] == 11
    assert "torn tail of 11 bytes" in cli("verify", task.task_id).out


def test_verify_changes_no_byte_or_mtime(cli: Cli, task: BuiltTask) -> None:
    segment = task.segments()[-1]
    segment.write_bytes(segment.read_bytes() + b"\x33\x00\x00\x00partial")
    before = tree_digest(task.task_dir)
    for args in ((task.task_id,), (task.task_id, "--json"), ("--all",)):
        cli("verify", *args)
    assert run_agentrun("verify", "--all").returncode == 0
    assert tree_digest(task.task_dir) == before


def damage_record(task: BuiltTask, rng: random.Random) -> tuple[Path, int, int | None]:
    """Flip a bit in a record with at least 3 records after it: (segment, offset, next)."""
    segments = task.segments()
    places = []
    for index, segment in enumerate(segments):
        _header, bounds = record_bounds(segment.read_bytes())
        for i in range(len(bounds) - 1):
            records_after_in_segment = len(bounds) - 2 - i
            if index < len(segments) - 1 or records_after_in_segment >= 3:
                nxt = bounds[i + 1] if i + 2 < len(bounds) else None
                places.append((segment, bounds[i], bounds[i + 1], nxt))
    segment, start, end, nxt = rng.choice(places)
    data = bytearray(segment.read_bytes())
    bit = rng.randrange((end - start) * 8)
    data[start + bit // 8] ^= 1 << (bit % 8)
    segment.write_bytes(bytes(data))
    return segment, start, nxt


def test_random_damage_exits_1_naming_segment_and_offset(cli: Cli, task: BuiltTask) -> None:
    seed = seed_from_env(1601)
    rng = random.Random(seed)
    originals = {p: p.read_bytes() for p in task.segments()}
    for trial in range(CLI_DAMAGES):
        segment, offset, nxt = damage_record(task, rng)
        where = f"trial {trial} (seed {seed}): {segment.name} at byte {offset}"
        code, reports = verify_json(cli, task.task_id)
        assert code == 1, where
        problem = reports[0]["problems"][0]
        assert reports[0]["ok"] is False, where
        assert (problem["file"], problem["offset"]) == (segment.name, offset), where
        assert problem["next_valid_offset"] == nxt and problem["is_corruption"], where
        human = cli("verify", task.task_id)
        assert human.code == 1 and "CORRUPT" in human.out, where
        assert f"  {segment.name} at byte {offset}: " in human.out, where
        shown = cli("show", task.task_id)
        assert shown.code == 1 and shown.out == "", where
        assert shown.err.count("\n") == 1 and shown.err.startswith("error: corrupt log"), where
        assert segment.name in shown.err, where
        segment.write_bytes(originals[segment])
    assert cli("verify", task.task_id).code == 0


def test_a_real_process_reports_corruption_with_exit_1(task: BuiltTask) -> None:
    segment, offset, nxt = damage_record(task, random.Random(5))
    proc = run_agentrun("verify", task.task_id)
    assert proc.returncode == 1, proc
    assert f"{segment.name} at byte {offset}: " in proc.stdout
    if nxt is not None:
        assert f"next valid record at byte {nxt}" in proc.stdout
    assert proc.stderr == ""


def test_verify_all_reports_every_task_and_fails_if_one_is_corrupt(
    cli: Cli, task: BuiltTask, agentrun_home: Path
) -> None:
    other = build_task(LocalTaskStore(agentrun_home), 6, task_id="job-other")
    damage_record(task, random.Random(9))
    code, reports = verify_json(cli, "--all")
    assert code == 1
    assert {r["task_id"]: r["ok"] for r in reports} == {task.task_id: False, other.task_id: True}


def test_verify_without_a_task_or_all_is_a_usage_error(cli: Cli, task: BuiltTask) -> None:
    result = cli("verify")
    assert result.code == 2
    assert result.err.startswith("error: name a task or pass --all")


def test_verify_all_in_an_empty_home_says_no_tasks(cli: Cli) -> None:
    result = cli("verify", "--all")
    assert result.code == 0 and result.out.strip() == "no tasks"


def test_piped_output_is_never_wrapped_and_a_stray_entry_is_named(agentrun_home: Path) -> None:
    # docs/cli.md: lines are never wrapped; a reader of a pipe sees one problem per line.
    build_task(LocalTaskStore(agentrun_home), 5, task_id="a-real-task")
    (agentrun_home / "tasks" / "a-stray-file-with-a-rather-long-name.txt").write_text("x")
    result = run_agentrun("verify", "--all")
    assert result.returncode == 0, result.stderr  # a stray file damages no task
    lines = result.stdout.splitlines()
    problem = [line for line in lines if "not a task" in line]
    assert len(problem) == 1 and len(problem[0]) > 80
    assert problem[0].endswith("move it out of tasks/")


def unreadable_tasks(home: Path) -> dict[str, str]:
    """Three tasks: one whose ``log/`` is a file, one whose segment is a directory, one intact;
    the path each damaged one's problem names (relative to its directory)."""
    store = LocalTaskStore(home)
    file_log = build_task(store, 6, task_id="job-file-log")
    shutil.rmtree(file_log.log_dir)
    file_log.log_dir.write_bytes(b"not a directory")
    dir_segment = build_task(store, 6, task_id="job-dir-segment")
    segment = dir_segment.segments()[0]
    segment.unlink()
    segment.mkdir()
    build_task(store, 6, task_id="job-intact")
    return {"job-file-log": "log", "job-dir-segment": f"log/{segment.name}"}


def test_verify_all_names_a_task_it_cannot_read_and_verifies_the_others(
    cli: Cli, agentrun_home: Path
) -> None:
    damaged = unreadable_tasks(agentrun_home)
    code, reports = verify_json(cli, "--all")
    assert code == 1
    by_id = {r["task_id"]: r for r in reports}
    assert by_id["job-intact"]["ok"] is True and by_id["job-intact"]["events"] == 6
    for task_id, path in damaged.items():
        assert by_id[task_id]["ok"] is False
        [problem] = by_id[task_id]["problems"]
        assert problem["file"] == path and problem["reason"].startswith("cannot be read: it is ")
        assert problem["is_corruption"] is True
    human = cli("verify", "--all")
    assert human.code == 1 and human.err == ""
    assert "job-intact  ok  6 events" in human.out
    assert "  log: cannot be read: it is not a directory" in human.out
    assert f"  {damaged['job-dir-segment']}: cannot be read: it is a directory" in human.out


def test_verify_of_one_task_it_cannot_read_is_its_report_in_a_real_process(
    agentrun_home: Path,
) -> None:
    unreadable_tasks(agentrun_home)
    proc = run_agentrun("verify", "job-file-log")
    assert proc.returncode == 1 and proc.stderr == "", proc
    assert proc.stdout.startswith("job-file-log  CORRUPT")
    assert "  log: cannot be read: it is not a directory" in proc.stdout


def test_verify_all_names_a_directory_that_is_no_task_and_goes_on(
    cli: Cli, agentrun_home: Path
) -> None:
    build_task(LocalTaskStore(agentrun_home), 6, task_id="job-intact")
    (agentrun_home / "tasks" / "bad name").mkdir()
    code, reports = verify_json(cli, "--all")
    assert code == 0
    stray = next(r for r in reports if r["task_id"] == "bad name")
    assert [p["reason"] for p in stray["problems"]] == [
        "not a task directory: its name is not a task id; ignored"
    ]
    assert any(r["task_id"] == "job-intact" and r["events"] == 6 for r in reports)
