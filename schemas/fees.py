"""Fees a bank reports for a loan and their subsidies (docs/rules.md section 5, S6)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.common import IsoDate, OutModel, PositiveFen, RecordId, StrictModel, text

FeeKind = Literal["appraisal", "insurance", "guarantee"]
MAX_FEE_ITEMS = 1000


class FeeIn(StrictModel):
    """A fee the borrower paid for the loan: appraisal, insurance or guarantee (insurance and guarantee
    exclude each other on one loan: the first reported wins)."""

    kind: FeeKind
    amount_fen: PositiveFen
    paid_on: IsoDate = Field(description="date paid; before the drawdown is fine, after the business date is refused")
    issuer: text(200, "who issued the invoice")
    invoice_no: text(64, "the invoice number, unique per issuer")


class FeeItemIn(FeeIn):
    loan_id: RecordId


class FeeBatchIn(StrictModel):
    """Up to 1000 fees of one or several loans, recorded all-or-nothing, in the order sent."""

    items: list[FeeItemIn] = Field(min_length=1, max_length=MAX_FEE_ITEMS)


class FeeOut(OutModel):
    id: int
    loan_id: int
    kind: FeeKind
    amount_fen: int
    paid_on: IsoDate
    issuer: str
    invoice_no: str
    subsidy_fen: int = Field(description="floor(fee * fee_subsidy_ratio_bp / 10000), cut to the loan's cap for the kind")
    capped: bool = Field(description="the cap for the loan and kind cut this fee's subsidy")
    registered_on: IsoDate
    run_id: int | None = Field(None, description="the monthly run that paid it (null: not paid yet)")


class FeeList(OutModel):
    items: list[FeeOut]
