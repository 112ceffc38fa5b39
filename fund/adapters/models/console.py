"""Tables of the web console: server-side sessions (Litestar's session store, shared by every worker).

The session's contents are Litestar's serialised session dictionary (who signed in, the CSRF-bound
state); ``expires_at`` is renewed on each request, so a session idles out 30 minutes after its last
use. Expired rows are deleted as they are met and by :meth:`api.console.store.DatabaseStore.purge_expired`.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from fund.adapters.models.base import Base


class ConsoleSession(Base):
    __tablename__ = "console_sessions"
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), index=True)
