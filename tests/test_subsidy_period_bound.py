"""The subsidy candidates' SQL bound (``fund.adapters.dialect.month_end_after``): on both backends
the last day of the month of ``add_months(day, months)``, so it never drops a repayment S1's exact
limit keeps (the month's end of a clamped day, leap years, month lengths, zero and long periods)."""

from __future__ import annotations

import calendar
import datetime as dt

from sqlalchemy import Date, literal, select, union_all

from fund.adapters.db import unit_of_work
from fund.adapters.dialect import month_end_after
from fund.domain.dates import add_months

DAYS = ([dt.date(2019, 12, 1) + dt.timedelta(days=k) for k in range(0, 2300, 13)]
        + [dt.date(2024, 1, 31), dt.date(2024, 2, 29), dt.date(2023, 1, 29), dt.date(2023, 12, 31), dt.date(2024, 8, 31)])
MONTHS = (0, 1, 11, 12, 13, 24, 36)


def _month_end(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def test_month_end_after_is_the_end_of_the_month_of_add_months(session_factory):
    cases = [(day, months) for day in DAYS for months in MONTHS]
    rows = []
    with unit_of_work(session_factory) as session:
        for start in range(0, len(cases), 400):  # SQLite takes at most 500 terms in a compound select
            rows += session.execute(union_all(*(select(literal(k).label("k"), month_end_after(session, literal(day, Date), months).label("bound"))
                                                for k, (day, months) in enumerate(cases[start:start + 400], start)))).all()
    found = {k: bound if isinstance(bound, dt.date) else dt.date.fromisoformat(bound) for k, bound in rows}
    assert len(found) == len(cases)
    for k, (day, months) in enumerate(cases):
        limit = add_months(day, months)
        assert found[k] == _month_end(limit), (day, months)
        assert found[k] >= limit
