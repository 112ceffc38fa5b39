"""Reference data as the API answers it: the LPR table (docs/rules.md section 2), policies, institutions;
and the LPR changes the fund manager proposes (rule G).

>>> LprPublicationIn.model_validate({"published_on": "2026-11-20", "rate_bp": 300}, strict=True).rate_bp
300
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field

from schemas.common import IsoDate, OutModel, StrictModel, Timestamp

InstitutionKind = Literal["bank", "insurer", "guarantor", "appraiser", "fund_manager", "auditor"]


class LprRateOut(OutModel):
    published_on: dt.date
    rate_bp: int = Field(description="the one-year LPR published that day, bp")


class LprTableOut(OutModel):
    """The rate on a date is the latest publication on or before it; a look-up after
    ``checked_through`` (or before the first row) fails."""

    checked_through: dt.date = Field(description="the table is known complete up to this date")
    items: list[LprRateOut]


class LprPublicationIn(StrictModel):
    """A new publication (dated after ``checked_through``), proposed for sign-off."""

    published_on: IsoDate
    rate_bp: int = Field(ge=1, le=10_000, description="the one-year LPR, bp")


class LprCheckedThroughIn(StrictModel):
    """Move ``checked_through`` forward (not past the business date), proposed for sign-off."""

    through: IsoDate


class PolicyOut(OutModel):
    id: str
    name: str
    valid_from: dt.date
    valid_to: dt.date
    active: bool = Field(description="activated by the fund manager: loans drawn in its dates are covered under it")
    content_hash: str = Field(description="SHA-256 of the document: a policy id names exactly one document")
    loaded_at: Timestamp


class PolicyList(OutModel):
    items: list[PolicyOut]


class PolicyDocumentOut(PolicyOut):
    document: dict[str, Any] = Field(description="the policy document: schemes, caps, eligibility and subsidy parameters")


class InstitutionOut(OutModel):
    code: str
    name: str
    kind: InstitutionKind


class InstitutionList(OutModel):
    items: list[InstitutionOut]
