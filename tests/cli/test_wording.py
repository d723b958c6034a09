"""How counts, sizes and statuses read in human output (``cli.wording``)."""

from __future__ import annotations

import pytest

from agentrun.cli.wording import format_bytes, outcome_line, plural, status_words


@pytest.mark.parametrize(
    ("count", "expected"),
    [(0, "0 runs"), (1, "1 run"), (2, "2 runs"), (1200, "1,200 runs")],
)
def test_a_count_takes_the_singular_only_for_one(count: int, expected: str) -> None:
    assert plural(count, "run") == expected


def test_an_irregular_plural_is_given_by_the_caller() -> None:
    assert plural(1, "needs attention", "need attention") == "1 needs attention"
    assert plural(3, "needs attention", "need attention") == "3 need attention"


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (0, "0 bytes"),
        (1, "1 byte"),
        (1023, "1,023 bytes"),
        (1024, "1.0 KiB"),
        (1_234_567, "1.2 MiB"),
        (1024**2 - 1, "1.0 MiB"),  # never "1024.0 KiB"
        (5 * 1024**3, "5.0 GiB"),
        (3 * 1024**5, "3072.0 TiB"),
    ],
)
def test_a_size_is_in_the_largest_unit_below_1024(size: int, expected: str) -> None:
    assert format_bytes(size) == expected


def test_a_status_reads_as_words_and_an_outcome_line_joins_with_a_dash() -> None:
    assert status_words("needs_attention") == "needs attention"
    assert outcome_line("t1", "needs_attention", "call c1 needs approval") == (
        "t1: needs attention — call c1 needs approval"
    )
    assert outcome_line("t1", "succeeded", "") == "t1: succeeded"
