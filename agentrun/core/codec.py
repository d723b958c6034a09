"""msgpack encoding of events that survives a round trip, and bounded strict decoding.

Rule 31: decode exactly one framed payload at a time, refuse ext types, timestamps, non-string
or duplicate keys, and turn every decoder failure into ``CorruptRecordError``. Rule 32: encode
with ``use_bin_type=True`` and no stringifying ``default=`` hook; values that would not come back
unchanged (ints outside int64, NaN/Inf) are refused before writing. No I/O here.

``decode_records`` decodes a list of framed, CRC-checked payloads, each one alone, and proves
the rest of the checks by calls over the whole list; any doubt sends it back to one full check
per payload, so rule 31's answers are unchanged.
"""

from __future__ import annotations

import functools
import math
import re
import threading
import types
import typing
from collections.abc import Callable
from dataclasses import fields
from itertools import chain, compress, product, repeat
from operator import itemgetter
from typing import Any, NoReturn, Union

import msgpack

from agentrun.core.errors import CorruptRecordError, UnsupportedVersionError
from agentrun.core.events import (
    _SCHEMAS,
    EVENT_TYPES,
    INT64_MAX,
    INT64_MIN,
    Event,
    canonical_record,
    check_record,
    from_record,
    to_record,
)

MAX_DEPTH = 64
MAX_CONTAINER_ITEMS = 1 << 20


class UnencodableValueError(ValueError):
    """A value cannot be stored so that it reads back unchanged."""


def encode_event(event: Event) -> bytes:
    """The msgpack payload of one event (rule 32); raises ``UnencodableValueError``.

    Each field is checked against its declared type, as ``from_record`` checks it on reading,
    so the writer never writes a record it would call corrupt; only the free-form maps and lists
    (messages, arguments, usage, file changes) are walked in depth. The map is ``to_record``'s:
    ``seq``, ``ts``, ``kind``, then the fields in order.
    """
    encoder = _EVENT_ENCODERS.get(type(event))
    if encoder is None:
        raise UnencodableValueError(f"cannot store an event of type {type(event).__name__}")
    return encoder(event)


def encode_value(value: Any) -> bytes:
    """msgpack bytes of a plain value; raises ``UnencodableValueError`` for lossy values."""
    check_encodable(value)
    return _pack(value)


def encode_cache(value: Any) -> bytes:
    """msgpack bytes of a cache of checked events (a snapshot, a snapshot page), unwalked.

    Everything in a folded state came from events that ``encode_event`` checked when they were
    written, so walking it again (most of a snapshot's cost) would find nothing; a cache is
    checked when it is read, against the log (rule 18). Types msgpack cannot pack still raise
    ``UnencodableValueError``.
    """
    try:
        return _pack(value)
    except (TypeError, ValueError, OverflowError) as exc:
        _packers.packer = None  # a failed pack may leave data in the packer's buffer
        raise UnencodableValueError(f"cannot store this cache: {exc}") from None


_PLAIN = frozenset({str, bool, bytes, type(None)})
_CONTAINERS = frozenset({dict, list, tuple})
# A Packer per thread: ``packb`` builds one (and its 256 KiB buffer) per call, which cost more
# than packing an event. A buffer grown by a big value is dropped rather than kept.
_packers = threading.local()
_KEEP_PACKER_BYTES = 1 << 20


def _packer() -> msgpack.Packer:
    packer = getattr(_packers, "packer", None)
    if packer is None:
        packer = _packers.packer = msgpack.Packer(use_bin_type=True)
    return packer


def _pack(value: Any) -> bytes:
    data: bytes = _packer().pack(value)
    if len(data) > _KEEP_PACKER_BYTES:
        _packers.packer = None
    return data


def check_encodable(value: Any, depth: int = 0) -> None:
    """Refuse what would not round-trip: deep nesting, huge ints, NaN/Inf, odd types.

    ``depth`` is how many containers enclose ``value``; nothing may sit deeper than
    ``MAX_DEPTH``. Raises ``UnencodableValueError``.
    """
    if depth > MAX_DEPTH:
        raise UnencodableValueError(f"value nests deeper than {MAX_DEPTH} levels")
    kind = type(value)
    if kind in _PLAIN:
        return
    if kind in _CONTAINERS:
        _check_items(value, depth)
        return
    _check_scalar(value)


