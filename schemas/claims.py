"""Claims, recoveries, appropriations, the journal and the fund report as sent and answered by the
API (docs/rules.md sections 4 and 6). Amounts are integer fen (``*_fen``), rates integer bp (``*_bp``),
dates ``YYYY-MM-DD``; every computed amount carries the ``policy_id`` that produced it.

>>> from schemas.claims import RecoveryIn
>>> RecoveryIn.model_validate({"gross_fen": 120_000_001, "costs_fen": 20_000_000}, strict=True).costs_fen
20000000
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from fund.domain import vocabulary
from schemas.common import FenAmount, IsoDate, OutModel, PositiveFen, StrictModel, Timestamp, text
from schemas.pool import LossRatioOut

ClaimStatus = Literal[vocabulary.CLAIM_STATUS_VALUES]  # type: ignore[valid-type]  (fund.domain.vocabulary)
Pool = Literal["compensation", "subsidy"]
Cause = Literal["appropriation", "claim_approval", "deferral_settlement", "recovery", "subsidy_run", "correction"]

Reason = text(500, "why the claim is rejected (stored with the claim)")
PolicyId = text(40, "policy id, e.g. gz-2023")
Memo = text(500, "a note kept with the journal entry")
Reference = text(100, "the funding document's reference (拨款文号)")


# ---------------------------------------------------------------------------------------------
# requests
# ---------------------------------------------------------------------------------------------


class ClaimIn(StrictModel):
    """A claim the bank files on its loan (A1): the principal loss ``L``, at most the outstanding
    principal."""

    loss_fen: PositiveFen


class LossIn(StrictModel):
    """A lower loss for a filed claim (approval waits while ``L`` exceeds the outstanding principal)."""

    loss_fen: PositiveFen


class RejectIn(StrictModel):
    reason: Reason


class RecoveryIn(StrictModel):
    """One recovery on an approved claim (A5): gross amount and disposal costs; ``net = gross - costs``
    must be >= 0."""

    gross_fen: PositiveFen
    costs_fen: FenAmount = 0


class AppropriationIn(StrictModel):
    """An appropriation to a pool (docs/rules.md section 6): the date received and the funding document's
    reference (拨款文号; a reference held by an appropriation that is not reversed is refused). Signed
    off (rule G1), it settles the pool's deferred amounts first (A4, S5)."""

    pool: Pool
    amount_fen: PositiveFen
    reference: Reference
    received_on: IsoDate | None = Field(default=None, description="the date received (default: the business date)")
    policy_id: PolicyId | None = None
    memo: Memo | None = None


# ---------------------------------------------------------------------------------------------
# answers
# ---------------------------------------------------------------------------------------------


class AllocationOut(OutModel):
    """A2 at approval (after the insurance limit and A3's cut): the parts add up to ``loss_fen``."""

    policy_id: str
    scheme: str
    ratios_bp: dict[str, int]
    principal_fen: int
    covered_fen: int
    outstanding_fen: int
    loss_fen: int
    base_fen: int = Field(description="floor(L * C / principal)")
    insurer_limit_fen: int | None
    insurer_cut_fen: int = Field(description="what the insurance limit moved to the bank")
    fund_before_cap_fen: int = Field(description="the fund's A2 share before the bank cap")
    fund_fen: int
    insurer_fen: int
    appraiser_fen: int
    bank_fen: int


class CapTraceOut(OutModel):
    """A3 at approval for (bank, policy, approval year); ``cap_bp``, ``cap_fen`` and ``room_fen`` are
    null when the policy has no bank cap."""

    policy_id: str
    year: int
    cap_bp: int | None
    in_pool_lending_fen: int
    cap_fen: int | None
    already_used_fen: int
    room_fen: int | None
    cut_fen: int = Field(description="what the cap moved from the fund to the bank")


class PaymentOut(OutModel):
    """A4: the fund's share paid from the compensation pool at approval, the rest deferred and
    settled since by inflows, first-in first-out."""

    policy_id: str
    pool: str
    entry_id: int | None
    paid_at_approval_fen: int
    deferred_at_approval_fen: int
    deferred_settled_fen: int
    deferred_open_fen: int
    paid_fen: int


