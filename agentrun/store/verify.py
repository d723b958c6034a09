"""``verify``: check every segment, record and snapshot of a task without changing anything.

Framing, CRCs and seq continuity across all segments (sealed ones included, unlike opening for
writing), every blob the log names, then every snapshot against the fold of the log up to its
seq (rule 18). Reports the
segment, byte offset and reason of the first bad record, and the next valid record after it
(rule 16). A damaged snapshot is reported too: it is ignored, so no answer changes, but it is
damage on disk a person should know about. A file or directory that cannot be read at all (a
file where ``log/`` should be, a directory where a segment should be) is a problem naming it,
never an error: ``verify --all`` reports every other task all the same.
"""

from __future__ import annotations

import copy
import hashlib
import os
from dataclasses import dataclass, field

from agentrun.core.errors import CorruptRecordError, InvalidIdError, UnsupportedVersionError
from agentrun.core.events import Event, TaskSquashed, ToolCompleted
from agentrun.core.ids import validate_task_id
from agentrun.core.state import State, apply
from agentrun.store.fileops import FileOps, wrong_kind
from agentrun.store.framing import decode_header, scan_segment
from agentrun.store.segments import list_segments
from agentrun.store.snapshots import OutdatedSnapshotError, list_snapshots, read_snapshot


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong: where (file and byte offset), why, and whether it makes the log corrupt."""

    file: str
    offset: int | None
    reason: str
    next_valid_offset: int | None = None
    is_corruption: bool = True


@dataclass(slots=True)
class VerifyReport:
    """The result of verifying one task."""

    task_id: str
    events: int = 0
    segments: int = 0
    snapshots: int = 0
    torn_tail_bytes: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def is_ok(self) -> bool:
        """No damage: a torn tail is not damage (the writer repairs it); a bad snapshot is."""
        return not any(p.is_corruption for p in self.problems)


def verify_task(ops: FileOps, task_dir: str, task_id: str) -> VerifyReport:
    """Verify one task directory read-only (rule 17).

    ``task_id`` is the directory's name under ``tasks/``: a stray file or a directory whose
    name is no task id is reported as not a task, and nothing of it is read.
    """
    report = VerifyReport(task_id)
    if not os.path.isdir(task_dir):
        note = "not a task: a file among the task directories; move it out of tasks/"
        report.problems.append(Problem(task_id, None, note, is_corruption=False))
        return report
    try:
        validate_task_id(task_id)
    except InvalidIdError:
        note = "not a task directory: its name is not a task id; ignored"
        report.problems.append(Problem(task_id, None, note, is_corruption=False))
        return report
    log_dir = os.path.join(task_dir, "log")
    try:
        segments = list_segments(ops, log_dir)
    except FileNotFoundError:
        segments = []
    except OSError as exc:
        report.problems.append(_unreadable(task_dir, log_dir, exc))
        return report
    report.segments = len(segments)
    if not segments:
        report.problems.append(Problem("log", None, "no log segment"))
        return report
    state = State()
    states_at: dict[int, dict] = {}
    try:
        snapshots = list_snapshots(ops, os.path.join(task_dir, "snapshots"))
    except OSError as exc:
        report.problems.append(_unreadable(task_dir, os.path.join(task_dir, "snapshots"), exc))
        snapshots = []
    snapshot_seqs = {int(os.path.basename(p).split(".")[0]) for p in snapshots}
    report.snapshots = len(snapshot_seqs)  # counted even when damage in the log stops the check
    blobs: set[str] = set()
    expected = 1
    squashed = False
    for index, (first_seq, path) in enumerate(segments):
        name = os.path.basename(path)
        is_last = index == len(segments) - 1
        try:
            data = ops.read_file(path)
        except OSError as exc:
            report.problems.append(_unreadable(task_dir, path, exc))
            return report
        try:
            header = decode_header(data)
        except (CorruptRecordError, UnsupportedVersionError) as exc:
            report.problems.append(Problem(name, 0, f"header: {exc}"))
            return report
        if header is None:
            if not (is_last and index > 0):
                # Segments get their header before their name (creation and roll write a temp
                # file first), so only a roll cut short can leave one without: as open does.
                report.problems.append(Problem(name, 0, "header: incomplete header"))
                return report
            report.torn_tail_bytes += len(data)  # the writer drops this segment (rule 12)
            break
        if index == 0:
            expected = header.first_seq  # a squashed log starts later; checked below
        if header.first_seq != expected or first_seq != expected:
            report.problems.append(
                Problem(name, 0, f"seq: segment starts at {header.first_seq}, expected {expected}")
            )
            return report
        if header.task_id != task_id:
            report.problems.append(Problem(name, 0, f"header names task {header.task_id}"))
        scan = scan_segment(data, header.size, header.first_seq, zero_tail_is_end=is_last)
        for record in scan.records:
            squashed = squashed or record.event.kind == "task_squashed"
            blobs.update(_blob_digests(record.event))
            apply(state, record.event)
            if record.event.seq in snapshot_seqs:
                states_at[record.event.seq] = copy.deepcopy(state.to_dict())
        report.events += len(scan.records)
        expected = header.first_seq + len(scan.records)
        if scan.bad is not None:
            if is_last and not scan.is_corrupt:
                report.torn_tail_bytes += len(data) - scan.end
            else:
                report.problems.append(
                    Problem(name, scan.bad.offset, scan.bad.reason, scan.valid_after_bad)
                )
                return report
    if segments[0][0] > 1 and not any(p.file for p in report.problems) and not squashed:
        report.problems.append(
            Problem(os.path.basename(segments[0][1]), 0, "seq: earlier segments are missing")
        )
    _verify_blobs(ops, task_dir, blobs, report)
    _verify_snapshots(ops, task_dir, task_id, snapshots, states_at, report)
    return report


def _unreadable(task_dir: str, path: str, exc: OSError) -> Problem:
    """The problem of a file or directory of the task that could not be read: which, and why."""
    misplaced = wrong_kind(exc)
    where, why = (misplaced[0], f"it {misplaced[1]}") if misplaced else (path, exc.strerror)
    return Problem(os.path.relpath(where, task_dir), None, f"cannot be read: {why or exc}")


def _blob_digests(event: Event) -> list[str]:
    """The blobs an event names: a large tool output, file contents, a squashed state's files."""
    if isinstance(event, ToolCompleted):
        found = [change.get("blob") for change in event.files]
        found.append((event.output_blob or {}).get("sha256"))
    elif isinstance(event, TaskSquashed):
        files = event.state.get("files") or {}
        found = [info.get("blob") for info in files.values() if isinstance(info, dict)]
    else:
        return []
    return [digest for digest in found if isinstance(digest, str)]


