"""Pilot credit codes the fund manager allows (docs/rules.md section 9 (I1))."""

from __future__ import annotations

from pydantic import Field

from schemas.common import IsoDate, OutModel, StrictModel, text
from schemas.loans import CreditCode


Reason = text(500, "why this code is genuine (kept with the allowance)")


class PilotCodeIn(StrictModel):
    """An early pilot unified social credit code that fails only its check character."""

    credit_code: CreditCode
    reason: Reason


class PilotCodeOut(OutModel):
    credit_code: str = Field(description="normal form of the code")
    reason: str
    allowed_on: IsoDate


class PilotCodeList(OutModel):
    items: list[PilotCodeOut]
