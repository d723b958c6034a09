"""``PagedList`` behaves exactly like the list of its items and reads only the pages it needs."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentrun.core.context import context_view
from agentrun.core.errors import CorruptRecordError
from agentrun.core.pages import Page, PagedList, PageRef, page_bounds


def paged(items: list[Any], page_items: int, loads: list[int] | None = None) -> PagedList:
    """``items`` as full pages of ``page_items`` (lazily loaded, counted in ``loads``) + a tail."""
    pages = []
    for number, (start, stop) in enumerate(_bounds(len(items), page_items)):

        def load(start: int = start, stop: int = stop, number: int = number) -> list[Any]:
            if loads is not None:
                loads.append(number)
            return items[start:stop]

        pages.append(Page(PageRef(f"{number:064x}", stop - start, 0), load))
    cut = len(pages) * page_items
    return PagedList(pages, list(items[cut:]))


def _bounds(length: int, size: int) -> list[tuple[int, int]]:
    return [(s, s + size) for s in range(0, length - size + 1, size)]


@given(
    items=st.lists(st.integers(), max_size=40),
    page_items=st.integers(1, 7),
    start=st.integers(-50, 50) | st.none(),
    stop=st.integers(-50, 50) | st.none(),
    step=st.sampled_from([None, 1, 2, -1, -3]),
)
def test_a_paged_list_reads_like_the_plain_list(
    items: list[int], page_items: int, start: int | None, stop: int | None, step: int | None
) -> None:
    view = paged(items, page_items)
    assert len(view) == len(items)
    assert list(view) == items
    assert list(reversed(view)) == list(reversed(items))
    assert view[start:stop:step] == items[start:stop:step]
    for index in range(-len(items), len(items)):
        assert view[index] == items[index]
    for index in (len(items), -len(items) - 1):
        with pytest.raises(IndexError):
            view[index]
    assert view == items and items == view
    assert view != [*items, 0] and [*items, 0] != view


def test_appending_goes_to_the_tail_and_copies_do_not_share_it() -> None:
    view = paged(list(range(10)), 4)
    twin = copy.deepcopy(view)
    shallow = copy.copy(view)
    view.append(10)
    assert list(view) == list(range(11))
    assert list(twin) == list(range(10)) == list(shallow)
    assert twin.pages == view.pages  # pages are immutable, so copies share them


def test_only_the_pages_that_are_read_are_loaded_and_each_once() -> None:
    loads: list[int] = []
    view = paged(list(range(105)), 10, loads)  # 10 pages and a tail of 5
    assert len(view) == 105 and view[100:] == list(range(100, 105))
    assert loads == []  # the length and the tail need no page
    assert view[42] == 42 and view[47] == 47
    assert loads == [4]
    assert next(reversed(view)) == 104 and loads == [4]


def test_a_compacted_away_message_is_never_read() -> None:
    loads: list[int] = []
    messages = [{"role": "user", "content": str(i)} for i in range(30)]
    view = paged(messages, 10, loads)
    dropped = {str(i): None for i in range(1, 20)}  # all of page 1 is gone
    assert context_view(view, dropped) == [messages[0], *messages[20:]]
    assert loads == [0, 2]


def test_a_page_that_loads_the_wrong_number_of_items_is_corrupt() -> None:
    page = Page(PageRef("0" * 64, 3, 0), lambda: [1, 2])
    with pytest.raises(CorruptRecordError, match="holds 2 items, not 3"):
        page.items()


def test_page_bounds_are_full_pages_then_a_rest_of_at_least_the_minimum() -> None:
    from agentrun.core import pages

    full, least = pages.PAGE_ITEMS, pages.MIN_PAGE_ITEMS
    # A short rest stays in the tail (the snapshot file) until it reaches the minimum.
    assert page_bounds(full * 2 + least - 1) == [(0, full), (full, 2 * full)]
    assert page_bounds(least - 1) == []
    # Then it becomes a page of its own: each message is paged once, never rewritten.
    assert page_bounds(full * 2 + least) == [
        (0, full),
        (full, 2 * full),
        (2 * full, 2 * full + least),
    ]
    assert page_bounds(full - 1) == [(0, full - 1)]
