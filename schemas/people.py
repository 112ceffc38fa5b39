"""Request and response models of people, proposals (rule G1) and the audit trail (G2)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field

from schemas.common import OutModel, StrictModel, Timestamp, text

Login = text(64, "login: 2..64 of lower-case letters, digits, '.', '_', '-'", min_length=2)
DisplayName = text(100, "the person's name as others read it")
Password = Field(min_length=12, max_length=128, description="12..128 printable characters")
RoleName = Literal["officer", "approver", "admin", "staff", "reader"]
Language = Literal["zh", "en"]
ProposalKindName = text(48, "a proposal kind: claim_approval, claim_rejection, appropriation, appropriation_reversal, "
                        "subsidy_run, policy_activation, lpr_publication, lpr_checked_through, pilot_code, ...")
ProposalStatus = Literal["open", "executed", "declined", "withdrawn"]
Reason = text(500, "why (kept with the record)")
Note = text(500, "a note for the approver")
KeyLabel = text(100, "what the key is for")
InstitutionCode = text(32, "the institution's code")


class UserIn(StrictModel):
    """A new staff user of an institution (roles as docs/rules.md section 1 lists them for its kind)."""

    institution: InstitutionCode
    login: Login
    display_name: DisplayName
    roles: list[RoleName] = Field(min_length=1, max_length=3)
    password: str = Password
    language: Language = "zh"


class PasswordIn(StrictModel):
    password: str = Password


class UserOut(OutModel):
    login: str
    display_name: str
    institution: str
    roles: list[str]
    language: str
    active: bool
    locked_until: Timestamp | None


class UserList(OutModel):
    items: list[UserOut]


class PersonKeyIn(StrictModel):
    label: KeyLabel | None = None


class PersonKeyOut(OutModel):
    key: str = Field(description="the key itself: shown this once, never again")
    prefix: str
    login: str


class ProposalIn(StrictModel):
    """A decision to propose: its kind and parameters (e.g. ``{"claim_id": 12}`` for ``claim_approval``)."""

    kind: ProposalKindName
    params: dict[str, Any] = Field(max_length=20)
    note: Note | None = None


class DeclineIn(StrictModel):
    reason: Reason


class ProposalOut(OutModel):
    id: int
    kind: str
    target: str
    status: str
    params: dict[str, Any]
    preview: dict[str, Any] = Field(description="what it will do, as computed when proposed")
    figures: dict[str, Any] | None = Field(description="what it did, as recomputed on the sign-off's business date")
    figures_differ: bool | None
    single_signoff: bool | None
    proposed_by: str
    proposed_by_name: str
    proposed_on: dt.date
    proposed_at: Timestamp
    note: str | None
    decided_by: str | None
    decided_by_name: str | None
    decided_on: dt.date | None
    decline_reason: str | None


class ProposalPage(OutModel):
    items: list[ProposalOut]
    next_after_id: int | None


class AuditOut(OutModel):
    id: int
    at: Timestamp
    business_date: dt.date | None
    institution: str | None
    login: str | None
    display_name: str | None
    key_prefix: str | None
    action: str
    target: str | None
    outcome: str
    error_code: str | None
    request_id: str | None
    detail: str | None


class AuditPage(OutModel):
    items: list[AuditOut]
    next_after_id: int | None


class RepaymentReversalIn(StrictModel):
    """Why the repayment was recorded in error."""

    reason: Reason


class RepaymentReversalOut(OutModel):
    id: int
    repayment_id: int
    loan_id: int
    principal_fen: int
    interest_fen: int
    paid_on: dt.date
    reason: str
    reversed_on: dt.date
    loan_status: str = Field(description="the loan's status after the reversal (a repaid loan is active again)")
