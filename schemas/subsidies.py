"""Subsidy runs (rule S4, docs/rules.md section 5) as sent and answered by the API. Amounts are integer fen.

>>> from schemas.subsidies import SubsidyRunIn
>>> SubsidyRunIn.model_validate({"month": "2026-09"}, strict=True).month
'2026-09'
"""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from schemas.common import OutModel, StrictModel, text

Month = text(7, "the month YYYY-MM", min_length=7, pattern=r"^\d{4}-(0[1-9]|1[0-2])$")


class SubsidyRunIn(StrictModel):
    """The month to run: every eligible repayment paid by its last day (and the business date) that no
    earlier run took."""

    month: Month


class SubsidyRunOut(OutModel):
    """A run's figures. ``created`` is false when the month had been run already (nothing changed)."""

    id: int
    month: str
    created: bool | None = Field(description="true: this request ran it; false: it existed; null: listed")
    business_date: dt.date
    lines: int
    capped_lines: int
    computed_fen: int = Field(description="S2 amounts before the enterprise cap")
    total_fen: int = Field(description="subsidy of the run: the sum of its lines, its journal entry's amount")
    paid_fen: int = Field(description="paid from the subsidy pool's cash")
    deferred_fen: int = Field(description="deferred: the pool's cash could not cover it (S5)")
    entry_id: int | None = Field(description="the run's journal entry (none when the total is 0)")
    statement_url: str


class SubsidyRunList(OutModel):
    items: list[SubsidyRunOut]
