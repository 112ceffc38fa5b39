"""Payment instructions for the fund's custodian bank (docs/rules.md section 6, "Payments"): every amount a
pool pays out (a claim's paid part to its bank, a deferral settled, the paid part of a subsidy run's
lines to each enterprise) is one instruction, ``instructed`` until the custodian's confirmation is
imported (``confirmed``) or the money comes back (``returned``). A returned instruction is owed
again: a new instruction names it in ``reissue_of`` (at most one)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from fund.adapters.models.base import Base, Fen, created_at_column



class PaymentInstruction(Base):
    __tablename__ = "payment_instructions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pool: Mapped[str] = mapped_column(String(16))
    payee_type: Mapped[str] = mapped_column(String(16))  # bank (an institution) or enterprise
    payee_id: Mapped[int] = mapped_column(Integer)
    payee_code: Mapped[str] = mapped_column(String(32))
    payee_name: Mapped[str] = mapped_column(String(200))
    source_type: Mapped[str] = mapped_column(String(32))  # claim, deferral, subsidy_run, payment (a reissue)
    source_id: Mapped[int] = mapped_column(Integer)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"))
    amount_fen: Mapped[int] = mapped_column(Fen)
    status: Mapped[str] = mapped_column(String(16))
    instructed_on: Mapped[dt.date] = mapped_column(Date)
    settled_on: Mapped[dt.date | None] = mapped_column(Date)
    bank_reference: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(String(200))
    settlement_entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"))
    reissue_of: Mapped[int | None] = mapped_column(ForeignKey("payment_instructions.id"), unique=True)
    created_at: Mapped[dt.datetime] = created_at_column()
    __table_args__ = (
        CheckConstraint("pool in ('compensation','subsidy')", name="pool"),
        CheckConstraint("payee_type in ('bank','enterprise')", name="payee_type"),
        CheckConstraint("status in ('instructed','confirmed','returned')", name="status"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        Index("ix_payment_instructions_pool_status", "pool", "status"),
        Index("ix_payment_instructions_source", "source_type", "source_id"),
    )
