"""The fund's journal (rule L): accounts with stored balances, entries, postings and deferrals."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fund.adapters.models.base import Base, Fen, created_at_column


class Account(Base):
    __tablename__ = "accounts"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    balance_fen: Mapped[int] = mapped_column(Fen, default=0)


class JournalEntry(Base):
    __tablename__ = "journal_entries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cause: Mapped[str] = mapped_column(String(32), index=True)
    policy_id: Mapped[str | None] = mapped_column(ForeignKey("policies.id"))
    ref_type: Mapped[str | None] = mapped_column(String(32))
    ref_id: Mapped[int | None] = mapped_column(Integer)
    business_date: Mapped[dt.date] = mapped_column(Date)
    memo: Mapped[str | None] = mapped_column(String(500))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    created_at: Mapped[dt.datetime] = created_at_column()
    postings: Mapped[list["Posting"]] = relationship(back_populates="entry", lazy="selectin")
    __table_args__ = (
        CheckConstraint(
            "cause in ('appropriation','claim_approval','deferral_settlement','recovery','subsidy_run','correction',"
            "'reversal','payment_confirmation','payment_return','payment_reissue')",  # payments: migration 0010
            name="cause",
        ),
    )


class Posting(Base):
    __tablename__ = "postings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"), index=True)
    account_code: Mapped[str] = mapped_column(ForeignKey("accounts.code"), index=True)
    amount_fen: Mapped[int] = mapped_column(Fen)
    entry: Mapped[JournalEntry] = relationship(back_populates="postings")


class Deferral(Base):
    """Compensation or subsidy that pool cash could not cover; settled first-in first-out."""

    __tablename__ = "deferrals"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pool: Mapped[str] = mapped_column(String(16), index=True)
    ref_type: Mapped[str] = mapped_column(String(32))
    ref_id: Mapped[int] = mapped_column(Integer)
    policy_id: Mapped[str | None] = mapped_column(ForeignKey("policies.id"))
    amount_fen: Mapped[int] = mapped_column(Fen)
    settled_fen: Mapped[int] = mapped_column(Fen, default=0)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"))
    business_date: Mapped[dt.date] = mapped_column(Date)
    __table_args__ = (
        CheckConstraint("pool in ('compensation','subsidy')", name="pool"),
        CheckConstraint("settled_fen >= 0 and settled_fen <= amount_fen", name="settled_range"),
    )


class DeferralSettlement(Base):
    __tablename__ = "deferral_settlements"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deferral_id: Mapped[int] = mapped_column(ForeignKey("deferrals.id"), index=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(Fen)
