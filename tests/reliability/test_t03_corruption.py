"""T3: damage followed by valid records is corruption, at the exact segment and byte (rules 14, 16).

Bit flips (1 or 2 bits) and overwrites (1-64 bytes) land in a random record that has at least
three valid records after it, in the sealed segment or the last one; then every bit of the
length and CRC fields of one middle record is flipped in turn, and every bit of each segment
header. Each time ``verify`` names the damaged segment and the byte offset of the damaged record
(and the next valid record in that segment), readers and ``open_writer`` refuse with
``CorruptLogError`` naming the same place, and refusing changes no byte of the task
(INV-CLASSIFY, rule 16, rule 17).

Through the CLI (50 damaged tasks in CI, 1,000 extended, ten to a home): one real
``agentrun verify --all --json`` per home names each task's damaged segment and byte; ``agentrun
resume`` of each task exits 1 with one line naming the place and ``agentrun verify`` (one task a
home in a real process, the rest through the same ``agentrun.cli.app.run`` boundary in process);
no byte or mtime of any task changes.

Seeded: the seed is printed; ``AGENTRUN_SEED=<n>`` reruns a failure. The same log as T1 is used
(40 records, ~64 KiB and 5 KiB records, one roll), without snapshots so that opening reads the
sealed segment too.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from agentrun.core.errors import CorruptLogError
from agentrun.store.local import LocalTaskStore
from agentrun.store.verify import verify_task
from tests.conftest import CliResult, run_agentrun
from tests.store.builders import (
    BuiltTask,
    build_task,
    content_digest,
    record_bounds,
    seed_from_env,
    tree_digest,
)
from tests.trials import trials

KIB = 1024
RECORDS = 40
BIG = {12: 64 * KIB, 33: 5 * KIB}
SEGMENT_BYTES = 72 * KIB
T3_TRIALS = trials(2_000, 100_000)
T3_CHUNKS = 2
MIN_VALID_AFTER = 3
Cli = Callable[..., CliResult]


@dataclass(frozen=True)
class Rec:
    """Where one record lies: its segment, start, end and the next record in that segment."""

    segment: Path
    offset: int
    end: int
    next_offset: int | None
    after: int  # how many records follow it in the whole log


def make_log(
    home: Path, task_id: str = "t-build"
) -> tuple[BuiltTask, list[Rec], list[tuple[Path, int]]]:
    """The T1 log, its records, and ``(segment, header size)`` of every segment."""
    store = LocalTaskStore(home, segment_bytes=SEGMENT_BYTES)
    built = build_task(store, RECORDS, big=BIG, task_id=task_id)
    recs: list[Rec] = []
    headers = []
    for segment in built.segments():
        header_size, bounds = record_bounds(segment.read_bytes())
        headers.append((segment, header_size))
        for i in range(len(bounds) - 1):
            nxt = bounds[i + 1] if i + 2 < len(bounds) else None
            recs.append(Rec(segment, bounds[i], bounds[i + 1], nxt, 0))
    recs = [
        Rec(r.segment, r.offset, r.end, r.next_offset, len(recs) - i - 1)
        for i, r in enumerate(recs)
    ]
    assert len(recs) == RECORDS and len(headers) == 2
    return built, recs, headers


def pwrite(path: Path, offset: int, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        assert os.pwrite(fd, data, offset) == len(data)
    finally:
        os.close(fd)


def assert_refused_at(
    built: BuiltTask, segment: Path, offset: int, next_valid: int | None, where: str
) -> str:
    """verify, readers and open_writer all name ``segment`` and ``offset``; nothing changes."""
    store, task_id = built.store, built.task_id
    before = content_digest(built.task_dir)
    report = verify_task(store.ops, store.task_dir(task_id), task_id)
    assert not report.is_ok, where
    problem = report.problems[0]
    assert (problem.file, problem.offset) == (segment.name, offset), f"{where}: {problem}"
    assert problem.is_corruption, where
    if offset > 0:
        assert problem.next_valid_offset == next_valid, f"{where}: {problem}"
    place = f"{segment.name} at byte {offset}"
    with pytest.raises(CorruptLogError) as info:
        list(store.events(task_id))
    assert place in str(info.value), f"{where}: {info.value}"
    with pytest.raises(CorruptLogError) as info:
        store.load(task_id)
    assert segment.name in str(info.value), f"{where}: {info.value}"
    with pytest.raises(CorruptLogError) as info:
        store.open_writer(task_id)
    assert segment.name in str(info.value), f"{where}: {info.value}"
    assert f"byte {offset}" in str(info.value) or offset == 0, f"{where}: {info.value}"
    assert not store.is_claimed(task_id), f"{where}: a refused open kept the claim"
    assert content_digest(built.task_dir) == before, f"{where}: refusing changed bytes"
    return problem.reason


def damage(rng: random.Random, rec: Rec, data: bytes) -> tuple[str, int, bytes]:
    """A random change inside ``rec``: ``(description, start, new bytes)``; always different."""
    size = rec.end - rec.offset
    kind = rng.choice(("flip1", "flip2", "overwrite"))
    if kind == "overwrite":
        length = min(rng.randint(1, 64), size)
        start = rec.offset + rng.randrange(size - length + 1)
        new = rng.randbytes(length)
        while new == data[start : start + length]:
            new = rng.randbytes(length)
        return f"overwrite {length} bytes at {start}", start, new
    bits = rng.sample(range(size * 8), 1 if kind == "flip1" else 2)
    start = rec.offset + min(bits) // 8
    stop = rec.offset + max(bits) // 8 + 1
    changed = bytearray(data[start:stop])
    for bit in bits:
        changed[rec.offset + bit // 8 - start] ^= 1 << (bit % 8)
    return f"{kind} bits {bits} of the record at {rec.offset}", start, bytes(changed)


@pytest.mark.parametrize("chunk", range(T3_CHUNKS))
def test_random_damage_before_valid_records_is_corruption_at_the_exact_record(
    chunk: int, fast_home: Path
) -> None:
    seed = seed_from_env(7300) + chunk
    rng = random.Random(seed)
    built, recs, _headers = make_log(fast_home)
    candidates = [r for r in recs if r.after >= MIN_VALID_AFTER]
    reasons: dict[str, int] = {}
    started = time.perf_counter()
    trials = T3_TRIALS // T3_CHUNKS
    for trial in range(trials):
        rec = rng.choice(candidates)
        original = rec.segment.read_bytes()
        what, start, new = damage(rng, rec, original)
        pwrite(rec.segment, start, new)
        where = f"trial {trial} seed {seed}: {what} in {rec.segment.name}"
        reason = assert_refused_at(built, rec.segment, rec.offset, rec.next_offset, where)
        reasons[reason.split(":")[0]] = reasons.get(reason.split(":")[0], 0) + 1
        pwrite(rec.segment, 0, original)
    elapsed = time.perf_counter() - started
    print(f"T3 seed={seed}: {trials} damaged records in {elapsed:.1f} s, reasons {reasons}")
    assert set(reasons) <= {"length", "crc"}


def test_every_bit_of_a_middle_records_length_and_crc_is_caught(fast_home: Path) -> None:
    built, recs, _headers = make_log(fast_home)
    last_segment = [r for r in recs if r.segment == recs[-1].segment]
    rec = last_segment[len(last_segment) // 2]
    assert rec.after >= MIN_VALID_AFTER
    original = rec.segment.read_bytes()
    for bit in range(64):
        index = rec.offset + bit // 8
        pwrite(rec.segment, index, bytes([original[index] ^ (1 << (bit % 8))]))
        where = f"bit {bit} of the {'length' if bit < 32 else 'crc'} field"
        assert_refused_at(built, rec.segment, rec.offset, rec.next_offset, where)
        pwrite(rec.segment, 0, original)


@pytest.mark.parametrize("which", ["sealed", "last"])
def test_every_bit_of_a_segment_header_is_caught(which: str, fast_home: Path) -> None:
    built, _recs, headers = make_log(fast_home)
    segment, header_size = headers[0] if which == "sealed" else headers[-1]
    original = segment.read_bytes()
    for bit in range(header_size * 8):
        pwrite(segment, bit // 8, bytes([original[bit // 8] ^ (1 << (bit % 8))]))
        where = f"bit {bit} of the {which} segment header"
        reason = assert_refused_at(built, segment, 0, None, where)
        assert reason.startswith("header: "), f"{where}: {reason}"
        pwrite(segment, 0, original)


def test_a_sealed_segment_that_ends_in_a_torn_record_is_corruption(fast_home: Path) -> None:
    """A sealed segment was fsynced before the roll (rule 12): its tail is never 'torn'."""
    built, recs, headers = make_log(fast_home)
    sealed = headers[0][0]
    last = [r for r in recs if r.segment == sealed][-1]
    data = sealed.read_bytes()
    os.truncate(sealed, last.end - 5)
    assert_refused_at(built, sealed, last.offset, None, "sealed segment cut 5 bytes short")
    pwrite(sealed, 0, data)


def test_a_missing_middle_segment_is_corruption(fast_home: Path) -> None:
    built = build_task(
        LocalTaskStore(fast_home, segment_bytes=8 * KIB), 60, task_id="t-three-segments"
    )
    segments = built.segments()
    assert len(segments) >= 3
    segments[1].unlink()
    report = verify_task(built.store.ops, str(built.task_dir), built.task_id)
    assert not report.is_ok
    assert report.problems[0].file == segments[2].name
    assert report.problems[0].reason.startswith("seq: ")
    with pytest.raises(CorruptLogError, match="a segment is missing"):
        list(built.store.events(built.task_id))


# -- through the CLI ------------------------------------------------------------------------------

CLI_DAMAGES = trials(50, 1_000)
CLI_TASKS_PER_HOME = 10


def resume_through_the_cli(cli: Cli, home: Path, task_id: str, *, real: bool) -> CliResult:
    """``agentrun resume TASK``: a real process, or in this one through the same error boundary
    (``agentrun.cli.app.run``, what ``main`` exits with) to save the interpreter start-up."""
    if not real:
        return cli("--home", home, "resume", task_id)
    proc = run_agentrun("resume", task_id, env={"AGENTRUN_HOME": str(home)})
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.mark.slow
@pytest.mark.parametrize("chunk", range(CLI_DAMAGES // CLI_TASKS_PER_HOME))
def test_damage_is_named_by_verify_and_refused_by_resume_through_the_cli(
    chunk: int, fast_home: Path, cli: Cli
) -> None:
    """Ten damaged tasks in one home: one ``agentrun verify --all --json`` process names the
    segment and byte of each one's first bad record; ``agentrun resume`` of each (the first in a
    real process) exits 1 with one line naming that place and ``verify``; no byte or mtime of
    any task changed."""
    seed = seed_from_env(7310) + chunk
    rng = random.Random(seed)
    damaged: dict[str, tuple[Rec, str]] = {}
    for number in range(CLI_TASKS_PER_HOME):
        _built, recs, _headers = make_log(fast_home, task_id=f"t3-cli-{number}")
        rec = rng.choice([r for r in recs if r.after >= MIN_VALID_AFTER])
        what, start, new = damage(rng, rec, rec.segment.read_bytes())
        pwrite(rec.segment, start, new)
        damaged[f"t3-cli-{number}"] = (rec, f"seed {seed}: {what} in {rec.segment.name}")
    before = tree_digest(fast_home / "tasks")

    verified = run_agentrun("verify", "--all", "--json", env={"AGENTRUN_HOME": str(fast_home)})
    assert verified.returncode == 1 and verified.stderr == "", verified.stderr
    reports = {report["task_id"]: report for report in json.loads(verified.stdout)}
    assert set(reports) == set(damaged)
    for task_id, (rec, where) in damaged.items():
        assert reports[task_id]["ok"] is False, where
        problem = reports[task_id]["problems"][0]
        assert (problem["file"], problem["offset"]) == (rec.segment.name, rec.offset), where
        assert problem["is_corruption"] and problem["next_valid_offset"] == rec.next_offset, where

    for number, (task_id, (rec, where)) in enumerate(damaged.items()):
        result = resume_through_the_cli(cli, fast_home, task_id, real=number == 0)
        assert result.code == 1, f"{where}: exit {result.code}: {result.err}"
        assert result.out == "" and result.err.count("\n") == 1, f"{where}: {result.err}"
        assert result.err.startswith("error: corrupt log"), f"{where}: {result.err}"
        place = f"{rec.segment.name} at byte {rec.offset}"
        assert place in result.err and "agentrun verify" in result.err, f"{where}: {result.err}"
    assert tree_digest(fast_home / "tasks") == before, "verify or resume changed a damaged task"
    print(f"T3 through the CLI, seed={seed}: {len(damaged)} damaged tasks")
