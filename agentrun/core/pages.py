"""``PagedList``: a list whose older items live in immutable pages that load on first use.

The conversation is nearly all of a long task's state. Snapshots keep it as pages of at most
``PAGE_ITEMS`` messages, each stored once (``store.snapshots``), so loading a snapshot reads a
small file whatever the length of the task, and only the pages something actually reads are
decoded: a resume whose old turns were compacted away never touches them.

Items are never changed once appended (the fold only appends messages; compaction edits live
beside them), so copies share pages and copy only the tail. No I/O here: each page's loader is a
callable that the store provides.
"""

from __future__ import annotations

import bisect
import copy
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

from agentrun.core.errors import CorruptRecordError

PAGE_ITEMS = 1024  # the most messages in one page
# The fewest: a snapshot pages its tail once it holds this many, so each message is written to a
# page once and a snapshot file carries fewer than this many (rather than up to PAGE_ITEMS - 1,
# rewritten by every snapshot until the page fills).
MIN_PAGE_ITEMS = 256


@dataclass(frozen=True, slots=True)
class PageRef:
    """Where a page is stored: the sha256 of its bytes, its item count and its size in bytes."""

    digest: str
    count: int
    size: int


class Page:
    """One immutable page: its reference and its items, loaded at most once."""

    __slots__ = ("_items", "_load", "ref")

    def __init__(
        self,
        ref: PageRef,
        load: Callable[[], list[Any]] | None = None,
        items: list[Any] | None = None,
    ) -> None:
        if load is None and items is None:
            raise ValueError("a page needs its items or a way to load them")
        self.ref = ref
        self._load = load
        self._items = items

    @property
    def is_loaded(self) -> bool:
        """Whether the items are in memory."""
        return self._items is not None

    def items(self) -> list[Any]:
        """The page's items (read-only by contract); raises ``CorruptRecordError`` if unreadable."""
        if self._items is None:
            assert self._load is not None
            items = self._load()
            if len(items) != self.ref.count:
                raise CorruptRecordError(
                    f"page {self.ref.digest[:12]} holds {len(items)} items, not {self.ref.count}"
                )
            self._items = items
        return self._items


class PagedList(Sequence[Any]):
    """A sequence of pages followed by an appendable tail; compares equal to a list."""

    __slots__ = ("_paged", "_pages", "_starts", "_tail")

    def __init__(self, pages: Iterable[Page] = (), tail: list[Any] | None = None) -> None:
        self._pages = tuple(pages)
        self._starts: list[int] = []
        total = 0
        for page in self._pages:
            self._starts.append(total)
            total += page.ref.count
        self._paged = total
        self._tail = tail if tail is not None else []

    @property
    def pages(self) -> tuple[Page, ...]:
        """The pages, oldest first."""
        return self._pages

    @property
    def tail(self) -> list[Any]:
        """The items after the last page."""
        return self._tail

    def append(self, item: Any) -> None:
        """Add an item at the end (to the tail)."""
        self._tail.append(item)

    def __len__(self) -> int:
        return self._paged + len(self._tail)

    @overload
    def __getitem__(self, index: int) -> Any: ...

    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step == 1 and start >= self._paged:  # the common case: what is new since N
                return self._tail[start - self._paged : max(start, stop) - self._paged]
            return [self._item(i) for i in range(start, stop, step)]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("PagedList index out of range")
        return self._item(index)

    def _item(self, index: int) -> Any:
        if index >= self._paged:
            return self._tail[index - self._paged]
        number = bisect.bisect_right(self._starts, index) - 1
        return self._pages[number].items()[index - self._starts[number]]

    def __iter__(self) -> Iterator[Any]:
        for page in self._pages:
            yield from page.items()
        yield from self._tail

    def __reversed__(self) -> Iterator[Any]:
        yield from reversed(self._tail)
        for page in reversed(self._pages):
            yield from reversed(page.items())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, list | PagedList):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __copy__(self) -> PagedList:
        return PagedList(self._pages, list(self._tail))

    def __deepcopy__(self, memo: dict[int, Any]) -> PagedList:
        # Pages are immutable and shared; only the tail can change.
        return PagedList(self._pages, copy.deepcopy(self._tail, memo))

    def __repr__(self) -> str:
        return f"PagedList({len(self._pages)} pages, {len(self._tail)} in the tail)"


def page_bounds(length: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of the pages a snapshot stores from a tail of ``length`` items.

    Full pages of ``PAGE_ITEMS``, then the rest as a shorter page if it has at least
    ``MIN_PAGE_ITEMS``; fewer stay in the tail.
    """
    bounds = [
        (start, start + PAGE_ITEMS) for start in range(0, length - PAGE_ITEMS + 1, PAGE_ITEMS)
    ]
    rest = bounds[-1][1] if bounds else 0
    if length - rest >= MIN_PAGE_ITEMS:
        bounds.append((rest, length))
    return bounds


def as_list(items: Sequence[Any]) -> list[Any]:
    """A plain list of ``items`` (a ``PagedList`` is read whole)."""
    return items if isinstance(items, list) else list(items)