def _check_items(container: Any, depth: int) -> None:
    """Check a container's keys and items; containers inside it recurse, scalars do not."""
    if not container:
        return
    if depth >= MAX_DEPTH:
        raise UnencodableValueError(f"value nests deeper than {MAX_DEPTH} levels")
    if type(container) is dict:
        for key in container:
            if type(key) is not str:
                raise UnencodableValueError(f"map key {key!r} is not a string")
        items: Any = container.values()
    else:
        items = container
    # Scalars are checked inline: a call per int would double the cost of a typical event.
    plain, containers, inner, isfinite = _PLAIN, _CONTAINERS, depth + 1, math.isfinite
    for item in items:
        kind = type(item)
        if kind in plain:
            continue
        if kind is int:
            if INT64_MIN <= item <= INT64_MAX:
                continue
        elif kind is float:
            if isfinite(item):
                continue
        elif kind in containers:
            _check_items(item, inner)
            continue
        _check_scalar(item)  # raises, saying why


def _check_scalar(value: Any) -> None:
    kind = type(value)
    if kind is int:
        if not INT64_MIN <= value <= INT64_MAX:
            raise UnencodableValueError(f"integer {value} does not fit in 64 bits")
    elif kind is float:
        if not math.isfinite(value):
            raise UnencodableValueError(f"{value} is not a finite number")
    else:
        raise UnencodableValueError(f"cannot store a value of type {kind.__name__}")


def _field_types(annotation: Any) -> frozenset[type]:
    """The Python types a field may hold so that ``from_record`` accepts it after a round trip."""
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return frozenset().union(*(_field_types(a) for a in typing.get_args(annotation)))
    if annotation is float:
        return frozenset({float, int})
    if annotation in (int, bool, str, type(None)):
        return frozenset({annotation})
    if annotation is dict or typing.get_origin(annotation) is dict:
        return frozenset({dict})
    if annotation is list or typing.get_origin(annotation) is list:
        return frozenset({list, tuple})  # a tuple is written as an array and read as a list
    raise TypeError(f"no encoding rule for a field of type {annotation!r}")


def _event_plan(cls: type[Event]) -> tuple[tuple[str, frozenset[type]], ...]:
    hints = typing.get_type_hints(cls)
    return tuple(
        (f.name, _field_types(hints[f.name])) for f in fields(cls) if f.name not in ("seq", "ts")
    )


def _compile_encoder(cls: type[Event]) -> Callable[[Event], bytes]:
    """``encode_event`` for one kind, its checks written out from the field types.

    As ``dataclasses`` writes ``__init__``: a loop over the fields, asking each time which checks
    apply, cost more than packing the record; straight-line code per kind costs a fraction.
    """
    lines = [
        "def encode(event):",
        "    seq, ts = event.seq, event.ts",
        "    if type(seq) is not int or not 1 <= seq <= INT64_MAX or type(ts) is not str:",
        "        _refuse_seq_or_ts(event)",
    ]
    items = ['"seq": seq', '"ts": ts', f'"kind": {cls.kind!r}']
    for number, (name, allowed) in enumerate(_event_plan(cls)):
        value = f"v{number}"
        lines.append(f"    {value} = event.{name}")
        lines += _field_checks(value, name, allowed)
        items.append(f"{name!r}: {value}")
    lines.append(f"    return _pack({{{', '.join(items)}}})")
    namespace: dict[str, Any] = {
        "INT64_MIN": INT64_MIN,
        "INT64_MAX": INT64_MAX,
        "isfinite": math.isfinite,
        "_pack": _pack,
        "_check_items": _check_items,
        "_check_scalar": _check_scalar,
        "_refuse_seq_or_ts": _refuse_seq_or_ts,
        "_refuse_field": _refuse_field,
    }
    exec(compile("\n".join(lines), f"<encode {cls.kind}>", "exec"), namespace)
    encode: Callable[[Event], bytes] = namespace["encode"]
    return encode


