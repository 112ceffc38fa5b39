"""The LPR table in the database: seeded from the shipped CSV, extended by the fund manager."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from fund.adapters.models.registry import LprRate
from fund.domain.dates import check_input_date
from fund.domain.lpr import LprTable, shipped_lpr_table
from fund.errors import Conflict, DomainError
from fund.services.common import get_setting, set_setting

CHECKED_THROUGH_KEY = "lpr_checked_through"


def seed_lpr(session: Session) -> bool:
    """Load the shipped table when the database has none; returns whether it loaded."""
    if session.scalar(select(LprRate).limit(1)) is not None:
        return False
    table = shipped_lpr_table()
    session.add_all(LprRate(published_on=d, rate_bp=r) for d, r in table.publications)
    set_setting(session, CHECKED_THROUGH_KEY, table.checked_through.isoformat())
    return True


def lpr_table(session: Session) -> LprTable:
    rows = session.execute(select(LprRate.published_on, LprRate.rate_bp).order_by(LprRate.published_on)).all()
    checked = get_setting(session, CHECKED_THROUGH_KEY)
    if not rows or checked is None:
        raise DomainError("lpr_empty", "the LPR table is empty: run `ipfund db upgrade`")
    return LprTable(tuple((d, r) for d, r in rows), dt.date.fromisoformat(checked))


def add_publication(session: Session, published_on: dt.date, rate_bp: int) -> None:
    check_input_date(published_on, "published_on")
    table = lpr_table(session)
    if published_on <= table.checked_through:
        raise Conflict(
            "lpr_before_checked_through",
            f"a publication dated {published_on} is on or before checked_through {table.checked_through}",
            field="published_on",
        )
    if not 1 <= rate_bp <= 10_000:
        raise DomainError("invalid_rate", f"rate_bp must be 1..10000, got {rate_bp}", field="rate_bp")
    if session.get(LprRate, published_on) is not None:
        raise Conflict("lpr_exists", f"a publication dated {published_on} exists", field="published_on")
    session.add(LprRate(published_on=published_on, rate_bp=rate_bp))


def check_through(session: Session, through: dt.date, business_date: dt.date) -> None:
    check_input_date(through, "date")
    table = lpr_table(session)
    if through < table.checked_through:
        raise Conflict("lpr_checked_through_backwards", f"checked_through cannot move back from {table.checked_through}", field="date")
    if through > business_date:
        raise DomainError("dated_after_business_date", f"{through} is after the business date {business_date}", field="date")
    set_setting(session, CHECKED_THROUGH_KEY, through.isoformat())
