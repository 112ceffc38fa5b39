"""The audit trail (docs/rules.md section 11, G2) for auditors and the fund manager: filtered by
person (login), institution (code), action, target and clock time; keyset paging."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from litestar import Controller, get
from litestar.params import QueryParameter

from api.auth import Role, allow
from api.deps import Caller, Db
from fund.errors import DomainError
from fund.services import audit
from schemas.common import MAX_ID, MAX_PAGE_SIZE
from schemas.people import AuditOut, AuditPage

AfterId = Annotated[int, QueryParameter(ge=0, le=MAX_ID, description="cursor: records with a larger id")]
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_PAGE_SIZE, description=f"page size, 1..{MAX_PAGE_SIZE}")]
Text = Annotated[str | None, QueryParameter(max_length=80)]


def moment(value: str | None, name: str) -> dt.datetime | dt.date | None:
    """A ``from`` / ``to`` bound: an ISO 8601 date-time or date."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value) if len(value) == 10 else dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise DomainError("invalid_date", f"{name} must be an ISO 8601 date or date-time, got {value!r}", field=name) from None


class AuditController(Controller):
    path = "/audit"
    tags = ["audit"]

    @get("/", sync_to_thread=True, summary="Read the audit trail", **allow(Role.FUND_MANAGER, Role.AUDITOR))
    def list_audit(self, actor: Caller, db: Db, person: Text = None, institution: Text = None, action: Text = None,
                   target: Text = None, from_: Annotated[str | None, QueryParameter(name="from", max_length=40)] = None,
                   to: Annotated[str | None, QueryParameter(max_length=40)] = None, after_id: AfterId = 0, limit: Limit = 100) -> AuditPage:
        """Records in id order; ``from`` and ``to`` are clock times (ISO 8601, UTC unless an offset is given) or
        dates (the whole day, UTC), both included."""
        page = audit.read_audit(db, actor, person=person, institution=institution, action=action, target=target,
                                since=moment(from_, "from"), until=moment(to, "to"), after_id=after_id, limit=limit)
        return AuditPage(items=[AuditOut.model_validate(r.as_dict()) for r in page.records], next_after_id=page.next_after_id)
