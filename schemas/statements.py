"""Subsidy previews, monthly statistics and payment instructions as the API answers them (amounts
in integer fen; docs/rules.md sections 5, 6 and 13).

>>> PreviewOut.model_fields["total_fen"].description
'the sum of the lines a run would write now'
"""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from schemas.common import OutModel


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
    """What a run of ``month`` would write now; nothing is written."""

    month: str
    business_date: dt.date
    already_run: int | None = Field(description="the month's run, when it was run already (a run now changes nothing)")
    lines: int
    capped_lines: int
    computed_fen: int
    total_fen: int = Field(description="the sum of the lines a run would write now")
    paid_fen: int
    deferred_fen: int
    pool_cash_fen: int
    items: list[PreviewLineOut] = Field(description="the first `limit` lines in S3 order")
