"""Subsidy previews, monthly statistics and payment instructions as the API answers them (amounts
in integer fen; docs/rules.md sections 5, 6 and 13).

>>> PreviewOut.model_fields["total_fen"].description
'the sum of the lines a run would write now'
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from schemas.common import IsoDate, OutModel, RecordId, StrictModel, text
from schemas.subsidies import FeeLineOut


class PreviewLineOut(OutModel):
    repayment_id: int
    loan_id: int
    enterprise_id: int
    policy_id: str
    paid_on: dt.date
    interest_fen: int
    lpr_bp: int
    computed_fen: int = Field(description="S2 amount before the enterprise cap")
    amount_fen: int = Field(description="what the line would get (after S3)")
    capped: bool
    paid_fen: int = Field(description="the part the subsidy pool's cash would pay (lines take cash in S3 order)")
    deferred_fen: int


class PreviewOut(OutModel):
    """What a run of ``month`` would write now; nothing is written. ``lines`` and ``capped_lines`` count
    the interest lines, ``fee_*`` the fee lines (S6); the money figures are the whole run's (interest
    and fee lines), as a run's are."""

    month: str
    business_date: dt.date
    already_run: int | None = Field(description="the month's run, when it was run already (a run now changes nothing)")
    lines: int = Field(description="interest lines")
    capped_lines: int = Field(description="interest lines the enterprise cap (S3) would reduce")
    computed_fen: int = Field(description="the whole run before the caps (interest and fee lines)")
    total_fen: int = Field(description="the sum of the lines a run would write now")
    paid_fen: int
    deferred_fen: int
    pool_cash_fen: int
    items: list[PreviewLineOut] = Field(description="the first `limit` interest lines in S3 order")
    interest_total_fen: int = Field(description="the interest lines' subsidy: total_fen - fee_total_fen")
    fee_lines: int = Field(description="fee lines (S6) a run would take now")
    fee_capped_lines: int = Field(description="fee lines the loan's cap for the kind would reduce")
    fee_computed_fen: int = Field(description="the fee lines before the loan's cap for the kind")
    fee_total_fen: int = Field(description="the fee lines' subsidy")
    fee_items: list[FeeLineOut] = Field(description="the first `limit` fee lines in the money order (after every interest line)")


class PaymentOut(OutModel):
    id: int
    pool: str
    payee_type: str
    payee_code: str
    payee_name: str
    source_type: str = Field(description="claim, deferral, subsidy_run or payment (a returned one instructed again)")
    source_id: int
    amount_fen: int
    status: str = Field(description="instructed, confirmed or returned")
    instructed_on: dt.date
    settled_on: dt.date | None
    bank_reference: str | None
    reissue_of: int | None
    owed_again: bool = Field(description="returned and not instructed again yet: held in the pool's cash for the payee")


class PaymentList(OutModel):
    items: list[PaymentOut]


class ConfirmationRowIn(StrictModel):
    instruction_id: RecordId
    status: Literal["confirmed", "returned"]
    date: IsoDate
    bank_reference: text(64, "the custodian's reference", min_length=0) | None = None
    note: text(200, "why a payment came back, or a remark", min_length=0) | None = None


class ConfirmationsIn(StrictModel):
    """The custodian's confirmation file as JSON: all rows are applied, or none."""

    items: list[ConfirmationRowIn] = Field(min_length=1, max_length=10_000)


class ConfirmationsOut(OutModel):
    confirmed: int
    returned: int
    confirmed_fen: int
    returned_fen: int


class ReissueIn(StrictModel):
    note: text(200, "what was corrected in the payee's details") | None = None
