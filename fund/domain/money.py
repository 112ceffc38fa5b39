"""Exact integer arithmetic for money (fen) and rates (bp), RULES section 0."""

from __future__ import annotations

BP_ONE = 10_000
MAX_SINGLE_AMOUNT_FEN = 10**12


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
