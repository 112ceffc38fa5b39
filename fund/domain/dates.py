"""Calendar rules of docs/rules.md section 0."""

from __future__ import annotations

import calendar
import datetime as dt
from zoneinfo import ZoneInfo

CHINA_TZ = ZoneInfo("Asia/Shanghai")
EARLIEST_INPUT_DATE = dt.date(1900, 1, 1)  # docs/rules.md section 0: any date before it is refused as input


def aware_utc(moment: dt.datetime | None) -> dt.datetime | None:
    """A stored timestamp as an aware UTC datetime, the one form every reader shows: SQLite hands
    back naive UTC, PostgreSQL an aware instant in the session's time zone, which need not be UTC.

    >>> aware_utc(dt.datetime(2026, 12, 4, 8, 0))
    datetime.datetime(2026, 12, 4, 8, 0, tzinfo=datetime.timezone.utc)
    >>> aware_utc(dt.datetime(2026, 12, 4, 16, 0, tzinfo=CHINA_TZ))
    datetime.datetime(2026, 12, 4, 8, 0, tzinfo=datetime.timezone.utc)
    >>> aware_utc(None) is None
    True
    """
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc)


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
    if first < EARLIEST_INPUT_DATE:
        raise ValueError(f"month {month} is before 1900-01: dates before 1900 are refused")
    return first, dt.date(year, mon, calendar.monthrange(year, mon)[1])


def check_input_date(value: dt.date, field: str) -> dt.date:
    """Section 0: a date given as input is refused before 1900-01-01 (``date_before_1900``).

    >>> check_input_date(dt.date(1900, 1, 1), "paid_on")
    datetime.date(1900, 1, 1)
    >>> check_input_date(dt.date(1899, 12, 31), "paid_on")
    Traceback (most recent call last):
    ...
    fund.errors.DomainError: paid_on 1899-12-31 is before 1900-01-01: dates before 1900 are refused
    """
    from fund.errors import DomainError  # the one error type of the rules

    if value < EARLIEST_INPUT_DATE:
        raise DomainError("date_before_1900", f"{field} {value.isoformat()} is before 1900-01-01: dates before 1900 are refused", field=field)
    return value


def check_event_date(value: dt.date, field: str, business_date: dt.date) -> dt.date:
    """Section 0: an event (drawdown, a payment, an appraisal...) is not dated after the business date
    (``dated_after_business_date``) nor before 1900-01-01.

    >>> check_event_date(dt.date(2026, 1, 2), "paid_on", dt.date(2026, 1, 1))
    Traceback (most recent call last):
    ...
    fund.errors.DomainError: paid_on 2026-01-02 is after the business date 2026-01-01
    """
    from fund.errors import DomainError

    check_input_date(value, field)
    if value > business_date:
        raise DomainError("dated_after_business_date", f"{field} {value.isoformat()} is after the business date {business_date.isoformat()}", field=field)
    return value
