"""Task ids: validation, generation and prefix lookup (design §3)."""

from __future__ import annotations

from datetime import datetime

import pytest

from agentrun.core.errors import AmbiguousTaskError, InvalidIdError, TaskNotFoundError
from agentrun.core.ids import generate_task_id, match_task_id, random_suffix, validate_task_id


@pytest.mark.parametrize("bad", ["", ".", "..", "../x", "a/b", "x" * 65, "tâche", ".hidden", "a b"])
def test_invalid_ids_are_refused(bad: str) -> None:
    with pytest.raises(InvalidIdError):
        validate_task_id(bad)


@pytest.mark.parametrize("good", ["a", "x" * 64, "20261126-0815-k3f9", "my.task_1"])
def test_valid_ids_pass(good: str) -> None:
    assert validate_task_id(good) == good


def test_generated_ids_sort_by_time_and_are_valid() -> None:
    early = generate_task_id(datetime(2026, 11, 26, 8, 15), random_suffix(b"\xff\x00\x10\x20"))
    late = generate_task_id(datetime(2026, 11, 26, 9, 0), random_suffix(b"\x00\x00\x00\x00"))
    assert early.startswith("20261126-0815-") and early < late
    assert validate_task_id(early)


def test_prefix_lookup_is_exact_unique_or_an_error() -> None:
    known = ["20261126-0815-aaaa", "20261126-0815-aabb", "20261127-0000-cccc"]
    assert match_task_id("20261127", known) == "20261127-0000-cccc"
    assert match_task_id("20261126-0815-aaaa", known) == "20261126-0815-aaaa"
    with pytest.raises(AmbiguousTaskError):
        match_task_id("20261126-0815-aa", known)
    with pytest.raises(TaskNotFoundError):
        match_task_id("2025", known)
