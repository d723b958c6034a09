"""Printing many records at once (``log --json``, ``export``, ``ls``): the costs per record.

Two things that are cheap once and dear ten thousand times: the JSON encoder (built once here
rather than per value), and the cyclic garbage collector (paused while a command holds a
segment's worth of decoded maps, which are trees and go with their last reference anyway).
No output here: commands print what they encode.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


def json_encoder() -> Callable[[Any], str]:
    """A function giving ``json.dumps(value, ensure_ascii=False, default=str)``, for many values.

    ``JSONEncoder.encode`` builds its C encoder again for every value and tracks containers to
    catch cycles, which values read from a log or a summary cannot have: as much time as the
    encoding itself for a typical event. This builds it once, with the same settings.
    """
    from json import encoder as json_internals

    fallback = json.JSONEncoder(ensure_ascii=False, default=str, check_circular=False).encode
    try:  # a CPython internal: anything unexpected about it means the documented path
        encode = json_internals.c_make_encoder(  # type: ignore[misc]
            None, str, json_internals.encode_basestring, None, ": ", ", ", False, False, True
        )
        fast = lambda value: "".join(encode(value, 0))  # noqa: E731
        probe = {"a": [1, 2.5, None, True, "é"], "b": {"c": "d"}}
        if fast(probe) != fallback(probe):
            return fallback
    except Exception:  # pragma: no cover - depends on the interpreter
        return fallback
    return fast


@contextmanager
def no_cycle_collection() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block (reference counting still frees).

    Decoding a segment allocates tens of thousands of maps that stay alive until it is printed;
    the collector would walk them again and again (a fifth of ``log --json``'s time).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
