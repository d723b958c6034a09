"""``LocalTaskStore``: tasks as directories under ``<home>/tasks`` (design §3).

Creation is atomic and durable before the id is reported (rule 3); writing happens only through
a ``LocalTaskWriter`` that holds the claim (rules 20-21); readers never write (rule 17).
Foreign errors (``OSError``) are translated here into ``StorageError`` carrying the path.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import shlex
import stat
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from itertools import takewhile
from pathlib import Path
from typing import Any

from agentrun.core.codec import encode_event
from agentrun.core.errors import (
    AgentrunError,
    ClaimedError,
    CorruptBlobError,
    CorruptLogError,
    CorruptRecordError,
    InvalidIdError,
    RecordTooLargeError,
    StorageError,
    TaskNotFoundError,
    UnreadableLogError,
    UsageError,
)
from agentrun.core.events import Event, TaskCreated, TaskSquashed
from agentrun.core.ids import generate_task_id, match_task_id, random_suffix, validate_task_id
from agentrun.core.pages import PageRef
from agentrun.core.state import State, apply, fold
from agentrun.store.atomic import is_leftover, write_atomic
from agentrun.store.claim import Claim, is_claimed
from agentrun.store.crashpoints import crash_point
from agentrun.store.fileops import CREATE_FLAGS, FileOps, OsFileOps, write_all, wrong_kind
from agentrun.store.framing import MAX_RECORD, encode_header, encode_record
from agentrun.store.home import check_filesystem, ensure_home
from agentrun.store.log_reader import Position, iter_record_batches, iter_records
from agentrun.store.log_writer import DEFAULT_SEGMENT_BYTES, LogWriter
from agentrun.store.recovery import open_tail, remove_leftovers
from agentrun.store.segments import list_segments, segment_name
from agentrun.store.snapshots import (
    PageLoader,
    list_pages,
    list_snapshots,
    read_page,
    read_snapshot,
    remove_unnamed_pages,
    write_snapshot,
)
from agentrun.store.summary import current_summary, summarize, write_summary
from agentrun.store.task_store import LoadedTask

DEFAULT_SNAPSHOT_EVERY = 1000
SNAPSHOTS_KEPT = 2
CANCEL_REQUEST = "cancel-request"


@contextlib.contextmanager
def corrupt_log_of(task_id: str) -> Iterator[None]:
    """Turn a corrupt record or log met inside into a ``CorruptLogError`` naming ``task_id``."""
    try:
        yield
    except CorruptRecordError as exc:
        raise CorruptLogError(f"{exc}; run `agentrun verify`", task_id=task_id) from None
    except CorruptLogError as exc:
        raise exc.of_task(task_id) from None


class LocalTaskStore:
    """Tasks on the local file system under ``home``."""

    def __init__(
        self,
        home: Path,
        *,
        ops: FileOps | None = None,
        allow_network_fs: bool = False,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        snapshot_every: int = DEFAULT_SNAPSHOT_EVERY,
    ) -> None:
        self.home = Path(home)
        self.tasks_dir = self.home / "tasks"
        self.ops: FileOps = ops or OsFileOps()
        self.allow_network_fs = allow_network_fs
        self.segment_bytes = segment_bytes
        self.snapshot_every = snapshot_every
        self.warnings: list[str] = []

    # -- layout ------------------------------------------------------------------------------

    def task_dir(self, task_id: str) -> str:
        """The directory of a task; the id is validated first (design §3)."""
        return str(self.tasks_dir / validate_task_id(task_id))

    def _log_dir(self, task_id: str) -> str:
        return os.path.join(self.task_dir(task_id), "log")

    def _snap_dir(self, task_id: str) -> str:
        return os.path.join(self.task_dir(task_id), "snapshots")

    # -- creating ----------------------------------------------------------------------------

    def prepare_home(self) -> None:
        """Create the home if needed and check it (rules 1, 22); writers call this first."""
        self.warnings += check_filesystem(self.home, allow_network_fs=self.allow_network_fs)
        self.warnings += ensure_home(self.home, self.ops)

    def create(
        self,
        make_created: Callable[[str], TaskCreated],
        *,
        now: datetime,
        task_id: str | None = None,
    ) -> str:
        """Create a task whose first event is ``make_created(id)``; durable before returning.

        Rule 3: build ``tasks/.new-*``, fsync everything, rename into place, fsync ``tasks/``.
        Raises ``UsageError`` if a requested id exists and ``StorageError`` on I/O failure.
        """
        self.prepare_home()
        for _attempt in range(20):
            chosen = (
                task_id
                if task_id is not None  # an empty --id is invalid, not "pick one for me"
                else generate_task_id(now, random_suffix(secrets.token_bytes(4)))
            )
            validate_task_id(chosen)
            if not os.path.lexists(self.tasks_dir / chosen):
                try:
                    self._create_at(chosen, make_created(chosen))
                    return chosen
                except FileExistsError:
                    pass
                except OSError as exc:
                    if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                        raise self._storage_error("create the task", exc) from None
            if task_id is not None:
                raise UsageError(f"task {task_id} already exists; choose another --id")
        raise StorageError("could not find a free task id after 20 tries")

    def _create_at(self, task_id: str, created: TaskCreated) -> None:
        payload = encode_event(created)
        if len(payload) > MAX_RECORD:  # rule 11, before anything is written
            raise RecordTooLargeError(created.kind, len(payload), MAX_RECORD)
        ops, tasks = self.ops, str(self.tasks_dir)
        tmp = os.path.join(tasks, f".new-{task_id}-{secrets.token_hex(4)}")
        ops.mkdir(tmp)
        for sub in ("log", "snapshots"):
            ops.mkdir(os.path.join(tmp, sub))
        lock_fd = ops.open(os.path.join(tmp, "lock"), CREATE_FLAGS)
        ops.close(lock_fd)
        seg = os.path.join(tmp, "log", segment_name(1))
        fd = ops.open(seg, CREATE_FLAGS)
        try:
            write_all(ops, fd, encode_header(task_id, 1) + encode_record(payload))
            ops.fsync(fd)
        finally:
            ops.close(fd)
        ops.fsync_dir(os.path.join(tmp, "log"))
        ops.fsync_dir(os.path.join(tmp, "snapshots"))
        ops.fsync_dir(tmp)
        crash_point("create_before_replace")
        # os.replace of a directory onto an existing non-empty one fails: ids stay unique.
        ops.replace(tmp, os.path.join(tasks, task_id))
        crash_point("create_after_replace_before_dirsync")
        ops.fsync_dir(tasks)

    # -- finding -----------------------------------------------------------------------------

    def task_ids(self) -> list[str]:
        """Every task id, sorted; names starting with a dot are in-progress debris (rule 3)."""
        try:
            names = self.ops.listdir(str(self.tasks_dir))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise self._storage_error("list tasks", exc) from None
        return sorted(n for n in names if not n.startswith("."))

    def resolve(self, query: str) -> str:
        """The id matching ``query`` exactly or as an unambiguous prefix."""
        return match_task_id(query, self.task_ids())

    def is_claimed(self, task_id: str) -> bool:
        """Whether a process holds the task's claim (a probe; rule 24)."""
        return is_claimed(os.path.join(self.task_dir(task_id), "lock"))

    # -- reading -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def reading(self, task_id: str, action: str = "read the log") -> Iterator[None]:
        """Report what reading ``task_id`` inside meets as every read of the store does.

        A bad record becomes a ``CorruptLogError`` naming the task; a file or directory of the
        wrong kind an ``UnreadableLogError`` naming it; any other ``OSError`` a ``StorageError``
        saying the ``action`` that failed.
        """
        try:
            with corrupt_log_of(task_id):
                yield
        except OSError as exc:
            raise self._read_error(task_id, action, exc) from None

    def events(self, task_id: str, from_seq: int = 1) -> Iterator[Event]:
        """The task's events from ``from_seq`` on, streamed segment by segment."""
        log_dir = self._existing_log_dir(task_id)
        with self.reading(task_id):
            for _name, record in iter_records(self.ops, log_dir, from_seq=from_seq):
                if record.event.seq >= from_seq:
                    yield record.event

    def event_records(self, task_id: str, from_seq: int = 1) -> Iterator[list[dict[str, Any]]]:
        """The events of ``events`` as ``to_record`` maps, one list per segment.

        The same records and errors; for printing them (``log --json``) without building an
        event per record.
        """
        log_dir = self._existing_log_dir(task_id)
        with self.reading(task_id):
            for batch in iter_record_batches(self.ops, log_dir, from_seq=from_seq):
                if batch and batch[0]["seq"] < from_seq:
                    batch = [record for record in batch if record["seq"] >= from_seq]
                yield batch

    def load(self, task_id: str, *, upto: int | None = None) -> LoadedTask:
        """The current state: the newest valid snapshot plus the events after it (rule 18).

        With ``upto``, the state as of that event: the newest valid snapshot at or before it
        plus the events after it up to ``upto``, so a reader looking back need not fold the
        whole log. Events a ``prune --squash`` removed are gone: before the first event left,
        the state is empty.
        """
        log_dir = self._existing_log_dir(task_id)
        with self.reading(task_id, "read the task"):
            return self._load(task_id, log_dir, upto)

    def _load(self, task_id: str, log_dir: str, upto: int | None = None) -> LoadedTask:
        ignored: list[str] = []
        for path in list_snapshots(self.ops, self._snap_dir(task_id)):
            if upto is not None and _snapshot_seq(path) > upto:
                continue  # newer than the event asked for
            try:
                load_page = self._page_loader(task_id, log_dir, path)
                snap = read_snapshot(self.ops, path, log_dir, task_id, load_page=load_page)
            except (CorruptRecordError, OSError) as exc:
                ignored.append(f"{os.path.basename(path)}: {getattr(exc, 'reason', exc)}")
                continue
            state = snap.state
            for _name, record in iter_records(self.ops, log_dir, start=snap.position):
                if upto is not None and record.event.seq > upto:
                    break
                apply(state, record.event)
            return LoadedTask(state, snap.position.seq, ignored)
        seen = [False]  # whether the log holds an event, even one past ``upto``

        def read() -> Iterator[Event]:
            for _name, record in iter_records(self.ops, log_dir):
                seen[0] = True
                if upto is not None and record.event.seq > upto:
                    return  # a squashed log may start past ``upto``: the state is empty
                yield record.event

        state = fold(read())
        if not state.task_id and (upto is None or not seen[0]):
            raise CorruptLogError("no task_created event; run `agentrun verify`", task_id=task_id)
        return LoadedTask(state, None, ignored)

    def _page_loader(self, task_id: str, log_dir: str, snap_path: str) -> PageLoader:
        """Read a snapshot's conversation page; if it is damaged, take it from the log instead.

        A page is read long after its snapshot was checked, so it cannot make the snapshot be
        ignored any more; it is a cache all the same (rule 18): the damage is reported in
        ``warnings`` and the messages come from folding the log up to the snapshot's seq.
        """
        snap_dir = os.path.dirname(snap_path)
        from_log: list[Any] = []

        def load(start: int, ref: PageRef) -> list[Any]:
            try:
                return read_page(self.ops, snap_dir, ref)
            except (CorruptRecordError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                self.warnings.append(
                    f"task {task_id}: {os.path.basename(snap_path)} names a damaged page "
                    f"{ref.digest[:12]} ({reason}); its messages were read from the log instead "
                    "(run `agentrun verify`)"
                )
            if not from_log:
                seq = _snapshot_seq(snap_path)
                events = (r.event for _n, r in iter_records(self.ops, log_dir))
                try:
                    from_log.append(fold(takewhile(lambda e: e.seq <= seq, events)).messages)
                except CorruptLogError as exc:  # a page may be read after ``load`` returned
                    raise exc.of_task(task_id) from None
            return list(from_log[0][start : start + ref.count])

        return load

    def is_squashed(self, task_id: str) -> bool:
        """Whether ``prune --squash`` replaced the task's log by its final state, and finished.

        A log that still starts at seq 1 is not squashed: that costs a directory listing, not
        a read. A squash interrupted before it removed every old segment is not finished.
        """
        log_dir = self._existing_log_dir(task_id)
        try:
            segments = list_segments(self.ops, log_dir)
        except OSError as exc:
            raise self._storage_error("read the log", exc) from None
        if not segments or segments[0][0] == 1:
            return False
        first = next(self.events(task_id), None)
        return isinstance(first, TaskSquashed)

    def summary(self, task_id: str) -> dict[str, Any]:
        """The task's summary; rebuilt in memory (never written by a reader) when stale.

        ``ls`` asks this of every task: a current summary costs one read and two stats.
        """
        cached = current_summary(self.ops, f"{self.tasks_dir}/{validate_task_id(task_id)}")
        if cached is not None:
            return cached
        self._existing_log_dir(task_id)
        return summarize(self.load(task_id).state, None)

    def get_blob(self, task_id: str, digest: str) -> bytes:
        """The bytes of a blob by sha256 hex digest, checked against it (as pages are).

        Raises ``CorruptBlobError`` naming the file when it is missing or its bytes changed.
        """
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise UsageError(f"invalid blob digest {digest!r}")
        path = os.path.join(self.task_dir(task_id), "blobs", digest)
        try:
            data = self.ops.read_file(path)
        except FileNotFoundError:
            raise CorruptBlobError(f"blob file {path} is missing; {_verify(task_id)}") from None
        except OSError as exc:
            misplaced = wrong_kind(exc)
            if misplaced is None:
                raise self._storage_error("read a blob", exc) from None
            where, what = misplaced
            raise CorruptBlobError(f"blob file {where} {what}; {_verify(task_id)}") from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise CorruptBlobError(
                f"blob file {path} does not match its sha256 (its bytes changed); "
                f"{_verify(task_id)}"
            )
        return data

    def task_bytes(self, task_id: str) -> int:
        """Bytes of every file in the task's directory (apparent sizes)."""
        return _tree_bytes(self.task_dir(task_id))

    def delete(self, task_id: str) -> int:
        """Delete a task that nobody runs; return the bytes freed.

        Rule 20: take the claim first, so a running task is never deleted (``ClaimedError``).
        Rule 5: the rename to ``tasks/.trash-*`` is the commit point; removing the files after it
        may be interrupted, and the next prune removes the leftovers.
        """
        task_dir = self.task_dir(task_id)
        self._existing_log_dir(task_id)
        claim = Claim(os.path.join(task_dir, "lock"))
        if not claim.try_acquire():
            raise ClaimedError(self._claimed_message(task_id, None))
        try:
            freed = _tree_bytes(task_dir)
            trash = os.path.join(str(self.tasks_dir), f".trash-{task_id}-{secrets.token_hex(4)}")
            try:
                self.ops.replace(task_dir, trash)
                crash_point("prune_after_rename")
                self.ops.fsync_dir(str(self.tasks_dir))
            except OSError as exc:
                raise self._storage_error(f"delete task {task_id}", exc) from None
        finally:
            claim.release()
        _remove_tree(self.ops, trash)
        return freed

    def request_cancel(self, task_id: str, by: str) -> None:
        """Leave a cancel request for the process running the task (it holds the claim).

        The runner looks for it between steps and records ``cancel_requested`` itself.
        """
        path = os.path.join(self.task_dir(task_id), CANCEL_REQUEST)
        try:
            write_atomic(self.ops, path, by.encode())
        except OSError as exc:
            raise self._storage_error("request the cancel", exc) from None

    def remove_trash(self) -> list[str]:
        """Remove leftovers of interrupted deletions and creations (rules 3, 19)."""
        removed = []
        for name in self.ops.listdir(str(self.tasks_dir)) if self.tasks_dir.exists() else []:
            if name.startswith((".trash-", ".new-")):
                _remove_tree(self.ops, os.path.join(str(self.tasks_dir), name))
                removed.append(name)
        return removed

    def _existing_log_dir(self, task_id: str) -> str:
        log_dir = self._log_dir(task_id)
        if os.path.isdir(log_dir):
            return log_dir
        if not os.path.lexists(log_dir):
            raise TaskNotFoundError(f"no task {task_id}; `agentrun ls` lists the tasks")
        # Something else stands where the log should be: the task is there, and damaged.
        raise UnreadableLogError(
            f"{log_dir} is not a directory; {_verify(task_id)}", task_id=task_id
        )

    def entry_path(self, name: str) -> str:
        """The path of ``tasks/<name>`` for a name ``task_ids`` listed, a task id or not.

        For telling what is there (``verify --all`` names a stray file or directory); a task is
        read only through ``task_dir``, which validates its id (design §3).
        """
        if not name or name in (".", "..") or os.path.basename(name) != name:
            raise InvalidIdError(f"{name!r} is no entry of the tasks directory")
        return os.path.join(self.tasks_dir, name)

    # -- writing -----------------------------------------------------------------------------

    def open_writer(
        self, task_id: str, *, holder: Callable[[State], str] | None = None
    ) -> LocalTaskWriter:
        """Claim the task and open its log for appending, repairing a torn tail first.

        Raises ``ClaimedError`` (exit 5) naming the holder when another process has the claim,
        and ``CorruptLogError`` when the log is corrupt (the task refuses to run, rule 16).
        """
        self.prepare_home()
        task_dir = self.task_dir(task_id)
        log_dir = self._existing_log_dir(task_id)
        _refuse_links(task_dir)
        claim = Claim(os.path.join(task_dir, "lock"))
        if not claim.try_acquire():
            raise ClaimedError(self._claimed_message(task_id, holder))
        try:
            crash_point("claim_acquired")
            return LocalTaskWriter(self, task_id, claim, log_dir)
        except BaseException:
            claim.release()
            raise

    def _claimed_message(self, task_id: str, holder: Callable[[State], str] | None) -> str:
        try:
            state = self.load(task_id).state
        except Exception:  # the message is best effort; the claim answer is what matters
            state = None
        if state is not None and state.run:
            run = state.run
            since = run.get("since", "")[11:16]
            who = f"pid {run.get('pid')} on host {run.get('host')} since {since} UTC"
            return f"task {task_id} is being run by {who}; wait for it or stop that process"
        return f"task {task_id} is claimed by another process; wait for it or stop that process"

    def _read_error(self, task_id: str, action: str, exc: OSError) -> AgentrunError:
        """An ``OSError`` met reading a task: a directory where a file should be (or the other
        way round) is damage to the task, which ``verify`` reports; anything else is the disk's.
        """
        misplaced = wrong_kind(exc)
        if misplaced is None:
            return self._storage_error(action, exc)
        where, what = misplaced
        return UnreadableLogError(f"{where} {what}; {_verify(task_id)}", task_id=task_id)

    def _storage_error(self, action: str, exc: OSError) -> StorageError:
        where = f" ({exc.filename})" if exc.filename else ""
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return StorageError(f"disk full: could not {action}{where}; free space and try again")
        return StorageError(f"could not {action}{where}: {exc.strerror or exc}")


class LocalTaskWriter:
    """A claimed task open for appending; ``state`` is the fold up to the last appended event.

    Appended events are folded when ``state`` is next read, not inside ``append``: an append at
    ``fsync=always`` then costs the encoding, the fence and the write, and a caller that appends
    several times between reads (or only appends, as a bulk import does) folds in one pass.
    """

    def __init__(self, store: LocalTaskStore, task_id: str, claim: Claim, log_dir: str) -> None:
        self._store, self._ops, self.task_id = store, store.ops, task_id
        self._claim, self._log_dir = claim, log_dir
        self._task_dir = store.task_dir(task_id)
        with store.reading(task_id, "open the log"):
            removed = remove_leftovers(self._ops, log_dir)  # rule 19
            removed += remove_leftovers(self._ops, store._snap_dir(task_id))
            removed += remove_leftovers(self._ops, self._task_dir)
            tail = open_tail(self._ops, log_dir)
            loaded = store._load(task_id, log_dir)
        self.recovery: list[dict[str, Any]] = list(tail.repairs)
        self._pending_cancel_file: str | None = None
        if removed:
            self.recovery.append({"removed_leftovers": sorted(removed)})
        self._state: State = loaded.state
        self._unfolded: list[Event] = []
        self.ignored_snapshots = loaded.ignored_snapshots
        self._log = LogWriter(self._ops, log_dir, task_id, tail, segment_bytes=store.segment_bytes)
        self._since_snapshot = self._state.last_seq - (loaded.snapshot_seq or 0)

    @property
    def state(self) -> State:
        """The folded state as of the last appended event."""
        if self._unfolded:
            state, events = self._state, self._unfolded
            self._unfolded = []
            for event in events:
                apply(state, event)
        return self._state

    @property
    def next_seq(self) -> int:
        """The seq the next event must carry."""
        return self._log.next_seq

    @property
    def fsync_count(self) -> int:
        """How many log fsyncs this writer has made (for benchmarks and group-commit tests)."""
        return self._log.fsync_count

    @property
    def has_unsynced(self) -> bool:
        """Whether appended events wait for an fsync, or for one that is running."""
        return self._log.has_unsynced

    def append(self, events: Sequence[Event], *, sync: bool) -> None:
        """Append events with one write (and one fsync if ``sync``); ``state`` will include them."""
        self._log.append(events, sync=sync)
        self._unfolded += events
        self._since_snapshot += len(events)
        if self._since_snapshot >= self._store.snapshot_every:
            self.snapshot()

    def sync(self) -> None:
        """Make every appended event durable."""
        self._log.sync()

    def begin_sync(self) -> None:
        """Start making the appended events durable and return while the disk works.

        ``sync``, a snapshot, a summary or the next ``begin_sync`` waits for it
        (``LogWriter.begin_sync``).
        """
        self._log.begin_sync()

    def wait_for_sync(self) -> None:
        """Wait for the sync ``begin_sync`` started, if any."""
        self._log.wait_for_sync()

    def snapshot(self) -> None:
        """Write a snapshot of ``state`` as of the last durable event (rules 4, 18)."""
        position = self._log.last_position
        if position is None:
            return
        self._log.sync()  # a snapshot must never be ahead of the durable log
        snap_dir = self._store._snap_dir(self.task_id)
        try:
            # The writer keeps the paged conversation: the next snapshot writes only new pages.
            messages = write_snapshot(self._ops, snap_dir, self.state, position)
            self.state.messages = messages
            # Each snapshot holds the whole state: keeping them all would grow the task
            # quadratically. The newest few are enough; an older one is only a fallback if the
            # newest turns out damaged, and the log is always the last resort (rule 18).
            # Nothing depends on a removal (rule 2): no directory fsync of its own; the next
            # snapshot's makes it durable, and a stale snapshot back after a power loss is
            # only an older cache, checked before use like any other.
            for path in list_snapshots(self._ops, snap_dir)[SNAPSHOTS_KEPT:]:
                self._ops.unlink(path)
            remove_unnamed_pages(self._ops, snap_dir, {p.ref.digest for p in messages.pages})
        except OSError as exc:
            raise self._store._storage_error("write a snapshot", exc) from None
        self._since_snapshot = 0

    def write_summary(self) -> None:
        """Refresh the ``summary`` cache for ``ls``."""
        self._log.sync()  # the summary must never be ahead of the durable log
        try:
            write_summary(
                self._ops,
                os.path.join(self._task_dir, "summary"),
                summarize(self.state, self._log.mark),
            )
        except OSError as exc:
            raise self._store._storage_error("write the summary", exc) from None

    def put_blob(self, data: bytes) -> str:
        """Store ``data`` content-addressed under ``blobs/`` durably; return its sha256 hex."""
        digest = hashlib.sha256(data).hexdigest()
        blob_dir = os.path.join(self._task_dir, "blobs")
        path = os.path.join(blob_dir, digest)
        try:
            if not os.path.isdir(blob_dir):
                self._ops.mkdir(blob_dir)
                self._ops.fsync_dir(self._task_dir)
            if not os.path.exists(path):
                write_atomic(self._ops, path, data)
        except OSError as exc:
            raise self._store._storage_error("write a blob", exc) from None
        return digest

    def squash(self) -> int:
        """Replace a finished task's step log by its final state; return the bytes freed.

        Rule 5: the new segment holding ``task_squashed`` is written and synced first; the old
        segments, snapshots and unreferenced blobs are removed after it, oldest first, so an
        interrupted cleanup leaves a log whose fold is still the final state.
        """
        if not self.state.is_finished:
            raise UsageError(f"task {self.task_id} is not finished; only finished tasks squash")
        before = self._store.task_bytes(self.task_id)
        old_segments = list_segments(self._ops, self._log_dir)
        squashed = TaskSquashed(
            seq=self.next_seq,
            ts=self.state.updated_at,
            state=self.state.to_plain_dict(),
            events_dropped=self.state.last_seq,
            bytes_before=before,
        )
        try:
            self._log.roll()
            self.append([squashed], sync=True)
            crash_point("squash_committed")
            # Snapshots first: they name the old segments, and a snapshot naming a removed
            # segment is reported by `verify`. Then the old segments oldest first, each removal
            # durable before the next, so a power loss leaves a contiguous tail of the old log,
            # never a gap. The new segment may reuse the name of an empty last segment: keep it.
            snap_dir = self._store._snap_dir(self.task_id)
            for path in list_snapshots(self._ops, snap_dir) + list_pages(self._ops, snap_dir):
                self._ops.unlink(path)
            self._ops.fsync_dir(snap_dir)
            for _first, path in old_segments:
                if path != self._log.segment_path:
                    self._ops.unlink(path)
                    self._ops.fsync_dir(self._log_dir)
            for name in self._ops.listdir(self._log_dir):
                if ".torn-" in name:
                    self._ops.unlink(os.path.join(self._log_dir, name))
            self._ops.fsync_dir(self._log_dir)
            self._remove_unreferenced_blobs()
        except OSError as exc:
            raise self._store._storage_error("squash the task", exc) from None
        self._since_snapshot = 0
        self.write_summary()
        self._log.trim()  # what is freed is measured against the log's data, not its spare room
        return before - self._store.task_bytes(self.task_id)

    def take_cancel_request(self) -> str | None:
        """Who asked to cancel (and forget the request), or ``None`` if nobody did."""
        path = os.path.join(self._task_dir, CANCEL_REQUEST)
        if not os.path.lexists(path):  # checked every step: one stat, no open
            return None
        try:
            by = self._ops.read_file(path).decode("utf-8", "replace")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._store._storage_error("read the cancel request", exc) from None
        self._pending_cancel_file = path
        return by or "unknown"

    def forget_cancel_request(self) -> None:
        """Remove a cancel request once the cancellation is durable in the log."""
        path = self._pending_cancel_file
        if path:
            with contextlib.suppress(FileNotFoundError):
                self._ops.unlink(path)
                self._ops.fsync_dir(self._task_dir)

    def _remove_unreferenced_blobs(self) -> None:
        blob_dir = os.path.join(self._task_dir, "blobs")
        if not os.path.isdir(blob_dir):
            return
        keep = {f.get("blob") for f in self.state.files.values()}
        keep |= {f.get("after") for f in self.state.files.values()}
        for name in self._ops.listdir(blob_dir):
            if name not in keep:
                self._ops.unlink(os.path.join(blob_dir, name))
        self._ops.fsync_dir(blob_dir)

    def close(self, *, snapshot: bool = True) -> None:
        """Sync, snapshot and summarize (a clean stop), then release the claim last (rule 20)."""
        try:
            if snapshot and self._since_snapshot:
                self.snapshot()
            self.write_summary()
        finally:
            try:
                self._log.close()
            finally:
                self._claim.release()

    def abandon(self) -> None:
        """Release descriptors and the claim without writing anything (after an I/O failure).

        Not even a sync of what is pending: after a failed sync anywhere, rule 8 allows none.
        """
        try:
            self._log.close(sync=False)
        except Exception:
            pass
        finally:
            self._claim.release()


def _snapshot_seq(path: str) -> int:
    """The seq a snapshot is as of, from its name (``list_snapshots`` lists only such names)."""
    return int(os.path.basename(path).split(".")[0])


def _verify(task_id: str) -> str:
    """The hint closing a message about damage to a task."""
    return f"run `agentrun verify {shlex.quote(task_id)}`"


def _refuse_links(task_dir: str) -> None:
    """Fail closed on a symlink planted at a task directory the writer writes into (rule 1).

    Files are opened with O_NOFOLLOW, which guards only the last path component: a link at
    ``snapshots/`` or ``log/`` would otherwise send every write to wherever it points.
    """
    for name in ("", "log", "snapshots", "blobs"):
        path = os.path.join(task_dir, name) if name else task_dir
        if os.path.islink(path):
            raise StorageError(
                f"{path} is a symbolic link; agentrun never writes through links inside a task. "
                "Replace it with the real directory"
            )


def _tree_bytes(root: str) -> int:
    total = 0
    for directory, _dirs, files in os.walk(root):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.lstat(os.path.join(directory, name)).st_size
    return total


def _remove_tree(ops: FileOps, path: str) -> None:
    """Remove a directory tree through ``ops``, best effort (leftovers are retried later).

    Called only on a tree already renamed out of sight (``.trash-*``, ``.new-*``): an
    interrupted removal leaves debris that readers skip and the next prune removes (rule 5).
    Symlinks are unlinked, never followed.
    """
    try:
        names = ops.listdir(path)
    except OSError:
        return
    for name in names:
        child = os.path.join(path, name)
        try:
            is_dir = stat.S_ISDIR(os.lstat(child).st_mode)
        except OSError:
            continue
        if is_dir:
            _remove_tree(ops, child)
        else:
            with contextlib.suppress(OSError):
                ops.unlink(child)
    with contextlib.suppress(OSError):
        ops.rmdir(path)


__all__ = ["LocalTaskStore", "LocalTaskWriter", "Position", "is_leftover"]
