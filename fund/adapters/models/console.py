"""Tables of the web console: server-side sessions (Litestar's session store, shared by every worker),
and the documents banks attach to claims (uploaded through the console).

The session's contents are Litestar's serialised session dictionary (who signed in, the CSRF-bound
state); ``expires_at`` is renewed on each request, so a session idles out 30 minutes after its last
use. Expired rows are deleted as they are met and by :meth:`api.console.store.DatabaseStore.purge_expired`.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from fund.adapters.models.base import Base, created_at_column


class ConsoleSession(Base):
    __tablename__ = "console_sessions"
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), index=True)


class ClaimDocument(Base):
    """A document a bank attached to its claim (docs/rules.md section 4, A1): the bytes as sent, their
    SHA-256, the kind recognised from the content. Never changed once stored."""

    __tablename__ = "claim_documents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    uploaded_at: Mapped[dt.datetime] = created_at_column()
