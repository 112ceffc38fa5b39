"""Calendar rules of RULES section 0."""

from __future__ import annotations

import calendar
import datetime as dt
from zoneinfo import ZoneInfo

CHINA_TZ = ZoneInfo("Asia/Shanghai")


def add_months(d: dt.date, n: int) -> dt.date:
    """Keep the day of month, clamped to the target month's end.

    >>> add_months(dt.date(2024, 1, 31), 1)
    datetime.date(2024, 2, 29)
    """
    month_index = d.year * 12 + (d.month - 1) + n
    year, month0 = divmod(month_index, 12)
    last_day = calendar.monthrange(year, month0 + 1)[1]
    return dt.date(year, month0 + 1, min(d.day, last_day))


def add_years(d: dt.date, n: int) -> dt.date:
    """``add_months(d, 12 n)``.

    >>> add_years(dt.date(2024, 2, 29), 1)
    datetime.date(2025, 2, 28)
    """
    return add_months(d, 12 * n)


def today_in_china() -> dt.date:
    return dt.datetime.now(CHINA_TZ).date()


def month_bounds(month: str) -> tuple[dt.date, dt.date]:
    """First and last day of a ``YYYY-MM`` month; ValueError naming the text otherwise."""
    try:
        year_s, month_s = month.split("-")
        year, mon = int(year_s), int(month_s)
        first = dt.date(year, mon, 1)
    except (ValueError, TypeError):
        raise ValueError(f"month must be YYYY-MM, got {month!r}") from None
    if len(year_s) != 4 or len(month_s) != 2:
        raise ValueError(f"month must be YYYY-MM, got {month!r}")
    return first, dt.date(year, mon, calendar.monthrange(year, mon)[1])
