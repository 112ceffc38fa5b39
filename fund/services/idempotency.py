"""Idempotency keys: the same key with the same request replays the first answer.

The protocol, for one request carrying key ``K`` of institution ``I``:

1. ``claim_key`` runs in its own short transaction, committed before any work starts. It inserts the
   row (I, K) as ``in_progress``; the unique constraint decides which of two racing requests owns the
   key. A request that finds the row gets the stored answer (done, same request), or ``Conflict``
   ``idempotency_key_in_use`` (still running), or ``DomainError`` ``idempotency_key_reused`` (another
   request body or endpoint).
2. The work runs in its own transaction, and ``complete`` writes the answer into the row *inside that
   same transaction*: the effects and the stored answer commit together or not at all.
3. When the work fails with a refusal, nothing of it was written and the refusal is stored as the
   answer (``complete`` in a new transaction). When it fails unexpectedly, ``release`` deletes the
   row so the request can be retried.

While the work runs, its process refreshes the row's ``alive_at`` (``keep_alive``, every few
seconds); an in-progress row silent for ``stale_after`` belonged to a process that died, and a new
request takes it over by giving it a new ``attempt`` token. ``complete`` only succeeds for the attempt that owns the
row, so a slow first run cannot also complete it. Rows are kept ``ttl`` (at least 24 hours).

>>> request_fingerprint("POST", "/api/v1/loans", b'{"a":1}') == request_fingerprint("POST", "/api/v1/loans", b'{"a":1}')
True
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from fund.adapters.dialect import conflict_insert, for_update
from fund.adapters.models.api import IdempotencyKey
from fund.domain.dates import aware_utc
from fund.errors import Conflict, DomainError

MIN_TTL = dt.timedelta(hours=24)
DEFAULT_STALE_AFTER = dt.timedelta(minutes=5)
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class StoredAnswer:
    """An answer as it was sent: status, media type and body text."""

    status_code: int
    media_type: str
    body: str


@dataclass(frozen=True)
class Claim:
    """The right to run the request for one key: the row and the attempt that owns it."""

    record_id: int
    attempt: str


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    """SHA-256 over the method, the path and the (canonical) request body."""
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _check(key: str, now: dt.datetime, ttl: dt.timedelta) -> None:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise DomainError(
            "invalid_idempotency_key", f"Idempotency-Key must be 1..{MAX_KEY_LENGTH} printable ASCII characters",
            field="Idempotency-Key",
        )
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if ttl < MIN_TTL:
        raise ValueError(f"ttl must be at least {MIN_TTL}, got {ttl}")


def claim_key(
    session: Session,
    institution_id: int,
    key: str,
    fingerprint: str,
    *,
    now: dt.datetime,
    ttl: dt.timedelta = dt.timedelta(hours=48),
    stale_after: dt.timedelta = DEFAULT_STALE_AFTER,
) -> Claim | StoredAnswer:
    """Claim ``key`` for a request (see the module's protocol). Commit the session before running the work."""
    _check(key, now, ttl)
    attempt = secrets.token_hex(16)
    fresh = dict(request_hash=fingerprint, state="in_progress", attempt=attempt, status_code=None, media_type=None,
                 response_body=None, started_at=now, alive_at=now, expires_at=now + ttl)
    row = None
    while row is None:  # again only if the row we collided with was deleted (released or purged) meanwhile
        inserted = session.execute(
            conflict_insert(session, IdempotencyKey)
            .values(institution_id=institution_id, key=key, **fresh)
            .on_conflict_do_nothing(index_elements=["institution_id", "key"])
            .returning(IdempotencyKey.id)
        ).scalar()
        if inserted is not None:
            return Claim(inserted, attempt)
        row = session.scalar(
            for_update(session, select(IdempotencyKey).where(IdempotencyKey.institution_id == institution_id, IdempotencyKey.key == key))
            .execution_options(populate_existing=True)
        )
    if aware_utc(row.expires_at) <= now:
        _take(session, row, fresh)
        return Claim(row.id, attempt)
    if row.request_hash != fingerprint:
        raise DomainError(
            "idempotency_key_reused",
            "this Idempotency-Key was used with another request (endpoint or body): use a new key for a new request",
            field="Idempotency-Key",
        )
    if row.state == "in_progress":
        if aware_utc(row.alive_at or row.started_at) <= now - stale_after:
            _take(session, row, dict(attempt=attempt, started_at=now, alive_at=now))
            return Claim(row.id, attempt)
        raise Conflict(
            "idempotency_key_in_use", "the first request with this Idempotency-Key is still running: retry later",
            field="Idempotency-Key",
        )
    assert row.status_code is not None and row.media_type is not None and row.response_body is not None
    return StoredAnswer(row.status_code, row.media_type, row.response_body)


def _take(session: Session, row: IdempotencyKey, values: dict) -> None:
    for name, value in values.items():
        setattr(row, name, value)
    session.flush()


def complete(session: Session, claim: Claim, answer: StoredAnswer) -> None:
    """Store the answer, in the transaction of the work it answers; Conflict if the claim was lost."""
    done = session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.id == claim.record_id, IdempotencyKey.attempt == claim.attempt, IdempotencyKey.state == "in_progress")
        .values(state="done", status_code=answer.status_code, media_type=answer.media_type, response_body=answer.body)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:
        raise Conflict(
            "idempotency_key_in_use", "another run took over this Idempotency-Key: retry to get its answer",
            field="Idempotency-Key",
        )


def keep_alive(session: Session, claims: Iterable[Claim], *, now: dt.datetime) -> int:
    """The heartbeat of runs still working: refresh ``alive_at`` of these in-progress claims (those
    taken over or completed meanwhile are left alone); returns how many rows it refreshed."""
    refreshed = 0
    for claim in claims:
        refreshed += session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.id == claim.record_id, IdempotencyKey.attempt == claim.attempt,
                   IdempotencyKey.state == "in_progress")
            .values(alive_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
    return refreshed


def release(session: Session, claim: Claim) -> None:
    """Forget an in-progress claim whose work failed unexpectedly, so the request may be retried."""
    session.execute(
        delete(IdempotencyKey)
        .where(IdempotencyKey.id == claim.record_id, IdempotencyKey.attempt == claim.attempt, IdempotencyKey.state == "in_progress")
        .execution_options(synchronize_session=False)
    )


def purge_expired(session: Session, *, now: dt.datetime, limit: int = 10_000) -> int:
    """Delete up to ``limit`` expired keys; returns how many."""
    ids = list(session.scalars(select(IdempotencyKey.id).where(IdempotencyKey.expires_at <= now).limit(limit)))
    if ids:
        session.execute(delete(IdempotencyKey).where(IdempotencyKey.id.in_(ids)).execution_options(synchronize_session=False))
    return len(ids)
