"""How people read figures on the console (docs/rules.md section 0, display): yuan with two decimals and
thousands separators; summary tiles in 万元 (ten thousand yuan) with two decimals, the exact yuan on the
same page; rates in percent. Files and the API keep exact fen.

>>> money(123456789)
'1,234,567.89'
>>> wan(123456789, "zh")
'123.45 万元'
>>> wan(123456789, "en")
'1.23 m yuan'
>>> percent(345)
'3.45%'
>>> times(5558, "zh")
'0.55 倍'
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

from fund.domain.money import yuan


def money(fen: int | None) -> str:
    """Fen as yuan (``—`` for no figure)."""
    if fen is None:
        return "—"
    return yuan(int(fen))


def _two_decimals(value: Fraction) -> str:
    sign = "-" if value < 0 else ""
    hundredths = int(abs(value) * 100)  # floor, as every figure here
    whole, part = divmod(hundredths, 100)
    return f"{sign}{whole:,}.{part:02d}"


def wan(fen: int | None, language: str) -> str:
    """A summary figure: 万元 in Chinese, millions of yuan in English (both two decimals)."""
    if fen is None:
        return "—"
    if language == "zh":
        return f"{_two_decimals(Fraction(int(fen), 100 * 10_000))} 万元"
    return f"{_two_decimals(Fraction(int(fen), 100 * 1_000_000))} m yuan"


def percent(bp: int | float | None, digits: int = 2) -> str:
    """Basis points as a percentage."""
    if bp is None:
        return "—"
    return f"{bp / 100:.{digits}f}%"


def times(bp: int | None, language: str = "en") -> str:
    """A multiple given in basis points (leverage), floored to two decimals: ``0.55×`` / ``0.55 倍``."""
    if bp is None:
        return "—"
    text = _two_decimals(Fraction(int(bp), 10_000))
    return f"{text} 倍" if language == "zh" else f"{text}×"


def ratio(value: float | None, digits: int = 1) -> str:
    """A share (0..1) as a percentage."""
    if value is None:
        return "—"
    return f"{value * 100:.{digits}f}%"


def count(value: int | None) -> str:
    return "—" if value is None else f"{int(value):,}"


def day(value: dt.date | dt.datetime | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)
