"""Exact integer arithmetic for money (fen) and rates (bp), docs/rules.md section 0."""

from __future__ import annotations

import operator

from fund.errors import DomainError

BP_ONE = 10_000
MAX_SINGLE_AMOUNT_FEN = 10**12


class AmountError(DomainError, ValueError):
    """A single amount refused (code ``invalid_amount`` or ``amount_too_large``). It is a
    DomainError for the services and entrypoints and a ValueError for the pure rule functions
    (``risk.allocation``, ``fund.domain.subsidy``), whose callers have always caught that."""


def check_amount(name: str, value: object, *, minimum: int = 0, maximum: int = MAX_SINGLE_AMOUNT_FEN) -> int:
    """The one check of a single amount entered (docs/rules.md section 0): an integer number of fen (no
    bool, float or string) from ``minimum`` to 10^12; returns it as a Python int.

    >>> check_amount("loss_fen", 600_000_000, minimum=1)
    600000000
    >>> check_amount("loss_fen", 10**12 + 1)
    Traceback (most recent call last):
    ...
    fund.domain.money.AmountError: loss_fen must be at most 10^12 fen, got 1000000000001
    >>> check_amount("gross_fen", 2.5).code
    Traceback (most recent call last):
    ...
    fund.domain.money.AmountError: gross_fen must be an integer number of fen, got 2.5
    """
    if isinstance(value, bool):
        raise AmountError("invalid_amount", f"{name} must be an integer number of fen, got {value!r}", field=name)
    try:
        amount = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise AmountError("invalid_amount", f"{name} must be an integer number of fen, got {value!r}", field=name) from None
    if amount < minimum:
        raise AmountError("invalid_amount", f"{name} must be >= {minimum} fen, got {amount}", field=name)
    if amount > maximum:
        limit = "10^12" if maximum == MAX_SINGLE_AMOUNT_FEN else str(maximum)
        raise AmountError("amount_too_large", f"{name} must be at most {limit} fen, got {amount}", field=name)
    return amount


def floor_ratio(amount: int, numerator: int, denominator: int) -> int:
    """``floor(amount * numerator / denominator)`` with Python integers (exact at any size).

    >>> floor_ratio(1_500_000_000, 5_000, 10_000)
    750000000
    """
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    return (amount * numerator) // denominator


def apply_bp(amount: int, bp: int) -> int:
    """``floor(amount * bp / 10000)``."""
    return floor_ratio(amount, bp, BP_ONE)


def yuan(fen: int) -> str:
    """Format fen as yuan with two decimals, for people (never for computation).

    >>> yuan(123456)
    '1,234.56'
    """
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{cents:02d}"
