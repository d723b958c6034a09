"""SIGINT, SIGTERM and SIGHUP during a run: handlers only set a flag; the loop stops at a safe
point (rule 29).

A second SIGINT exits at once with 130; the log stays consistent because every record is one
``write(2)`` and a torn tail is repaired on the next open.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from agentrun.core.errors import EXIT_SIGHUP, EXIT_SIGINT, EXIT_SIGPIPE, EXIT_SIGTERM

# How late a stop may be noticed during a wait (a model's backoff, a scripted delay).
SLEEP_SLICE_S = 0.1
WATCHER_JOIN_S = 5.0  # for the watcher to say "stopping" when the run ended at once
# A closed terminal or ssh session (SIGHUP) stops a run like SIGTERM, instead of killing it
# mid-step and counting a crash against max_attempts (docs/decisions.md).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_EXIT_CODES = {
    signal.SIGINT: EXIT_SIGINT,
    signal.SIGTERM: EXIT_SIGTERM,
    signal.SIGHUP: EXIT_SIGHUP,
    signal.SIGPIPE: EXIT_SIGPIPE,
}
# The exit codes of a run stopped from outside: a command running many tasks stops after one.
STOPPED_EXIT_CODES = tuple(_EXIT_CODES.values())


class StopFlag:
    """Set by a signal (or by the runtime itself); read by the loop at step boundaries."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int | None = None
        # Written to stderr when a second Ctrl-C ends the process at once (no time for more).
        self.at_once_notice = ""

    @property
    def is_set(self) -> bool:
        """Whether a stop was requested."""
        return self.event.is_set()

    @property
    def exit_code(self) -> int:
        """130 for SIGINT, 143 for SIGTERM (design §8), 129 for SIGHUP, 141 when the output was
        closed."""
        return _EXIT_CODES.get(self.signum, EXIT_SIGINT)

    @property
    def name(self) -> str:
        """The signal's name, for the log."""
        return signal.Signals(self.signum).name if self.signum else "stop"

    def sleep(self, seconds: float) -> None:
        """``time.sleep`` that returns early once the flag is raised.

        A signal does not cut ``time.sleep`` short (PEP 475 resumes it), so a long wait (a
        model's ``Retry-After``, a scripted delay) sleeps in slices and looks at the flag
        between them; the handler itself still only sets the flag (rule 29).
        """
        deadline = time.monotonic() + seconds
        while not self.is_set:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, SLEEP_SLICE_S))

    def set(self, signum: int) -> None:
        """Record the first signal and raise the flag."""
        if self.signum is None:
            self.signum = signum
        self.event.set()


def start_deaf_to_stops(start: Callable[[], None]) -> None:
    """Call ``start`` (which starts a helper thread) so that the thread never takes a stop signal.

    The kernel hands a process's signal to any thread that does not block it. Taken by a helper
    thread, it would reach its Python handler only when the main thread next runs Python, after
    a blocking call (a tool's sleep, a model's read) ends: a second Ctrl-C would wait for it. A
    thread inherits the signal mask of the one that starts it, so block, start, then restore.
    """
    if threading.current_thread() is not threading.main_thread():
        start()
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextmanager
def stop_on_signals(
    flag: StopFlag, on_stop: Callable[[str], None] | None = None
) -> Iterator[StopFlag]:
    """Install flag-setting handlers for the duration of a run (main thread only).

    ``on_stop(signal name)`` is called once, from a helper thread, as soon as the first stop
    signal arrives: the handler itself only raises the flag (rule 29), and runs only when the
    main thread next runs Python. The same helper ends the process at once on a second Ctrl-C
    while the main thread is blocked (a tool's sleep, a model's read): a signal that lands
    between the handler and the blocking call's restart would otherwise wait for it to return.
    """
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        if flag.is_set and signum == signal.SIGINT:
            _exit_at_once(flag)  # second Ctrl-C: the user means it
        flag.set(signum)

    # Python's C-level handler writes each signal's number to this pipe at once, whatever the
    # main thread is doing; the watcher reads it.
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    previous_wakeup = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    previous = {s: signal.signal(s, handle) for s in STOP_SIGNALS}
    watcher = threading.Thread(
        target=_watch, args=(read_fd, flag, on_stop), name="stop-watch", daemon=True
    )
    start_deaf_to_stops(watcher.start)
    try:
        yield flag
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(previous_wakeup)
        os.close(write_fd)  # the watcher reads what is left, then the end of the pipe
        watcher.join(WATCHER_JOIN_S)
        os.close(read_fd)


def _watch(read_fd: int, flag: StopFlag, on_stop: Callable[[str], None] | None) -> None:
    """Read signal numbers from the wakeup pipe until it closes (see ``stop_on_signals``)."""
    stopping = False
    while data := os.read(read_fd, 64):
        for signum in data:
            if signum not in STOP_SIGNALS:
                continue
            if signum == signal.SIGINT and (stopping or flag.signum not in (None, signum)):
                _exit_at_once(flag)
            if not stopping and on_stop is not None:
                on_stop(signal.Signals(signum).name)
            stopping = True


def _exit_at_once(flag: StopFlag) -> None:
    """End the process now with 130, saying how to go on (``os.write``: safe anywhere)."""
    if flag.at_once_notice:
        with contextlib.suppress(OSError):
            os.write(2, f"\n{flag.at_once_notice}\n".encode())
    os._exit(EXIT_SIGINT)
