"""msgpack encoding of events that survives a round trip, and bounded strict decoding.

Rule 31: decode exactly one framed payload at a time, refuse ext types, timestamps, non-string
or duplicate keys, and turn every decoder failure into ``CorruptRecordError``. Rule 32: encode
with ``use_bin_type=True`` and no stringifying ``default=`` hook; values that would not come back
unchanged (ints outside int64, NaN/Inf) are refused before writing. No I/O here.
"""

from __future__ import annotations

import math
from typing import Any, NoReturn

import msgpack

from agentrun.core.errors import CorruptRecordError
from agentrun.core.events import INT64_MAX, INT64_MIN, Event, from_record, to_record

MAX_DEPTH = 64
MAX_CONTAINER_ITEMS = 1 << 20


class UnencodableValueError(ValueError):
    """A value cannot be stored so that it reads back unchanged."""


def encode_event(event: Event) -> bytes:
    """The msgpack payload of one event (rule 32)."""
    return encode_value(to_record(event))


def encode_value(value: Any) -> bytes:
    """msgpack bytes of a plain value; raises ``UnencodableValueError`` for lossy values."""
    check_encodable(value)
    return msgpack.packb(value, use_bin_type=True)


_PLAIN = frozenset({str, bool, bytes, type(None)})


def check_encodable(value: Any, depth: int = 0) -> None:
    """Refuse what would not round-trip: deep nesting, huge ints, NaN/Inf, odd types."""
    if depth > MAX_DEPTH:
        raise UnencodableValueError(f"value nests deeper than {MAX_DEPTH} levels")
    kind = type(value)
    if kind in _PLAIN:
        return
    if kind is int:
        if not INT64_MIN <= value <= INT64_MAX:
            raise UnencodableValueError(f"integer {value} does not fit in 64 bits")
        return
    if kind is float:
        if not math.isfinite(value):
            raise UnencodableValueError(f"{value} is not a finite number")
        return
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise UnencodableValueError(f"map key {key!r} is not a string")
            if type(item) not in _PLAIN or depth >= MAX_DEPTH:  # fast path for plain values
                check_encodable(item, depth + 1)
        return
    if kind is list or kind is tuple:
        for item in value:
            if type(item) not in _PLAIN or depth >= MAX_DEPTH:
                check_encodable(item, depth + 1)
        return
    raise UnencodableValueError(f"cannot store a value of type {kind.__name__}")


def decode_value(payload: bytes) -> Any:
    """Decode one payload strictly (rule 31); raises ``CorruptRecordError`` on any failure."""
    return _unpack(payload, object_pairs_hook=_unique_map)


def decode_cache(payload: bytes) -> Any:
    """Decode a CRC-checked cache file (a snapshot) fast: strict types, no duplicate-key hook.

    Duplicate keys cannot make a cache lie about the log: a snapshot is checked against the
    log's record at its seq, and ``verify`` compares it with the fold.
    """
    return _unpack(payload)


def _unpack(payload: bytes, **options: Any) -> Any:
    try:
        return msgpack.unpackb(
            payload,
            raw=False,
            strict_map_key=True,
            use_list=True,
            ext_hook=_refuse_ext,
            timestamp=0,
            # A 16 MiB frame of nils would otherwise become a 128 MiB list (INV-BOUNDED).
            max_array_len=MAX_CONTAINER_ITEMS,
            max_map_len=MAX_CONTAINER_ITEMS,
            **options,
        )
    except CorruptRecordError:
        raise
    except (ValueError, TypeError, RecursionError, msgpack.UnpackException) as exc:
        raise CorruptRecordError(f"undecodable payload ({type(exc).__name__}: {exc})") from None


def decode_event(payload: bytes) -> Event:
    """Decode and validate one event payload.

    The event must also be one ``encode_event`` could have written (rule 32): msgpack hands
    Timestamps (ext type -1) back without calling ``ext_hook``, and NaN, ints beyond int64 and
    nesting deeper than ``MAX_DEPTH`` decode fine, so any of them anywhere makes it corrupt.
    """
    record = decode_value(payload)
    event = from_record(record)
    try:
        check_encodable(record)
    except UnencodableValueError as exc:
        raise CorruptRecordError(f"value cannot be stored: {exc}") from None
    return event


def _refuse_ext(code: int, data: bytes) -> NoReturn:
    raise CorruptRecordError(f"msgpack extension type {code} is not allowed")


def _unique_map(pairs: list[tuple[Any, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise CorruptRecordError("map has duplicate keys")
    for key in result:
        if type(key) is not str:
            raise CorruptRecordError(f"map key of type {type(key).__name__} is not allowed")
    return result
