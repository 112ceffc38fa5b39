"""Tables of the foundation: institutions, enterprises, IP assets, loans and their schedule,
repayments, policies, the LPR table, borrower quotas and system settings."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fund.adapters.models.base import Base, Fen, created_at_column


class SystemSetting(Base):
    __tablename__ = "system_settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


class Institution(Base):
    __tablename__ = "institutions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = created_at_column()
    __table_args__ = (
        CheckConstraint(
            "kind in ('bank','insurer','guarantor','appraiser','fund_manager','auditor')", name="kind"
        ),
    )


class StoredPolicy(Base):
    __tablename__ = "policies"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date] = mapped_column(Date)
    content_hash: Mapped[str] = mapped_column(String(64))
    document: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    loaded_at: Mapped[dt.datetime] = created_at_column()


class LprRate(Base):
    __tablename__ = "lpr_rates"
    published_on: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    rate_bp: Mapped[int] = mapped_column(Integer)


class Enterprise(Base):
    """A borrower, by its credit code. Its other columns hold the first registration's report; they
    decide nothing and are never shown to a bank: each loan carries its own bank's report of the
    borrower (``Loan.borrower_*``, docs/rules.md section 3)."""

    __tablename__ = "enterprises"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    district: Mapped[str] = mapped_column(String(64))
    sector: Mapped[str] = mapped_column(String(32))
    registered_on: Mapped[dt.date] = mapped_column(Date)
    is_sme: Mapped[bool] = mapped_column(Boolean)
    clean_credit: Mapped[bool] = mapped_column(Boolean)
    credit_code_override_reason: Mapped[str | None] = mapped_column(String(500))
    first_reported_by: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    created_at: Mapped[dt.datetime] = created_at_column()


class IpAsset(Base):
    __tablename__ = "ip_assets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    number: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300))
    filing_date: Mapped[dt.date] = mapped_column(Date)
    grant_date: Mapped[dt.date | None] = mapped_column(Date)
    legal_status: Mapped[str] = mapped_column(String(16))
    owner_credit_code: Mapped[str] = mapped_column(String(18))
    appraised_value_fen: Mapped[int] = mapped_column(Fen)
    appraised_on: Mapped[dt.date] = mapped_column(Date)
    valuation_inputs: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = created_at_column()
    __table_args__ = (UniqueConstraint("kind", "number", name="uq_ip_assets_kind_number"),)


class Loan(Base):
    __tablename__ = "loans"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    contract_no: Mapped[str] = mapped_column(String(64))
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), index=True)
    # the borrower as this loan's bank reported it: eligibility uses these (docs/rules.md section 3)
    borrower_name: Mapped[str] = mapped_column(String(200))
    borrower_district: Mapped[str] = mapped_column(String(64))
    borrower_sector: Mapped[str] = mapped_column(String(32))
    borrower_registered_on: Mapped[dt.date] = mapped_column(Date)
    borrower_is_sme: Mapped[bool] = mapped_column(Boolean)
    borrower_clean_credit: Mapped[bool] = mapped_column(Boolean)
    principal_fen: Mapped[int] = mapped_column(Fen)
    contract_rate_bp: Mapped[int] = mapped_column(Integer)
    pd_bp: Mapped[int | None] = mapped_column(Integer)
    drawdown_date: Mapped[dt.date] = mapped_column(Date, index=True)
    maturity_date: Mapped[dt.date] = mapped_column(Date)
    ip_share_bp: Mapped[int] = mapped_column(Integer)
    scheme_code: Mapped[str] = mapped_column(String(16))
    policy_id: Mapped[str | None] = mapped_column(ForeignKey("policies.id"), index=True)
    insurer_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    insurer_limit_fen: Mapped[int | None] = mapped_column(Fen)
    appraiser_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    pledge_registration_no: Mapped[str] = mapped_column(String(64))
    pledge_registered_on: Mapped[dt.date] = mapped_column(Date)
    coverage: Mapped[str] = mapped_column(String(16))
    ineligible_reasons: Mapped[list[str]] = mapped_column(JSON)
    ip_part_fen: Mapped[int] = mapped_column(Fen)
    covered_fen: Mapped[int] = mapped_column(Fen)
    quota_year: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True)
    principal_repaid_fen: Mapped[int] = mapped_column(Fen, default=0)
    flags: Mapped[list[str]] = mapped_column(JSON)
    registered_on: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = created_at_column()

    installments: Mapped[list["Installment"]] = relationship(
        back_populates="loan", order_by="Installment.due_date", lazy="selectin"
    )
    __table_args__ = (
        UniqueConstraint("bank_id", "contract_no", name="uq_loans_bank_contract"),
        CheckConstraint("principal_fen > 0", name="principal_positive"),
        CheckConstraint("ip_share_bp between 1 and 10000", name="ip_share_range"),
        CheckConstraint("covered_fen >= 0 and covered_fen <= ip_part_fen", name="covered_range"),
        CheckConstraint(
            "status in ('active','repaid','cancelled','claimed','compensated','closed')", name="status"
        ),
        CheckConstraint("coverage in ('eligible','ineligible')", name="coverage"),
    )

    @property
    def outstanding_fen(self) -> int:
        return self.principal_fen - self.principal_repaid_fen


class LoanAsset(Base):
    __tablename__ = "loan_assets"
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("ip_assets.id"), primary_key=True, index=True)


class Installment(Base):
    __tablename__ = "installments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    due_date: Mapped[dt.date] = mapped_column(Date)
    principal_due_fen: Mapped[int] = mapped_column(Fen)
    interest_due_fen: Mapped[int] = mapped_column(Fen)
    principal_paid_fen: Mapped[int] = mapped_column(Fen, default=0)
    interest_paid_fen: Mapped[int] = mapped_column(Fen, default=0)
    loan: Mapped[Loan] = relationship(back_populates="installments")
    __table_args__ = (
        UniqueConstraint("loan_id", "due_date", name="uq_installments_loan_due"),
        CheckConstraint("principal_paid_fen <= principal_due_fen", name="principal_paid_le_due"),
        CheckConstraint("interest_paid_fen <= interest_due_fen", name="interest_paid_le_due"),
    )


class Repayment(Base):
    __tablename__ = "repayments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    installment_id: Mapped[int] = mapped_column(ForeignKey("installments.id"))
    paid_on: Mapped[dt.date] = mapped_column(Date, index=True)
    principal_fen: Mapped[int] = mapped_column(Fen)
    interest_fen: Mapped[int] = mapped_column(Fen)
    loan_status_at_payment: Mapped[str] = mapped_column(String(16))  # just before this payment (S1)
    past_due_at_payment: Mapped[bool] = mapped_column(Boolean)
    recorded_by: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    created_at: Mapped[dt.datetime] = created_at_column()
    __table_args__ = (
        CheckConstraint("principal_fen >= 0 and interest_fen >= 0", name="non_negative"),
        CheckConstraint("principal_fen + interest_fen > 0", name="positive"),
    )


class BorrowerQuota(Base):
    """Quota used per (borrower, policy, drawdown year); its row is the lock that serialises
    registrations racing for one borrower's quota."""

    __tablename__ = "borrower_quotas"
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), primary_key=True)
    policy_id: Mapped[str] = mapped_column(ForeignKey("policies.id"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    used_fen: Mapped[int] = mapped_column(BigInteger, default=0)


class LoanEvent(Base):
    """Who moved a loan, when, and from which status to which."""

    __tablename__ = "loan_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    event: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    business_date: Mapped[dt.date] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = created_at_column()


class PilotCodeAllowance(Base):
    """An early pilot credit code that fails its check character, allowed by the fund manager with a
    stated reason (docs/rules.md I1); registrations naming it are accepted and flagged."""

    __tablename__ = "pilot_code_allowances"
    credit_code: Mapped[str] = mapped_column(String(18), primary_key=True)
    reason: Mapped[str] = mapped_column(String(500))
    allowed_by: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    allowed_on: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = created_at_column()
