"""Tables of people and rule G (docs/rules.md sections 1 and 11): staff users, the keys issued to a
person, proposals awaiting a second person's sign-off, the append-only audit trail; and the records
of section 6 and 3 that rule G governs: appropriations with their document reference, reversals of
appropriation entries, repayment reversals."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fund.adapters.models.base import Base, Fen, created_at_column

LANGUAGES = ("zh", "en")
PROPOSAL_STATUSES = ("open", "executed", "declined", "withdrawn")
AUDIT_OUTCOMES = ("done", "refused")


class Person(Base):
    """A named staff user of one institution. ``roles`` is a comma-separated list of docs/rules.md section 1 roles
    (``officer,approver``); the password is kept only as an argon2 hash. ``failed_sign_ins`` counts the
    failures since ``first_failed_at``; ``locked_until`` is set when they reach the limit."""

    __tablename__ = "people"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    roles: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    language: Mapped[str] = mapped_column(String(2), default="zh", server_default="zh")
    password_hash: Mapped[str] = mapped_column(String(255))
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0)
    first_failed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = created_at_column()
    __table_args__ = (CheckConstraint("language in ('zh','en')", name="language"),)


class PersonKey(Base):
    """An API key issued to a person (the fund manager's keys): calls with it act as that person."""

    __tablename__ = "person_keys"
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)


class Proposal(Base):
    """A decision of rule G1: what it will do as computed when proposed (``preview``, JSON), and once
    signed off what it did as recomputed on the sign-off's business date (``figures``); both are kept.
    ``status`` moves from ``open`` exactly once."""

    __tablename__ = "proposals"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(48), index=True)
    target: Mapped[str] = mapped_column(String(80), index=True)
    params: Mapped[str] = mapped_column(Text)
    preview: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)
    proposed_by: Mapped[int] = mapped_column(ForeignKey("people.id"))
    proposed_on: Mapped[dt.date] = mapped_column(Date)
    proposed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(String(500))
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    decided_on: Mapped[dt.date | None] = mapped_column(Date)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    decline_reason: Mapped[str | None] = mapped_column(String(500))
    figures: Mapped[str | None] = mapped_column(Text)
    figures_differ: Mapped[bool | None] = mapped_column(Boolean)
    single_signoff: Mapped[bool | None] = mapped_column(Boolean)
    __table_args__ = (CheckConstraint("status in ('open','executed','declined','withdrawn')", name="status"),)


class AuditRecord(Base):
    """One record of rule G2. Append-only: database triggers refuse UPDATE and DELETE."""

    __tablename__ = "audit_records"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    business_date: Mapped[dt.date | None] = mapped_column(Date)
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    key_prefix: Mapped[str | None] = mapped_column(String(16))
    login: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(80))
    outcome: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (
        CheckConstraint("outcome in ('done','refused')", name="outcome"),
        Index("ix_audit_records_target_id", "target", "id"),
        Index("ix_audit_records_person_id_id", "person_id", "id"),
        Index("ix_audit_records_action_id", "action", "id"),
    )


class Appropriation(Base):
    """An appropriation (docs/rules.md section 6): its journal entry, the date received, the policy and
    the funding document's reference. ``live_reference`` holds the reference while the appropriation is
    not reversed (NULL after), so a reference held by a live appropriation is unique."""

    __tablename__ = "appropriations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"), unique=True)
    pool: Mapped[str] = mapped_column(String(16))
    amount_fen: Mapped[int] = mapped_column(Fen)
    policy_id: Mapped[str | None] = mapped_column(String(32))
    received_on: Mapped[dt.date] = mapped_column(Date)
    reference: Mapped[str] = mapped_column(String(100), index=True)
    live_reference: Mapped[str | None] = mapped_column(String(100), unique=True)
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    reversal_entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"), unique=True)
    reversal_reason: Mapped[str | None] = mapped_column(String(500))
    reversed_on: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = created_at_column()


class RepaymentReversal(Base):
    """A bank's reversal of a repayment it recorded in error (docs/rules.md section 3): a record of its
    own, the repayment row is never changed."""

    __tablename__ = "repayment_reversals"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repayment_id: Mapped[int] = mapped_column(ForeignKey("repayments.id"), unique=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    reason: Mapped[str] = mapped_column(String(500))
    reversed_on: Mapped[dt.date] = mapped_column(Date)
    reversed_by: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[dt.datetime] = created_at_column()
