"""Task ids: generation, validation and unambiguous-prefix lookup (design §3).

An id becomes a directory name, so nothing reaches a path without passing ``validate_task_id``.
Pure: the time and the random part are parameters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from agentrun.core.errors import AmbiguousTaskError, InvalidIdError, TaskNotFoundError

MAX_ID_LENGTH = 64
_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
# No vowels or look-alikes (0/o, 1/l): short, typeable and never spells a word.
ID_ALPHABET = "23456789bcdfghjkmnpqrstvwxz"


def validate_task_id(task_id: str) -> str:
    """Return ``task_id`` if it is a valid id; raise ``InvalidIdError`` saying why otherwise."""
    if not task_id:
        raise InvalidIdError("task id is empty; ids use letters, digits, '.', '_' and '-'")
    if len(task_id) > MAX_ID_LENGTH:
        raise InvalidIdError(f"task id is {len(task_id)} characters; the limit is {MAX_ID_LENGTH}")
    if task_id in (".", "..") or task_id.startswith(".") or not _ID_RE.fullmatch(task_id):
        raise InvalidIdError(
            f"invalid task id {task_id!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "not starting with '.'"
        )
    return task_id


def generate_task_id(now: datetime, random_suffix: str) -> str:
    """A time-sortable, typeable id such as ``20261126-0815-k3f9``."""
    return f"{now:%Y%m%d-%H%M}-{random_suffix}"


def random_suffix(random_bytes: bytes, length: int = 4) -> str:
    """Map random bytes to ``length`` characters of ``ID_ALPHABET``."""
    return "".join(ID_ALPHABET[b % len(ID_ALPHABET)] for b in random_bytes[:length])


def match_task_id(query: str, known: Iterable[str]) -> str:
    """Resolve an exact id or an unambiguous prefix among ``known`` ids, as git does.

    Raises ``InvalidIdError``, ``TaskNotFoundError`` or ``AmbiguousTaskError``.
    """
    validate_task_id(query)
    candidates = sorted(k for k in known if k.startswith(query))
    if query in candidates:
        return query
    if not candidates:
        raise TaskNotFoundError(f"no task matches {query!r}; `agentrun ls` lists the tasks")
    if len(candidates) > 1:
        shown = ", ".join(candidates[:5]) + (" …" if len(candidates) > 5 else "")
        raise AmbiguousTaskError(
            f"{query!r} matches {len(candidates)} tasks ({shown}); type more of the id"
        )
    return candidates[0]
