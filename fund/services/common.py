"""Shared service helpers: the business date, institutions, row locks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from fund.adapters.db import unit_of_work
from fund.adapters.dialect import for_update  # noqa: F401  (services have imported it from here)
from fund.adapters.models.registry import Institution, SystemSetting
from fund.domain.dates import check_input_date, today_in_china
from fund.domain.vocabulary import INSTITUTION_KIND_VALUES
from fund.errors import DomainError, NotFound
from fund.settings import get_settings

INSTITUTION_KINDS = INSTITUTION_KIND_VALUES
BUSINESS_DATE_KEY = "business_date"

#: What a use case takes: the session factory (a use case is one transaction of its own).
SessionFactory = sessionmaker[Session]


@contextmanager
def within(db: SessionFactory | Session) -> Iterator[Session]:
    """The transaction a use case runs in: a new unit of work of the session factory ``db``, or,
    when ``db`` is a session, the caller's own transaction (joined, not committed here): an
    entrypoint that commits something with the work (the API's idempotency record) or a service
    composing the use case (a proposal's sign-off) passes its session.
    """
    if isinstance(db, Session):
        yield db
        return
    with unit_of_work(db) as session:
        yield session


def get_setting(session: Session, key: str) -> str | None:
    row = session.get(SystemSetting, key)
    return row.value if row else None


def set_setting(session: Session, key: str, value: str) -> None:
    row = session.get(SystemSetting, key)
    if row is None:
        session.add(SystemSetting(key=key, value=value))
    else:
        row.value = value


def business_date(session: Session) -> dt.date:
    """The configured business date (``IPFUND_BUSINESS_DATE``), else the one stored in the database
    (set by the demo or ``ipfund business-date set``), else today in China Standard Time."""
    configured = get_settings().business_date
    if configured is not None:
        return check_input_date(configured, "business_date")
    stored = get_setting(session, BUSINESS_DATE_KEY)
    if stored:
        return check_input_date(dt.date.fromisoformat(stored), "business_date")
    return today_in_china()


def institution_by_code(session: Session, code: str, *, kinds: tuple[str, ...] | None = None, field: str = "institution") -> Institution:
    inst = session.scalar(select(Institution).where(Institution.code == code))
    if inst is None:
        raise NotFound("unknown_institution", f"no institution with code {code!r}", field=field)
    if kinds is not None and inst.kind not in kinds:
        raise DomainError(
            "wrong_institution_kind", f"institution {code} is a {inst.kind}, expected {' or '.join(kinds)}", field=field
        )
    return inst


def institution_codes(session: Session, ids: Iterable[int | None] | None = None) -> dict[int, str]:
    """Institution codes by id: of the ``ids`` given (None among them is skipped), or of every
    institution when ``ids`` is None."""
    statement = select(Institution.id, Institution.code)
    if ids is not None:
        wanted = {i for i in ids if i is not None}
        if not wanted:
            return {}
        statement = statement.where(Institution.id.in_(wanted))
    return dict(session.execute(statement).all())


def list_institutions(session: Session) -> list[Institution]:
    """Every institution, by code."""
    return list(session.scalars(select(Institution).order_by(Institution.code)))


def fund_manager(session: Session) -> Institution:
    """The fund manager institution (the first one registered), for what the fund manager runs."""
    inst = session.scalar(select(Institution).where(Institution.kind == "fund_manager").order_by(Institution.id))
    if inst is None:
        raise DomainError("no_fund_manager", "no fund manager institution: add one with `ipfund institutions add`")
    return inst


def add_institution(session: Session, code: str, name: str, kind: str) -> Institution:
    if kind not in INSTITUTION_KINDS:
        raise DomainError("invalid_institution_kind", f"kind must be one of {', '.join(INSTITUTION_KINDS)}", field="kind")
    if not code or len(code) > 32 or not code.replace("-", "").replace("_", "").isalnum():
        raise DomainError("invalid_institution_code", "code must be 1..32 letters, digits, '-' or '_'", field="code")
    existing = session.scalar(select(Institution).where(Institution.code == code))
    if existing is not None:
        if (existing.name, existing.kind) != (name, kind):
            raise DomainError("institution_exists", f"institution {code} exists with other data", field="code")
        return existing
    inst = Institution(code=code, name=name, kind=kind)
    session.add(inst)
    session.flush()
    return inst
