"""The ledger (journal with filters, balances, the ledger check) and the audit trail (rule G2)."""

from __future__ import annotations

import datetime as dt

from litestar import Controller, Request, get
from litestar.response import Template

from api.console.controllers.common import int_or
from api.console.web import actor, allow, db, page
from fund.errors import DomainError

PER_PAGE = 100


def _date(value: str | None, field: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise DomainError("invalid_date", f"{field} must be a date YYYY-MM-DD", field=field) from None


class LedgerController(Controller):
    path = "/ledger"

    @get("/", sync_to_thread=True, **allow("officer", "approver", "reader"))
    def ledger(self, request: Request) -> Template:
        from fund.adapters.db import unit_of_work
        from fund.services import ledger

        q = request.query_params
        cause = q.get("cause") or None
        if cause is not None and cause not in ledger.CAUSES:
            raise DomainError("invalid_cause", "unknown cause", field="cause")
        after = int_or(q.get("after"), 0)
        entry = int_or(q.get("entry"), 0)
        with unit_of_work(db(request)) as session:
            if entry:
                lines = [line for line in ledger.journal(session, after_id=entry - 1, limit=1) if line.id == entry]
            else:
                lines = ledger.journal(session, after_id=after, limit=PER_PAGE + 1, cause=cause)
            balances = ledger.balances(session)
            problems = ledger.check_ledger(session) if q.get("check") == "1" else None
        more = len(lines) > PER_PAGE
        lines = lines[:PER_PAGE]
        return page(request, "ledger.html", "Ledger", lines=lines, balances=sorted(balances.items()), problems=problems,
                    cause=cause or "", causes=ledger.CAUSES, next_after=lines[-1].id if more else None, entry=entry)


class AuditController(Controller):
    path = "/audit"

    @get("/", sync_to_thread=True, **allow("officer", "approver", "admin", "reader"))
    def audit(self, request: Request) -> Template:
        from fund.services.audit import read_audit

        q = request.query_params
        filters = {k: (q.get(k) or "").strip() for k in ("person", "action", "target", "since", "until")}
        result = read_audit(db(request), actor(request), person=filters["person"] or None, action=filters["action"] or None,
                            target=filters["target"] or None, since=_date(filters["since"], "since"),
                            until=_date(filters["until"], "until"), after_id=int_or(q.get("after"), 0), limit=PER_PAGE)
        return page(request, "audit.html", "Audit trail", records=result.records, next_after=result.next_after_id,
                    filters=filters)
