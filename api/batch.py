"""All-or-nothing batches: every item is tried in order, each in a savepoint; when any is refused,
every refusal is reported by index and the whole transaction is rolled back (nothing written)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from sqlalchemy.orm import Session

from fund.errors import DomainError
from fund.services.registry import BatchRefused  # the one batch refusal: items by index

__all__ = ["BatchRefused", "apply_in_order"]

T = TypeVar("T")
R = TypeVar("R")


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
