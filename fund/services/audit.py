"""The audit trail (docs/rules.md section 11, G2): one append-only record per change of state, per
refusal of one, per sign-in (and failed sign-in), per key created or revoked.

``record(session, actor, action, target, outcome)`` writes a record in the caller's transaction, so it
commits or rolls back with the change it describes. A refusal rolls its transaction back, so it is
recorded by ``record_refusal(db, ...)`` in a transaction of its own; ``audited(db, actor, action,
target, work)`` does both around one unit of work. The request id of the HTTP request (or CLI call)
being served is taken from :func:`bind_request_id`, so the record, the log line and the problem
details all name it.

>>> token = bind_request_id("req-1"); current_request_id()
'req-1'
>>> unbind_request_id(token); current_request_id() is None
True
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased, sessionmaker

from fund.adapters.db import unit_of_work
from fund.adapters.models.people import AuditRecord, Person
from fund.adapters.models.registry import Institution
from fund.domain.dates import aware_utc
from fund.errors import DomainError, Forbidden
from fund.services.paging import after, keyset_page

T = TypeVar("T")
SessionFactory = sessionmaker[Session]
MAX_PAGE = 500
AUDIT_READER_KINDS = ("fund_manager", "auditor")

_request_id: ContextVar[str | None] = ContextVar("ipfund_request_id", default=None)
# How many records this context has written (an entrypoint that audits generically checks whether the
# work audited itself), and whether the caller records refusals itself.
_recorded: ContextVar[int] = ContextVar("ipfund_audit_recorded", default=0)
_caller_records_refusals: ContextVar[bool] = ContextVar("ipfund_caller_records_refusals", default=False)


def recorded_count() -> int:
    return _recorded.get()


def caller_records_refusals() -> bool:
    return _caller_records_refusals.get()


@contextmanager
def refusals_recorded_by_caller() -> Iterator[None]:
    """Within this block an entrypoint's generic audit leaves refusals to the caller (which names them
    better, e.g. a proposal's target)."""
    token = _caller_records_refusals.set(True)
    try:
        yield
    finally:
        _caller_records_refusals.reset(token)


def new_request_id() -> str:
    return uuid.uuid4().hex


def bind_request_id(value: str | None) -> Token:
    """Name the request being served (the API middleware and the CLI do this)."""
    return _request_id.set(value)


def unbind_request_id(token: Token) -> None:
    _request_id.reset(token)


def current_request_id() -> str | None:
    return _request_id.get()


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _detail_text(detail: Any) -> str | None:
    if detail is None:
        return None
    if isinstance(detail, str):
        return detail[:4000]
    return json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str)[:4000]


def record(
    session: Session,
    actor: Any,
    action: str,
    target: str | None,
    outcome: str = "done",
    *,
    error_code: str | None = None,
    business_date: dt.date | None = None,
    request_id: str | None = None,
    detail: Any = None,
    login: str | None = None,
    at: dt.datetime | None = None,
) -> AuditRecord:
    """Append one audit record in ``session``'s transaction. ``actor`` is a
    ``fund.services.registry.Actor`` (or None for an unknown caller, e.g. a failed sign-in under a login
    that does not exist: pass ``login``)."""
    if outcome not in ("done", "refused"):
        raise ValueError(f"outcome must be 'done' or 'refused', got {outcome!r}")
    if business_date is None:
        from fund.services.common import business_date as current_business_date

        business_date = current_business_date(session)
    row = AuditRecord(
        at=at or utc_now(),
        business_date=business_date,
        institution_id=getattr(actor, "institution_id", None),
        person_id=getattr(actor, "person_id", None),
        key_prefix=getattr(actor, "key_prefix", None),
        login=login or getattr(actor, "login", None),
        action=action,
        target=target,
        outcome=outcome,
        error_code=error_code,
        request_id=request_id or current_request_id(),
        detail=_detail_text(detail),
    )
    session.add(row)
    session.flush()
    _recorded.set(_recorded.get() + 1)
    return row


