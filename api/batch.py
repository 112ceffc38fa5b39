"""All-or-nothing batches: every item is tried in order, each in a savepoint; when any is refused,
every refusal is reported by index and the whole transaction is rolled back (nothing written)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from sqlalchemy.orm import Session

from fund.errors import DomainError

T = TypeVar("T")
R = TypeVar("R")


class BatchRefused(DomainError):
    """A batch of which one or more items were refused; ``items`` lists ``(index, refusal)``.

    The answer is 409 when every refusal is a conflict (e.g. all duplicates), else 422."""

    def __init__(self, items: Sequence[tuple[int, DomainError]]) -> None:
        items = sorted(items, key=lambda pair: pair[0])
        first_index, first = items[0]
        where = f"items[{first_index}].{first.field}" if first.field else f"items[{first_index}]"
        super().__init__(
            "batch_refused",
            f"{len(items)} of the batch's items refused, nothing written; item {first_index}: {first.message}",
            field=where,
        )
        self.items = list(items)
        self.status_code = 409 if all(e.status_code == 409 for _, e in items) else 422


def apply_in_order(session: Session, items: Sequence[T], apply: Callable[[Session, int, T], R]) -> list[R]:
    """``apply`` each item in its own savepoint; raise BatchRefused listing every refused item."""
    results: list[R] = []
    refused: list[tuple[int, DomainError]] = []
    for index, item in enumerate(items):
        savepoint = session.begin_nested()
        try:
            results.append(apply(session, index, item))
        except DomainError as exc:
            savepoint.rollback()
            refused.append((index, exc))
        else:
            savepoint.commit()
    if refused:
        raise BatchRefused(refused)
    return results