def _field_checks(value: str, name: str, allowed: frozenset[type]) -> list[str]:
    """Source lines that accept ``value`` if its type is ``allowed`` and it round-trips."""
    branches = []
    plain = [t.__name__ for t in (str, bool) if t in allowed]
    if type(None) in allowed:
        branches.append(f"{value} is None")
    if plain:
        branches.append(" or ".join(f"kind is {t}" for t in plain))
    lines = [f"    kind = type({value})"]
    if branches:
        lines += [f"    if {' or '.join(branches)}:", "        pass"]
    if int in allowed:
        lines += [
            f"    {'elif' if len(lines) > 1 else 'if'} kind is int:",
            f"        if not INT64_MIN <= {value} <= INT64_MAX:",
            f"            _check_scalar({value})",
        ]
    if float in allowed:
        lines += [
            f"    {'elif' if len(lines) > 1 else 'if'} kind is float:",
            f"        if not isfinite({value}):",
            f"            _check_scalar({value})",
        ]
    containers = [t.__name__ for t in (dict, list, tuple) if t in allowed]
    if containers:
        lines += [
            f"    {'elif' if len(lines) > 1 else 'if'} "
            + " or ".join(f"kind is {t}" for t in containers)
            + ":",
            f"        _check_items({value}, 1)",
        ]
    lines += ["    else:", f"        _refuse_field(event, {name!r}, {value})"]
    return lines


def _refuse_seq_or_ts(event: Event) -> NoReturn:
    seq = event.seq
    if type(seq) is not int or not 1 <= seq <= INT64_MAX:
        raise UnencodableValueError(f"{event.kind}: seq must be a positive int64, not {seq!r}")
    raise UnencodableValueError(f"{event.kind}: ts must be a string")


def _refuse_field(event: Event, name: str, value: Any) -> NoReturn:
    raise UnencodableValueError(
        f"{event.kind}: field {name!r} cannot hold a value of type {type(value).__name__}"
    )


_EVENT_ENCODERS = {cls: _compile_encoder(cls) for cls in EVENT_TYPES.values()}


def decode_value(payload: bytes) -> Any:
    """Decode one payload strictly (rule 31); raises ``CorruptRecordError`` on any failure."""
    return _unpack(payload, object_pairs_hook=_unique_map)


def decode_cache(payload: bytes) -> Any:
    """Decode a CRC-checked cache file (a snapshot, a summary) fast: no duplicate-key hook.

    Duplicate keys cannot make a cache lie about the log: a snapshot is checked against the
    log's record at its seq, and ``verify`` compares it with the fold; a summary is trusted
    only while the log still ends where it was written (``store.summary.is_current``).
    """
    return _unpack(payload)


def _refuse_ext(code: int, data: bytes) -> NoReturn:
    raise CorruptRecordError(f"msgpack extension type {code} is not allowed")


# How every payload is decoded (rule 31); ``timestamp`` may be overridden by a caller.
_UNPACK_OPTIONS: dict[str, Any] = {
    "raw": False,
    "strict_map_key": True,
    "use_list": True,
    "ext_hook": _refuse_ext,
    "timestamp": 0,
    # A 16 MiB frame of nils would otherwise become a 128 MiB list (INV-BOUNDED).
    "max_array_len": MAX_CONTAINER_ITEMS,
    "max_map_len": MAX_CONTAINER_ITEMS,
}


# The fast path's options (``_decode_exact``), merged once rather than for every record.
_EXACT_UNPACK_OPTIONS = _UNPACK_OPTIONS | {"timestamp": 1}


def _unpack(payload: bytes, **options: Any) -> Any:
    merged = _UNPACK_OPTIONS | options if options else _UNPACK_OPTIONS
    try:
        return msgpack.unpackb(payload, **merged)
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
    record = _decode_exact(payload)
    if record is not None:
        return from_record(record)
    return decode_event_strictly(payload)


def decode_event_strictly(payload: bytes) -> Event:
    """``decode_event`` without the fast path: rules 31-32 step by step, wording every error.

    Decode with the duplicate-key hook, validate the schema, refuse what ``check_encodable``
    refuses. The fast path must decide exactly as this does (tests/core/test_codec_fast_decode).
    """
    record = decode_value(payload)
    event = from_record(record)
    try:
        check_encodable(record)
    except UnencodableValueError as exc:
        raise CorruptRecordError(f"value cannot be stored: {exc}") from None
    return event


def decode_record(payload: bytes) -> dict[str, Any]:
    """``to_record(decode_event(payload))``, accepted and refused exactly as there, but faster.

    A record written by this version comes back as the decoded map itself, with no event built.
    """
    record = _decode_exact(payload)
    if record is None:
        return to_record(decode_event(payload))
    if _has_event_layout(record):
        return record
    return canonical_record(record, check_record(record))


