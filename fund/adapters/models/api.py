"""Tables of the HTTP API: per-institution API keys (only a hash is kept) and idempotency keys
(the first answer to a POST, replayed when the same key comes again)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fund.adapters.models.base import Base, created_at_column


class ApiKey(Base):
    """An institution's API key. The key itself is shown once; ``key_hash`` is its SHA-256 (the key
    carries 256 random bits, so a plain hash is enough); ``prefix`` names the key in lists."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = created_at_column()
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class IdempotencyKey(Base):
    """One ``Idempotency-Key`` of one institution: the request it was first used with (``request_hash``)
    and, once done, the answer to replay. ``attempt`` names the run that owns an in-progress key, so a
    run taken over after a crash cannot also complete it; ``alive_at`` is that run's heartbeat."""

    __tablename__ = "idempotency_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[str] = mapped_column(String(32))
    status_code: Mapped[int | None] = mapped_column(Integer)
    media_type: Mapped[str | None] = mapped_column(String(64))
    response_body: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    # The owning run's last sign of life (its process refreshes it while the run lasts); an in-progress
    # key whose run has been silent too long belonged to a process that died.
    alive_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    __table_args__ = (
        UniqueConstraint("institution_id", "key", name="uq_idempotency_keys_institution_key"),
        CheckConstraint("state in ('in_progress','done')", name="state"),
    )