def record_refusal(db: SessionFactory, actor: Any, action: str, target: str | None, error: DomainError, *,
                   detail: Any = None, login: str | None = None, request_id: str | None = None) -> None:
    """A refusal, in a transaction of its own (the refused change has been rolled back)."""
    with unit_of_work(db) as session:
        record(session, actor, action, target, "refused", error_code=error.code, detail=detail or error.message,
               login=login, request_id=request_id)


def audited(db: SessionFactory, actor: Any, action: str, target: str | Callable[[Any], str | None] | None,
            work: Callable[[Session], T], *, detail: Callable[[T], Any] | Any = None) -> T:
    """Run ``work(session)`` in one unit of work and record it (``done``) in the same transaction; a
    refusal is recorded in a transaction of its own and raised again. ``target`` (and ``detail``) may be
    functions of the result, for a target that exists only once the work is done."""
    try:
        with unit_of_work(db) as session:
            result = work(session)
            name = target(result) if callable(target) else target
            record(session, actor, action, name, "done", detail=detail(result) if callable(detail) else detail)
            return result
    except DomainError as exc:
        record_refusal(db, actor, action, None if callable(target) else target, exc)
        raise


# ---------------------------------------------------------------------------------------------
# reading the trail
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditView:
    """One record as auditors read it, with the person's name."""

    id: int
    at: dt.datetime
    business_date: dt.date | None
    institution: str | None
    login: str | None
    display_name: str | None
    key_prefix: str | None
    action: str
    target: str | None
    outcome: str
    error_code: str | None
    request_id: str | None
    detail: str | None

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class AuditPage:
    records: tuple[AuditView, ...]
    next_after_id: int | None


def _aware(moment: dt.datetime | dt.date | None, *, end: bool = False) -> dt.datetime | None:
    """A filter bound as a UTC time; a date means its whole day (UTC)."""
    if moment is None:
        return None
    if not isinstance(moment, dt.datetime):
        moment = dt.datetime.combine(moment, dt.time.max if end else dt.time.min)
    return aware_utc(moment)


def require_audit_reader(actor: Any) -> None:
    if getattr(actor, "kind", None) not in AUDIT_READER_KINDS:
        raise Forbidden("forbidden", "only the fund manager and auditors read the audit trail")


def list_audit(
    session: Session,
    actor: Any,
    *,
    person: str | None = None,
    institution: str | None = None,
    action: str | None = None,
    target: str | None = None,
    since: dt.datetime | dt.date | None = None,
    until: dt.datetime | dt.date | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> AuditPage:
    """Records in id order (keyset: ``after_id``), filtered by person (login), institution (code),
    action, target, and clock time (``since``..``until``, both included; a date is its whole day)."""
    require_audit_reader(actor)
    if not 1 <= limit <= MAX_PAGE:
        raise DomainError("invalid_limit", f"limit must be 1..{MAX_PAGE}", field="limit")
    who = aliased(Person)
    stmt = (
        select(AuditRecord, Institution.code, who.display_name)
        .outerjoin(Institution, Institution.id == AuditRecord.institution_id)
        .outerjoin(who, who.id == AuditRecord.person_id)
    )
    if person is not None:
        stmt = stmt.where(AuditRecord.login == person)
    if institution is not None:
        stmt = stmt.where(Institution.code == institution)
    if action is not None:
        stmt = stmt.where(AuditRecord.action == action)
    if target is not None:
        stmt = stmt.where(AuditRecord.target == target)
    if (start := _aware(since)) is not None:
        stmt = stmt.where(AuditRecord.at >= start)
    if (stop := _aware(until, end=True)) is not None:
        stmt = stmt.where(AuditRecord.at <= stop)
    page = keyset_page(lambda n: session.execute(after(stmt, AuditRecord.id, after_id, n)).all(), limit,
                       key=lambda row: row[0].id)
    views = tuple(
        AuditView(r.id, r.at, r.business_date, code, r.login, name, r.key_prefix, r.action, r.target, r.outcome,
                  r.error_code, r.request_id, r.detail)
        for r, code, name in page.items
    )
    return AuditPage(views, page.next_after_id)


def read_audit(db: SessionFactory, actor: Any, **filters: Any) -> AuditPage:
    """The use case behind ``GET /api/v1/audit`` and ``ipfund audit list``."""
    with unit_of_work(db) as session:
        return list_audit(session, actor, **filters)
