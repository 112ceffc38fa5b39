"""Who am I, and the reports the fund manager and auditors read as JSON."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get

from api.auth import READERS, Role, allow, role_of
from api.deps import Caller, Db
from fund.adapters.db import unit_of_work
from fund.errors import DomainError
from schemas.reports import Me


class ReportUnavailable(DomainError):
    status_code = 503


class MeController(Controller):
    path = "/me"
    tags = ["keys"]

    @get("/", sync_to_thread=False, summary="The institution of the key", **allow(*Role))
    def me(self, request: Request, actor: Caller) -> Me:
        """The institution the API key belongs to, its role and the key's prefix: a first call to check an
        integration."""
        return Me(institution_code=actor.code, institution_kind=actor.kind, role=role_of(actor.kind),
                  key_prefix=request.state.key_prefix)


class ReportController(Controller):
    path = "/reports"
    tags = ["reports"]

    @get("/portfolio", sync_to_thread=True, summary="The portfolio report", **allow(*READERS, errors=[503]))
    def portfolio(self, db: Db) -> dict[str, Any]:
        """Loans by coverage, bank, sector, policy and status, as of the business date (the same figures as
        `ipfund report portfolio --json`)."""
        try:
            from fund.services.reports import portfolio_report
        except ImportError:
            raise ReportUnavailable("report_unavailable", "the portfolio report is not available in this version") from None
        with unit_of_work(db) as session:
            return portfolio_report(session)
