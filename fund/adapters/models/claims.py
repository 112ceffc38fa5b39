"""Tables of the claims workflow (docs/rules.md section 4): claims with their stored allocation and cap
trace, who did what to them and when, recoveries shared per party, and the per (bank, policy, year)
cap usage row that serialises approvals racing for one bank's room."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from fund.adapters.models.base import Base, Fen, created_at_column

from fund.domain.vocabulary import CLAIM_STATUS_VALUES as CLAIM_STATUSES  # noqa: F401
from fund.domain.vocabulary import LIVE_CLAIM_STATUSES  # noqa: F401  (a loan carries at most one claim in these)
_LIVE_WHERE = "status in ('filed','approved')"


class Claim(Base):
    """One default claim. Filing stores ``loss_fen`` and the window facts; approval stores the
    whole allocation (A2), the cap trace (A3) and how the pool paid (A4), all under ``policy_id``;
    recoveries (A5) keep running totals per party here and their detail in ``claim_recoveries``."""

    __tablename__ = "claims"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    insurer_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"), index=True)
    appraiser_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"), index=True)
    policy_id: Mapped[str] = mapped_column(ForeignKey("policies.id"))
    status: Mapped[str] = mapped_column(String(16), index=True)

    # filing (A1)
    loss_fen: Mapped[int] = mapped_column(Fen)
    filed_on: Mapped[dt.date] = mapped_column(Date)
    filed_by: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    earliest_unpaid_due: Mapped[dt.date] = mapped_column(Date)
    days_past_due: Mapped[int] = mapped_column(Integer)

    # decision
    decided_on: Mapped[dt.date | None] = mapped_column(Date)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    reject_reason: Mapped[str | None] = mapped_column(String(500))

    # allocation (A2), as of approval
    principal_fen: Mapped[int | None] = mapped_column(Fen)
    covered_fen: Mapped[int | None] = mapped_column(Fen)
    outstanding_fen: Mapped[int | None] = mapped_column(Fen)
    scheme_code: Mapped[str | None] = mapped_column(String(16))
    ratios_bp: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    insurer_limit_fen: Mapped[int | None] = mapped_column(Fen)
    base_fen: Mapped[int | None] = mapped_column(Fen)
    fund_before_cap_fen: Mapped[int | None] = mapped_column(Fen)
    insurer_cut_fen: Mapped[int | None] = mapped_column(Fen)
    fund_fen: Mapped[int | None] = mapped_column(Fen)
    insurer_fen: Mapped[int | None] = mapped_column(Fen)
    appraiser_fen: Mapped[int | None] = mapped_column(Fen)
    bank_fen: Mapped[int | None] = mapped_column(Fen)

    # cap trace (A3); cap_bp and room are NULL when the policy has no bank cap
    cap_year: Mapped[int | None] = mapped_column(Integer)
    cap_bp: Mapped[int | None] = mapped_column(Integer)
    in_pool_lending_fen: Mapped[int | None] = mapped_column(Fen)
    cap_fen: Mapped[int | None] = mapped_column(Fen)
    cap_used_before_fen: Mapped[int | None] = mapped_column(Fen)
    room_fen: Mapped[int | None] = mapped_column(Fen)
    fund_cut_fen: Mapped[int | None] = mapped_column(Fen)

    # payment (A4)
    paid_fen: Mapped[int | None] = mapped_column(Fen)
    deferred_fen: Mapped[int | None] = mapped_column(Fen)
    approval_entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"))

    # recoveries (A5), running totals
    recovered_gross_fen: Mapped[int] = mapped_column(Fen, default=0)
    recovered_costs_fen: Mapped[int] = mapped_column(Fen, default=0)
    recovered_net_fen: Mapped[int] = mapped_column(Fen, default=0)
    fund_recovered_fen: Mapped[int] = mapped_column(Fen, default=0)
    insurer_recovered_fen: Mapped[int] = mapped_column(Fen, default=0)
    appraiser_recovered_fen: Mapped[int] = mapped_column(Fen, default=0)
    bank_recovered_fen: Mapped[int] = mapped_column(Fen, default=0)

    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    created_at: Mapped[dt.datetime] = created_at_column()

    __table_args__ = (
        CheckConstraint("status in ('filed','withdrawn','rejected','approved','closed')", name="status"),
        CheckConstraint("loss_fen > 0", name="loss_positive"),
        CheckConstraint(
            "fund_fen is null or fund_fen + insurer_fen + appraiser_fen + bank_fen = loss_fen", name="parts_add_up"
        ),
        CheckConstraint("fund_fen is null or paid_fen + deferred_fen = fund_fen", name="paid_plus_deferred"),
        CheckConstraint("recovered_net_fen >= 0", name="recovered_net_non_negative"),
        # One live claim per loan; the workflow checks it too (under the loan's row lock).
        Index("uq_claims_live_loan", "loan_id", unique=True, sqlite_where=text(_LIVE_WHERE), postgresql_where=text(_LIVE_WHERE)),
    )

    def shares(self) -> dict[str, int]:
        """The approved non-bank shares (after the insurance limit and A3's cut)."""
        return {"fund": self.fund_fen or 0, "insurer": self.insurer_fen or 0, "appraiser": self.appraiser_fen or 0}


class ClaimEvent(Base):
    """Who did what to a claim, on which business date (and the journal entry it posted, if any)."""

    __tablename__ = "claim_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"), index=True)
    event: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    business_date: Mapped[dt.date] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(String(500))
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"))
    created_at: Mapped[dt.datetime] = created_at_column()
    __table_args__ = (
        CheckConstraint(
            "event in ('filed','loss_lowered','withdrawn','rejected','approved','recovery','closed')", name="event"
        ),
    )


class ClaimRecovery(Base):
    """One recovery reported on an approved claim (A5): gross, costs, net and each party's part.
    ``cum_net_before_fen`` is the net recovered on the claim before this one."""

    __tablename__ = "claim_recoveries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"), index=True)
    policy_id: Mapped[str] = mapped_column(ForeignKey("policies.id"))
    gross_fen: Mapped[int] = mapped_column(Fen)
    costs_fen: Mapped[int] = mapped_column(Fen)
    net_fen: Mapped[int] = mapped_column(Fen)
    cum_net_before_fen: Mapped[int] = mapped_column(Fen)
    fund_fen: Mapped[int] = mapped_column(Fen)
    insurer_fen: Mapped[int] = mapped_column(Fen)
    appraiser_fen: Mapped[int] = mapped_column(Fen)
    bank_fen: Mapped[int] = mapped_column(Fen)
    business_date: Mapped[dt.date] = mapped_column(Date)
    reported_by: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"))
    created_at: Mapped[dt.datetime] = created_at_column()
    __table_args__ = (
        CheckConstraint("gross_fen >= 0 and costs_fen >= 0 and net_fen = gross_fen - costs_fen and net_fen >= 0", name="net"),
        CheckConstraint("fund_fen + insurer_fen + appraiser_fen + bank_fen = net_fen", name="parts_add_up"),
    )


class BankCapUsage(Base):
    """Fund shares approved per (bank, policy, approval year) (A3). Approvals lock this row
    (``SELECT ... FOR UPDATE`` on PostgreSQL), so two never use the same room."""

    __tablename__ = "bank_cap_usage"
    bank_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), primary_key=True)
    policy_id: Mapped[str] = mapped_column(ForeignKey("policies.id"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    used_fen: Mapped[int] = mapped_column(Fen, default=0)
    __table_args__ = (CheckConstraint("used_fen >= 0", name="used_non_negative"),)
