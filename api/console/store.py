"""A Litestar :class:`~litestar.stores.base.Store` over the database, so that every worker process
sees the same console sessions (Litestar's memory and file stores are per process or per machine).

Calls run in a worker thread (SQLAlchemy here is synchronous); each is one short transaction.
"""

from __future__ import annotations

import datetime as dt

import anyio.to_thread
from litestar.stores.base import Store
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from fund.adapters.db import unit_of_work
from fund.adapters.models.console import ConsoleSession
from fund.domain.dates import aware_utc


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _seconds(value: int | dt.timedelta | None) -> int | None:
    if value is None:
        return None
    return int(value.total_seconds()) if isinstance(value, dt.timedelta) else int(value)


class DatabaseStore(Store):
    """Keys and values in ``console_sessions``; an expired row reads as absent and is removed."""

    __slots__ = ("session_factory",)

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    # -- synchronous halves -------------------------------------------------------------------------
    def _set(self, key: str, value: bytes, expires_in: int | None) -> None:
        expires_at = _now() + dt.timedelta(seconds=expires_in) if expires_in is not None else None
        with unit_of_work(self.session_factory) as session:
            row = session.get(ConsoleSession, key)
            if row is None:
                session.add(ConsoleSession(key=key, value=value, expires_at=expires_at))
            else:
                row.value, row.expires_at = value, expires_at

    def _get(self, key: str, renew_for: int | None) -> bytes | None:
        with unit_of_work(self.session_factory) as session:
            row = session.get(ConsoleSession, key)
            if row is None:
                return None
            expires_at = aware_utc(row.expires_at)
            if expires_at is not None and expires_at <= _now():
                session.delete(row)
                return None
            if renew_for is not None and expires_at is not None:
                row.expires_at = _now() + dt.timedelta(seconds=renew_for)
            return bytes(row.value)

    def _delete(self, key: str) -> None:
        with unit_of_work(self.session_factory) as session:
            session.execute(delete(ConsoleSession).where(ConsoleSession.key == key))

    def _delete_all(self) -> None:
        with unit_of_work(self.session_factory) as session:
            session.execute(delete(ConsoleSession))

    def _expires_at(self, key: str) -> dt.datetime | None:
        with unit_of_work(self.session_factory) as session:
            return aware_utc(session.scalar(select(ConsoleSession.expires_at).where(ConsoleSession.key == key)))

    def delete_sessions_of(self, person_id: int) -> int:
        """Delete every session signed in as ``person_id`` (a disabled person's, at once); returns how many."""
        import json

        with unit_of_work(self.session_factory) as session:
            keys = []
            for key, value in session.execute(select(ConsoleSession.key, ConsoleSession.value)):
                try:
                    user = json.loads(bytes(value)).get("user") or {}
                except (ValueError, AttributeError):
                    continue
                if isinstance(user, dict) and user.get("person_id") == person_id:
                    keys.append(key)
            if keys:
                session.execute(delete(ConsoleSession).where(ConsoleSession.key.in_(keys)))
            return len(keys)

    def purge_expired(self) -> int:
        """Delete every expired session; returns how many."""
        with unit_of_work(self.session_factory) as session:
            result = session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at <= _now()))
            return result.rowcount or 0

    # -- the Store interface ------------------------------------------------------------------------
    async def set(self, key: str, value: str | bytes, expires_in: int | dt.timedelta | None = None) -> None:
        data = value.encode() if isinstance(value, str) else bytes(value)
        await anyio.to_thread.run_sync(self._set, key, data, _seconds(expires_in))

    async def get(self, key: str, renew_for: int | dt.timedelta | None = None) -> bytes | None:
        return await anyio.to_thread.run_sync(self._get, key, _seconds(renew_for))

    async def delete(self, key: str) -> None:
        await anyio.to_thread.run_sync(self._delete, key)

    async def delete_all(self) -> None:
        await anyio.to_thread.run_sync(self._delete_all)

    async def exists(self, key: str) -> bool:
        return await self.get(key) is not None

    async def expires_in(self, key: str) -> int | None:
        expires_at = await anyio.to_thread.run_sync(self._expires_at, key)
        if expires_at is None:
            return None
        return max(0, int((expires_at - _now()).total_seconds()))
