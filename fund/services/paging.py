"""Keyset paging, one way for every list: rows in id order after a cursor (``after_id``), a bounded
page at a time, and the cursor of the next page (None on the last).

>>> page = keyset_page(lambda n: [10, 11, 12][:n], limit=2, key=lambda row: row)
>>> page.items, page.next_after_id
([10, 11], 11)
>>> keyset_page(lambda n: [10, 11][:n], limit=2, key=lambda row: row).next_after_id is None
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select

from fund.errors import DomainError

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: its rows, and the ``after_id`` that reads the next page (None: last page)."""

    items: list[T]
    next_after_id: int | None


def check_after_id(after_id: object) -> int:
    """The cursor as given, refused unless an integer >= 0."""
    if isinstance(after_id, bool) or not isinstance(after_id, int) or after_id < 0:
        raise DomainError("invalid_after_id", f"after_id must be an integer >= 0, got {after_id!r}", field="after_id")
    return after_id


def after(statement: Select, id_column: Any, after_id: int, limit: int | None) -> Select:
    """``statement`` restricted to ids above ``after_id``, in id order, at most ``limit`` rows."""
    statement = statement.where(id_column > after_id).order_by(id_column)
    return statement if limit is None else statement.limit(limit)


def keyset_page(fetch: Callable[[int], Sequence[T]], limit: int, *, key: Callable[[T], int] = lambda row: row.id) -> Page[T]:
    """One page from ``fetch(n)`` (the first ``n`` rows after the cursor, in id order): one row more
    than ``limit`` is asked for, so the page knows whether another follows without counting."""
    rows = list(fetch(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, key(rows[-1]) if more and rows else None)
