"""Tables of rule B (docs/rules.md section 12) and S6 (section 5): banks' pool agreements under a
policy, their suspensions at the loss line, and the fees a bank reports for a loan."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fund.adapters.models.base import Base, Fen, created_at_column


class PoolAgreement(Base):
    """B1: a bank takes part under a policy from ``agreed_on`` (one agreement per bank and policy)."""

    __tablename__ = "pool_agreements"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    policy_id: Mapped[str] = mapped_column(ForeignKey("policies.id"))
    agreed_on: Mapped[dt.date] = mapped_column(Date)
    reference: Mapped[str] = mapped_column(String(100))
    recorded_on: Mapped[dt.date] = mapped_column(Date)
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[dt.datetime] = created_at_column()
    __table_args__ = (UniqueConstraint("bank_id", "policy_id", name="uq_pool_agreements_bank_policy"),)


class BankSuspension(Base):
    """B2: a bank suspended under a policy from ``suspended_on`` (the approval's business date) until
    ``lifted_on`` (rule G, with a reason). ``losses_fen`` and ``line_fen`` are as measured then."""

    __tablename__ = "bank_suspensions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    policy_id: Mapped[str] = mapped_column(ForeignKey("policies.id"))
    suspended_on: Mapped[dt.date] = mapped_column(Date)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"))
    losses_fen: Mapped[int] = mapped_column(Fen)
    lending_fen: Mapped[int] = mapped_column(Fen)
    line_fen: Mapped[int] = mapped_column(Fen)
    lifted_on: Mapped[dt.date | None] = mapped_column(Date)
    lift_reason: Mapped[str | None] = mapped_column(String(500))
    lifted_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[dt.datetime] = created_at_column()
    __table_args__ = (Index("ix_bank_suspensions_bank_policy", "bank_id", "policy_id"),)


class LoanFee(Base):
    """S6: a fee the borrower paid for a loan, with its subsidy as computed when reported (``capped``
    when the loan's cap for the kind cut it). ``run_id`` is the monthly run that took it as a fee line
    (S4): from then on ``subsidy_fen`` and ``capped`` are final; before, they are recomputed when the
    loan's fees of the kind change."""

    __tablename__ = "loan_fees"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"))
    kind: Mapped[str] = mapped_column(String(16))
    amount_fen: Mapped[int] = mapped_column(Fen)
    paid_on: Mapped[dt.date] = mapped_column(Date)
    issuer: Mapped[str] = mapped_column(String(200))
    invoice_no: Mapped[str] = mapped_column(String(64))
    subsidy_fen: Mapped[int] = mapped_column(Fen)
    capped: Mapped[bool] = mapped_column(default=False)
    registered_on: Mapped[dt.date] = mapped_column(Date)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("subsidy_runs.id"))
    created_at: Mapped[dt.datetime] = created_at_column()
    __table_args__ = (
        CheckConstraint("kind in ('appraisal','insurance','guarantee')", name="kind"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("subsidy_fen >= 0", name="subsidy_not_negative"),
        UniqueConstraint("issuer", "invoice_no", name="uq_loan_fees_issuer_invoice"),
        Index("ix_loan_fees_loan", "loan_id"),
        Index("ix_loan_fees_run", "run_id"),
    )