def _verify_blobs(ops: FileOps, task_dir: str, digests: set[str], report: VerifyReport) -> None:
    """Every blob the log names exists and hashes to its name (``log --full``, ``export``)."""
    for digest in sorted(digests):
        name = f"blobs/{digest}"
        path = os.path.join(task_dir, "blobs", digest)
        try:
            data = ops.read_file(path)
        except FileNotFoundError:
            report.problems.append(Problem(name, None, "blob named by the log is missing"))
            continue
        except OSError as exc:
            report.problems.append(_unreadable(task_dir, path, exc))
            continue
        if hashlib.sha256(data).hexdigest() != digest:
            report.problems.append(Problem(name, None, "blob does not match its sha256"))


def _verify_snapshots(
    ops: FileOps,
    task_dir: str,
    task_id: str,
    snapshots: list[str],
    states_at: dict[int, dict],
    report: VerifyReport,
) -> None:
    log_dir = os.path.join(task_dir, "log")
    for path in snapshots:
        name = f"snapshots/{os.path.basename(path)}"
        try:
            snap = read_snapshot(ops, path, log_dir, task_id)
            actual = snap.state.to_plain_dict()  # reads every conversation page, strictly
        except OutdatedSnapshotError as exc:
            note = f"snapshot ignored: {exc.reason}; the next snapshot replaces it"
            report.problems.append(Problem(name, None, note, is_corruption=False))
            continue
        except (CorruptRecordError, OSError) as exc:
            reason = getattr(exc, "reason", str(exc))
            report.problems.append(Problem(name, None, f"snapshot ignored: {reason}"))
            continue
        expected = states_at.get(snap.position.seq)
        if expected is None or actual != expected:
            report.problems.append(
                Problem(
                    name,
                    None,
                    "snapshot differs from the fold of the log; delete it (snapshots are a cache)",
                )
            )