def _has_event_layout(record: Any) -> bool:
    """Whether ``record``, a value ``_decode_exact`` gave, is an event exactly as written.

    That is: its keys are ``seq``, ``ts``, ``kind`` and every field of a known kind, in order
    (so ``canonical_record`` would return it as it is), and the type of each value is one
    ``check_record`` accepts for that field, with ``seq`` at least 1. ``check_record`` also
    asks that ints fit in int64 and floats be finite, which every value ``_decode_exact`` gives
    already does; so this accepts exactly what ``check_record`` accepts among such records, by
    one lookup of the row of value types instead of a test per field. ``False`` sends the
    caller to ``check_record``, which words the error.
    """
    if type(record) is not dict:
        return False
    kind = record.get("kind")
    layout = _LAYOUTS.get(kind) if type(kind) is str else None
    if layout is None:
        if type(kind) is not str or kind not in EVENT_TYPES:
            return False
        layout = _LAYOUTS[kind] = _event_layout(EVENT_TYPES[kind])
    keys, rows = layout
    return (
        tuple(record) == keys
        and tuple(map(type, record.values())) in rows
        and record["seq"] >= 1  # an int: its row says so
    )


def _event_layout(cls: type[Event]) -> tuple[tuple[str, ...], frozenset[tuple[type, ...]]]:
    """The keys of a ``cls`` record as written, and every row of value types it may hold.

    Built from the same schema ``check_record`` reads, on first use of each kind: a command
    that never decodes a record does not pay for it.
    """
    schema = _SCHEMAS[cls]
    keys = ("seq", "ts", "kind", *(name for name, _allowed, _required in schema))
    rows = product((int,), (str,), (str,), *(allowed for _name, allowed, _required in schema))
    return keys, frozenset(rows)


_LAYOUTS: dict[str, tuple[tuple[str, ...], frozenset[tuple[type, ...]]]] = {}


# A payload the fast path may take: bigger ones are rare, their cost is copying their strings,
# and the strict path's lower peak memory matters more for them (INV-BOUNDED).
_EXACT_MAX_BYTES = 64 * 1024
# Bytes that can start a map or an array (fix, 16 and 32 forms): a payload holding at most
# MAX_DEPTH of them anywhere cannot nest deeper than MAX_DEPTH.
_CONTAINER_BYTES = bytes([*range(0x80, 0xA0), 0xDC, 0xDD, 0xDE, 0xDF])
# Those plus bin 8/16/32 (a bytes map key needs one) and uint 64 (an int beyond int64 needs
# one) are kept by ``translate``; every other byte is deleted.
_NOT_WATCHED = bytes(set(range(256)) - set(_CONTAINER_BYTES) - {0xC4, 0xC5, 0xC6, 0xCF})
# A float 64 whose first byte is 0x7f or 0xff: every NaN and ±Inf (and finite ones above 1e307).
_NON_FINITE = re.compile(rb"\xcb[\x7f\xff]")


def _decode_exact(payload: bytes) -> Any:
    """The value of ``payload`` when it provably passes the strict path unchanged, else ``None``.

    Decoding without the duplicate-key hook and packing the result again gives back the very
    same bytes only if no map had a duplicate key (the shorter map would pack differently), no
    Timestamp or float32 was present (decoded to float64, they pack differently) and no other
    ext type (refused by the hook). What the strict path refuses after decoding is what
    ``check_encodable`` refuses, and a byte scan shows when it cannot apply: a NaN or Inf needs
    the bytes ``cb 7f`` or ``cb ff``, an int beyond int64 a uint 64 header, a bytes map key a
    bin header, nesting deeper than ``MAX_DEPTH`` more container headers than that. Only when
    the scan finds one (or a number's or a string's bytes look like one) is ``check_encodable``
    run. ``None`` sends the caller to the strict path, which decides and words every error
    exactly as before (rules 31-32).
    """
    if len(payload) > _EXACT_MAX_BYTES:
        return None
    try:
        value = msgpack.unpackb(payload, **_EXACT_UNPACK_OPTIONS)
        if _pack(value) != payload:
            return None
    except Exception:  # the strict path says what is wrong
        return None
    watched = payload.translate(None, _NOT_WATCHED)
    if (
        len(watched) > MAX_DEPTH
        or watched.translate(None, _CONTAINER_BYTES)
        or _NON_FINITE.search(payload)
    ):
        try:
            check_encodable(value)
        except UnencodableValueError:
            return None
    return value


