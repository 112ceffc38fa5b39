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


class FeeLineOut(OutModel):
    """One fee line (S6) of a run, or of a run's preview: a fee the run takes, its subsidy before and
    after the loan's cap for the kind, and the part the subsidy pool's cash pays. The money takes every
    interest line first, then the fee lines in this order (payment date, loan, fee id)."""

    fee_id: int
    loan_id: int
    enterprise_id: int
    policy_id: str
    kind: str = Field(description="appraisal, insurance or guarantee")
    fee_fen: int = Field(description="the fee the borrower paid")
    paid_on: dt.date
    computed_fen: int = Field(description="the fee times the policy's ratio, before the loan's cap for the kind")
    amount_fen: int = Field(description="the fee line's subsidy (after the cap)")
    capped: bool
    paid_fen: int = Field(description="the part paid from the subsidy pool's cash (for a run: so far, deferral settlements included)")
    deferred_fen: int = Field(description="the part still deferred (S5)")


class SubsidyRunOut(OutModel):
    """A run's figures. ``created`` is false when the month had been run already (nothing changed).
    ``lines`` and ``capped_lines`` count the interest lines; ``fee_*`` the fee lines (S6); the money
    figures (``computed_fen``, ``total_fen``, ``paid_fen``, ``deferred_fen``) are the whole run's."""

    id: int
    month: str
    created: bool | None = Field(description="true: this request ran it; false: it existed; null: listed")
    business_date: dt.date
    lines: int = Field(description="interest lines")
    capped_lines: int = Field(description="interest lines the enterprise cap (S3) reduced")
    computed_fen: int = Field(description="the whole run before the caps: S2 amounts before the enterprise cap, plus the fee lines before the loan's cap")
    total_fen: int = Field(description="subsidy of the run: the sum of its lines (interest and fee), its journal entry's amount")
    paid_fen: int = Field(description="paid from the subsidy pool's cash when it ran")
    deferred_fen: int = Field(description="deferred when it ran: the pool's cash could not cover it (S5)")
    entry_id: int | None = Field(description="the run's journal entry (none when the total is 0)")
    statement_url: str
    interest_total_fen: int = Field(description="the interest lines' subsidy: total_fen - fee_total_fen")
    fee_lines: int = Field(description="fee lines (S6)")
    fee_capped_lines: int = Field(description="fee lines the loan's cap for the kind reduced")
    fee_computed_fen: int = Field(description="the fee lines before the loan's cap for the kind")
    fee_total_fen: int = Field(description="the fee lines' subsidy")
    fee_items: list[FeeLineOut] = Field(description="every fee line, in the money order, with its paid and deferred part so far")


class SubsidyRunList(OutModel):
    items: list[SubsidyRunOut]
