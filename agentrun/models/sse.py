"""Server-sent events: split a byte stream into ``(event, data)`` records.

Pure and incremental: feed it chunks as they arrive. An event is dispatched at a blank line;
at the end of the stream a pending event is dispatched only if its last line was complete, so
a stream cut in the middle of a line never yields half a JSON document. ``starts_like_sse``
tells a stream cut before its first event from a body in another format. No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

_FIELDS = (b"data:", b"event:", b"id:", b"retry:", b":")
_BOM = b"\xef\xbb\xbf"


def starts_like_sse(head: bytes) -> bool:
    """Whether ``head``, the first bytes of a body, could be the start of an event stream.

    True when the first line (after a byte-order mark and blank lines) starts with a field
    (``data:``, ``event:``, ``id:``, ``retry:``) or a comment (``:``), or is cut inside such a
    field's name; a body of blank lines only is an event stream with nothing in it yet.
    """
    text = head.removeprefix(_BOM).lstrip(b"\r\n")
    line, newline, _ = text.partition(b"\n")
    if any(line.startswith(name) for name in _FIELDS):
        return True
    return not newline and any(name.startswith(line) for name in _FIELDS)


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One server-sent event: its ``event`` name ("message" when unnamed) and joined data."""

    event: str
    data: str


@dataclass(slots=True)
class SseParser:
    """Incremental SSE decoder (the subset model APIs use: ``event:``, ``data:``, comments)."""

    _buffer: bytes = b""
    _event: str = ""
    _data: list[str] = field(default_factory=list)

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """Consume ``chunk`` and return the events it completed."""
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        events: list[SseEvent] = []
        for raw in lines:
            event = self._line(raw.rstrip(b"\r").decode("utf-8", errors="replace"))
            if event is not None:
                events.append(event)
        return events

    def close(self) -> list[SseEvent]:
        """End of stream: dispatch a pending event whose lines all arrived whole."""
        if self._buffer or not self._data:
            # A partial last line means the stream was cut; drop what it started.
            return []
        event = self._dispatch()
        return [event] if event is not None else []

    def _line(self, line: str) -> SseEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        return None

    def _dispatch(self) -> SseEvent | None:
        if not self._data:
            self._event = ""
            return None
        event = SseEvent(event=self._event or "message", data="\n".join(self._data))
        self._event, self._data = "", []
        return event
