"""Rule A (RULES section 4) as pure integer functions: the one implementation that both the
claims workflow and the stress simulator use."""

from __future__ import annotations

from collections.abc import Sequence


def pay_from_cash(cash_fen: int, amount_fen: int) -> tuple[int, int]:
    """A4: pay ``amount_fen`` from ``cash_fen``; returns ``(paid, deferred)``.

    >>> pay_from_cash(100, 150)
    (100, 50)
    """
    if cash_fen < 0 or amount_fen < 0:
        raise ValueError("cash and amount must be >= 0")
    paid = min(cash_fen, amount_fen)
    return paid, amount_fen - paid


def settle_inflow(amount_fen: int, deferred_fifo_fen: Sequence[int]) -> tuple[list[int], int]:
    """A4: an inflow first settles deferred amounts, oldest first; the rest adds to cash.

    Returns ``(settled per deferral, in the given order; amount left for cash)``.

    >>> settle_inflow(70, [50, 40])
    ([50, 20], 0)
    """
    if amount_fen < 0:
        raise ValueError("inflow must be >= 0")
    left = amount_fen
    settled: list[int] = []
    for owed in deferred_fifo_fen:
        if owed < 0:
            raise ValueError("deferred amounts must be >= 0")
        part = min(left, owed)
        settled.append(part)
        left -= part
    return settled, left
