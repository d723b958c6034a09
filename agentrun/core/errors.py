"""The error hierarchy: one base class, one exit code per subclass (design §8).

Every message is one human sentence that names the fix when one is known. The CLI layer turns
these into ``error: …`` on stderr and the exit code; nothing below it prints or exits.
Control flow (a pause for a person, a budget reached, a signal) is not an error and lives elsewhere.
"""

from __future__ import annotations

# Exit codes of the command-line contract (design §8).
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NEEDS_ATTENTION = 3
EXIT_PAUSED = 4
EXIT_CLAIMED = 5
EXIT_SIGINT = 130
EXIT_SIGTERM = 143
EXIT_SIGHUP = 129  # the terminal or ssh session went away: stopped like SIGTERM
EXIT_SIGPIPE = 141  # the output went away mid-run (128 + SIGPIPE, as a shell reports it)


class AgentrunError(Exception):
    """Base of every error agentrun raises on purpose; ``str(err)`` is the one-line message."""

    exit_code: int = EXIT_FAILED


class UsageError(AgentrunError):
    """The user's input is wrong: arguments, options, ids, files they pointed at."""

    exit_code = EXIT_USAGE


class InvalidIdError(UsageError):
    """A task id is not of the allowed form (design §3)."""


class TaskNotFoundError(UsageError):
    """No task matches the given id or prefix."""


class AmbiguousTaskError(UsageError):
    """A prefix matches more than one task."""


class SpecError(UsageError):
    """An agent spec (TOML file or flags) is malformed or incomplete."""


class ToolLoadError(UsageError):
    """A tools file or module could not be loaded; the message names file and line."""


class NetworkFsError(UsageError):
    """The home is on a network or FUSE file system and ``--allow-network-fs`` was not given."""


class StorageError(AgentrunError):
    """An I/O operation on the home failed (disk full, EIO, permissions). The run stopped."""


class RecordTooLargeError(AgentrunError):
    """An event would not fit in one log record (rule 11). Nothing was written; the log and the
    writer are as they were."""

    def __init__(self, kind: str, size: int, limit: int) -> None:
        super().__init__(
            f"event {kind} is {size:,} bytes, over the {limit:,}-byte limit of a log record"
        )
        self.kind, self.size, self.limit = kind, size, limit


class FencingError(StorageError):
    """The segment changed under the writer (rule 10): someone else wrote or truncated it."""


class CorruptRecordError(AgentrunError):
    """A record could not be decoded or validated (rules 14, 16, 31).

    ``segment`` and ``offset`` are filled in by the store when it knows them.
    """

    def __init__(self, reason: str, *, segment: str | None = None, offset: int | None = None):
        self.reason = reason
        self.segment = segment
        self.offset = offset
        super().__init__(self._message())

    def _message(self) -> str:
        where = ""
        if self.segment is not None:
            where = f" in {self.segment}"
            if self.offset is not None:
                where += f" at byte {self.offset}"
        return f"corrupt record{where}: {self.reason}"


class CorruptLogError(AgentrunError):
    """A task's log holds a bad record followed by valid ones; it refuses to run (rule 16).

    ``reason`` says what is wrong and where (segment, byte). The store adds ``task_id`` where
    it knows the task, so every command's message names it: ``corrupt log of task <id>: …``.
    """

    lead = "corrupt log"

    def __init__(self, reason: str, *, task_id: str | None = None) -> None:
        self.reason = reason
        self.task_id = task_id
        of_task = f" of task {task_id}" if task_id is not None else ""
        super().__init__(f"{self.lead}{of_task}: {reason}")

    def of_task(self, task_id: str) -> CorruptLogError:
        """This error naming ``task_id``; itself when it already names a task."""
        return self if self.task_id is not None else type(self)(self.reason, task_id=task_id)


class UnreadableLogError(CorruptLogError):
    """A task's log cannot be read at all: a file where its directory or a directory where a
    segment should be. Damage as much as a bad record is, handled the same way (exit 1, the task
    refuses to run); the message names the path: ``cannot read the log of task <id>: …``.
    """

    lead = "cannot read the log"


class CorruptBlobError(AgentrunError):
    """A blob the log names is missing or no longer hashes to its name; the message names the
    file and ``verify``. The log itself may be intact."""


class UnsupportedVersionError(AgentrunError):
    """The data was written by a newer agentrun; upgrade to read it (rule 31)."""


class ClaimedError(AgentrunError):
    """Another process holds the task's claim (rules 20-21)."""

    exit_code = EXIT_CLAIMED


class ModelError(AgentrunError):
    """A model provider failed in a way that retrying will not fix.

    ``usage``: the tokens of a reply that was paid for and then refused (cut off at the output
    limit, too large to record), so that the run's stop can count them toward the budget.
    """

    def __init__(self, message: str = "", *, usage: dict[str, int] | None = None) -> None:
        super().__init__(message)
        self.usage = usage


class ModelAuthError(ModelError):
    """The endpoint rejected the API key (401/403)."""


class ModelNotFoundError(ModelError):
    """The endpoint does not know the model name (404)."""


class ModelResponseError(ModelError):
    """The endpoint answered with something that is not a valid response."""


class ModelUnavailableError(ModelError):
    """Transient failures went on past the retry budget (429, 5xx, resets, timeouts)."""


class ModelStoppedError(ModelError):
    """A stop signal arrived while waiting on the model; the turn was not recorded (design §9)."""


class ToolArgumentError(AgentrunError):
    """A model called a tool with arguments that do not match its schema; the model is told."""


class WorkspaceEscapeError(AgentrunError):
    """A path given to a file tool leaves the workspace; refused, the model is told."""
