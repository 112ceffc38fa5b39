"""Interest-subsidy runs (rule S4) and their lines: one line per subsidised repayment, at most once ever."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from fund.adapters.models.base import Base, Fen, created_at_column


class SubsidyRun(Base):
    """The run for one month (``YYYY-MM``, unique): totals of its lines and the one journal entry that
    pays them (none when the total is 0).

    ``computed_fen``, ``total_fen``, ``paid_fen`` and ``deferred_fen`` are the whole run's: its interest
    lines and its fee lines (S6: the fees whose ``loan_fees.run_id`` is this run). ``fee_computed_fen``
    and ``fee_total_fen`` are the fee lines' part; ``line_count`` and ``capped_count`` count the
    interest lines, ``fee_line_count`` and ``fee_capped_count`` the fee lines."""

    __tablename__ = "subsidy_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    month: Mapped[str] = mapped_column(String(7), unique=True)
    period_end: Mapped[dt.date] = mapped_column(Date)
    business_date: Mapped[dt.date] = mapped_column(Date)
    line_count: Mapped[int] = mapped_column(Integer)
    capped_count: Mapped[int] = mapped_column(Integer)
    computed_fen: Mapped[int] = mapped_column(Fen)
    total_fen: Mapped[int] = mapped_column(Fen)
    paid_fen: Mapped[int] = mapped_column(Fen)
    deferred_fen: Mapped[int] = mapped_column(Fen)
    fee_line_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    fee_capped_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    fee_computed_fen: Mapped[int] = mapped_column(Fen, default=0, server_default="0")
    fee_total_fen: Mapped[int] = mapped_column(Fen, default=0, server_default="0")
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    created_at: Mapped[dt.datetime] = created_at_column()
    __table_args__ = (
        CheckConstraint("total_fen >= 0 and total_fen <= computed_fen", name="total_range"),
        CheckConstraint("paid_fen >= 0 and deferred_fen >= 0 and paid_fen + deferred_fen = total_fen", name="paid_plus_deferred"),
    )


class SubsidyLine(Base):
    """One subsidised repayment, keyed by the repayment: a repayment is subsidised at most once, ever.

    ``computed_fen`` is S2's amount, ``amount_fen`` what S3's cap leaves (the amount paid);
    ``rate_used_bp_e4`` is the rate used, ``min(contract, LPR * (1 + markup))``, in bp times 10^4
    (exact: the cap rate has at most four decimals in bp). ``loan_id``, ``enterprise_id`` and
    ``policy_id`` are copied from the repayment's loan for the cap and the statements.

    The repayment and the run are foreign keys, so the database itself refuses a line that pays
    nothing real. The copied columns carry none: on PostgreSQL every key is a locking look-up per
    line, and four keys were two thirds of the server's work in a million-line run; the copies are
    checked instead by ``ledger_violations`` (``ipfund ledger check``), which reports any line whose
    loan, enterprise, policy or interest differ from the repayment's.
    """

    __tablename__ = "subsidy_lines"
    repayment_id: Mapped[int] = mapped_column(ForeignKey("repayments.id"), primary_key=True, autoincrement=False)
    run_id: Mapped[int] = mapped_column(ForeignKey("subsidy_runs.id"))
    loan_id: Mapped[int] = mapped_column(Integer)
    enterprise_id: Mapped[int] = mapped_column(Integer)
    policy_id: Mapped[str] = mapped_column(String(40))
    cap_year: Mapped[int] = mapped_column(Integer)
    interest_fen: Mapped[int] = mapped_column(Fen)
    lpr_bp: Mapped[int] = mapped_column(Integer)
    rate_used_bp_e4: Mapped[int] = mapped_column(BigInteger)
    computed_fen: Mapped[int] = mapped_column(Fen)
    amount_fen: Mapped[int] = mapped_column(Fen)
    capped: Mapped[bool] = mapped_column(Boolean)
    __table_args__ = (
        # lines are written run after run, so a BRIN index (tiny, nearly free to keep) finds a run's
        # lines on PostgreSQL; other databases build an ordinary index
        Index("ix_subsidy_lines_run_id", "run_id", postgresql_using="brin"),
        CheckConstraint("amount_fen >= 0 and amount_fen <= computed_fen", name="amount_range"),
        CheckConstraint("interest_fen > 0", name="interest_positive"),
    )