def decode_records(payloads: list[bytes]) -> list[dict[str, Any]]:
    """``decode_record`` of each payload, in order, up to the first one it refuses.

    The list is shorter than ``payloads`` only where ``decode_record`` would raise for
    ``payloads[len(list)]``: a caller that must say why decodes that one again. Records as this
    version writes them are proved in a few calls over the whole list (``_decode_batch``);
    any other list is decoded one payload at a time.
    """
    maps = _decode_batch(payloads)
    if maps is not None:
        return maps
    maps = []
    for payload in payloads:
        try:
            maps.append(decode_record(payload))
        except (CorruptRecordError, UnsupportedVersionError):
            break
    return maps


def _decode_batch(payloads: list[bytes]) -> list[dict[str, Any]] | None:
    """``[decode_record(p) for p in payloads]`` if every payload takes the fast path, else ``None``.

    The proof of ``_decode_exact`` and ``_has_event_layout``, made by calls over the list (C
    loops) rather than a dozen Python steps per record. Each payload is decoded alone (rule 31),
    with ``_decode_exact``'s options; packing each value again must give its payload back (no
    duplicate keys, nothing decoded loosely). ``None`` at any doubt: the caller goes record by
    record, where every check words its own error.
    """
    if not payloads or max(map(len, payloads)) > _EXACT_MAX_BYTES:
        return None
    try:
        values = list(map(_unpack_exact, payloads))
        if list(map(_packer().pack, values)) != payloads:
            return None
    except Exception:  # the record-by-record path says what is wrong
        _packers.packer = None  # a failed pack may leave data in the packer's buffer
        return None
    if not _pass_byte_scan(values, payloads) or not _have_event_layouts(values):
        return None
    return values


def _pass_byte_scan(values: list[Any], payloads: list[bytes]) -> bool:
    """Whether each value passes ``_decode_exact``'s byte scan of its payload.

    Where the scan flags a payload, ``check_encodable`` judges its value, as there.
    """
    watched = list(map(bytes.translate, payloads, repeat(None), repeat(_NOT_WATCHED)))
    flagged = map(
        any,
        zip(
            map(bytes.translate, watched, repeat(None), repeat(_CONTAINER_BYTES)),
            map(MAX_DEPTH.__lt__, map(len, watched)),
            map(_NON_FINITE.search, payloads),
            strict=True,
        ),
    )
    for value in compress(values, flagged):
        try:
            check_encodable(value)
        except UnencodableValueError:
            return False
    return True


def _have_event_layouts(values: list[Any]) -> bool:
    """``_has_event_layout`` of every value, by one lookup of each value's keys and value types.

    A signature (the keys, then the type of each value) names the one kind whose layout it is;
    the value's ``kind`` must be that kind, and ``seq`` at least 1 (an int: the row says so).
    """
    signatures = _SIGNATURES or _build_signatures()
    try:
        rows = map(chain, values, map(map, repeat(type), map(dict.values, values)))
        kinds = list(map(signatures.get, map(tuple, rows)))
    except TypeError:  # a value that is not a map
        return False
    return (
        None not in kinds
        and list(map(dict.get, values, repeat("kind"))) == kinds
        and min(map(_SEQ, values)) >= 1
    )


def _build_signatures() -> dict[tuple[Any, ...], str]:
    """Every signature of every kind's layout (built on first use, as ``_LAYOUTS``)."""
    signatures: dict[tuple[Any, ...], str] = {}
    for kind, cls in EVENT_TYPES.items():
        keys, rows = _event_layout(cls)
        signatures.update(((*keys, *row), kind) for row in rows)
    _SIGNATURES.update(signatures)
    return signatures


_SIGNATURES: dict[tuple[Any, ...], str] = {}
_unpack_exact = functools.partial(msgpack.unpackb, **_EXACT_UNPACK_OPTIONS)
_SEQ = itemgetter("seq")


def _unique_map(pairs: list[tuple[Any, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise CorruptRecordError("map has duplicate keys")
    for key in result:
        if type(key) is not str:
            raise CorruptRecordError(f"map key of type {type(key).__name__} is not allowed")
    return result