class RecoveredOut(OutModel):
    gross_fen: int
    costs_fen: int
    net_fen: int
    fund_fen: int
    insurer_fen: int
    appraiser_fen: int
    bank_fen: int


class ClaimEventOut(OutModel):
    event: str
    from_status: str | None
    to_status: str
    by: str | None
    business_date: dt.date
    at: Timestamp
    note: str | None
    entry_id: int | None


class RecoveryOut(OutModel):
    id: int
    business_date: dt.date
    reported_by: str | None
    policy_id: str
    gross_fen: int
    costs_fen: int
    net_fen: int
    cum_net_before_fen: int
    fund_fen: int
    insurer_fen: int
    appraiser_fen: int
    bank_fen: int
    entry_id: int | None


class ClaimOut(OutModel):
    """A claim with its allocation, cap trace and payment (once approved), its recoveries and who did
    what when."""

    id: int
    loan_id: int
    status: ClaimStatus
    policy_id: str
    bank: str | None
    insurer: str | None
    appraiser: str | None
    loss_fen: int
    filed_on: dt.date
    filed_by: str | None
    earliest_unpaid_due: dt.date
    days_past_due: int
    decided_on: dt.date | None
    decided_by: str | None
    reject_reason: str | None
    allocation: AllocationOut | None
    cap: CapTraceOut | None
    payment: PaymentOut | None
    recovered: RecoveredOut
    closed_on: dt.date | None
    closed_by: str | None
    events: list[ClaimEventOut]
    recoveries: list[RecoveryOut]


class ClaimPage(OutModel):
    """One page of claims, by id; pass ``next_after_id`` as ``after_id`` for the next page."""

    items: list[ClaimOut]
    next_after_id: int | None = Field(description="cursor of the next page; null on the last page")


class RecoveryPosted(OutModel):
    recovery: RecoveryOut
    claim: ClaimOut


class SettlementOut(OutModel):
    deferral_id: int
    ref_type: str
    ref_id: int
    amount_fen: int
    entry_id: int


class AppropriationOut(OutModel):
    entry_id: int
    pool: str
    amount_fen: int
    policy_id: str | None
    settled_fen: int
    to_cash_fen: int
    settlements: list[SettlementOut]


class PostingOut(OutModel):
    account: str
    amount_fen: int = Field(description="debit positive, credit negative")


class JournalEntryOut(OutModel):
    id: int
    business_date: dt.date
    cause: Cause
    policy_id: str | None
    ref_type: str | None
    ref_id: int | None
    actor_id: int | None
    memo: str | None
    postings: list[PostingOut]


class JournalPage(OutModel):
    items: list[JournalEntryOut]
    next_after_id: int | None = Field(description="cursor of the next page; null on the last page")


class ViolationOut(OutModel):
    rule: str
    entry_id: int | None
    message: str


class LedgerCheckOut(OutModel):
    ok: bool
    violations: list[ViolationOut]


class PoolLineOut(OutModel):
    pool: str
    cash_fen: int
    deferred_fen: int
    appropriated_fen: int


class CompensationLineOut(OutModel):
    bank: str
    year: int
    claims: int
    approved_fen: int
    paid_fen: int
    deferred_fen: int
    recovered_fen: int


class CapLineOut(OutModel):
    bank: str
    policy_id: str
    year: int
    cap_bp: int | None
    in_pool_lending_fen: int
    cap_fen: int | None
    used_fen: int
    room_fen: int | None


class LeverageOut(OutModel):
    """Covered principal of live loans / appropriations to the compensation pool (exact ``a/b`` and
    floored bp; null while nothing is appropriated)."""

    covered_live_fen: int
    appropriated_fen: int
    ratio: str | None
    bp: int | None


class FundReportOut(OutModel):
    as_of: IsoDate
    pools: list[PoolLineOut]
    compensation: list[CompensationLineOut]
    caps: list[CapLineOut]
    leverage: LeverageOut
    loss_ratios: list[LossRatioOut] = Field(description="each agreed bank's loss ratio against its policy's suspension line "
                                                        "(docs/rules.md section 12, B2), as GET /agreements/loss-ratios gives them")
