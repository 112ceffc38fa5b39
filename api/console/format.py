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
>>> history_note("loss 1234567 fen", lambda m: m)
'loss 12,345.67 yuan'
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from fractions import Fraction

from api.console.i18n import N_
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


# Notes the claim steps write in fen (fund/services/claims.py), as people read them: yuan with
# separators, in the page's language. Any other note (a person's own words) is shown as written.
_NOTES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"loss (?P<amount>-?\d+) fen"), N_("loss %(amount)s yuan")),
    (re.compile(r"loss (?P<before>-?\d+) -> (?P<after>-?\d+) fen"), N_("loss lowered from %(before)s to %(after)s yuan")),
    (re.compile(r"gross (?P<gross>-?\d+), costs (?P<costs>-?\d+), net (?P<net>-?\d+) fen"),
     N_("recovered %(gross)s yuan gross, %(costs)s yuan of costs, %(net)s yuan net")),
    # the loan's events name the claim that moved it
    (re.compile(r"claim (?P<id>\d+)"), N_("claim #%(id)s")),
    (re.compile(r"claim (?P<id>\d+): (?P<text>.+)", re.DOTALL), N_("claim #%(id)s: %(text)s")),
)


def history_note(note: str | None, gettext_: Callable[[str], str]) -> str:
    """A history line's note for people: amounts the claim steps record in fen shown in yuan.

    >>> history_note("gross 500000, costs 2500, net 497500 fen", lambda m: m)
    'recovered 5,000.00 yuan gross, 25.00 yuan of costs, 4,975.00 yuan net'
    >>> history_note("loss 200000 -> 150000 fen", lambda m: m), history_note("审计要求补充材料", lambda m: m)
    ('loss lowered from 2,000.00 to 1,500.00 yuan', '审计要求补充材料')
    """
    if not note:
        return ""
    for pattern, message in _NOTES:
        found = pattern.fullmatch(note.strip())
        if found:
            return gettext_(message) % {name: value if name in ("id", "text") else yuan(int(value))
                                        for name, value in found.groupdict().items()}
    return note
