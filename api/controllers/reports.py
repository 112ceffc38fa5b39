"""Who am I, and the reports the fund manager and auditors read as JSON."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get
from litestar.params import QueryParameter

from api.auth import READERS, Role, allow, role_of
from api.deps import Caller, Db
from fund.adapters.db import unit_of_work
from fund.errors import Unavailable
from schemas.reports import Me


class ReportUnavailable(Unavailable):
    """The report cannot be built in this installation (503)."""


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

    @get("/monthly", sync_to_thread=True, summary="Monthly statistics (docs/rules.md section 13)", **allow(*READERS))
    def monthly(
        self, actor: Caller, db: Db,
        month: Annotated[str, QueryParameter(min_length=7, max_length=7, pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
                                             description="the month, YYYY-MM")],
        fmt: Annotated[Literal["json", "xlsx", "csv"], QueryParameter(name="format", description="json (default), xlsx or csv")] = "json",
        lang: Annotated[Literal["zh", "en"], QueryParameter(description="labels of xlsx and csv: Chinese (default) or English")] = "zh",
    ) -> Any:
        """For the month and cumulatively: loans and covered principal by bank, sector, district and IP
        kind; enterprises served; claims filed, approved and rejected; compensation paid (instructed,
        with the confirmed part) and deferred by bank; recoveries; interest and fee subsidies paid and
        deferred; at the month's end: each pool's cash, in-transit, deferred and payable, leverage, and
        live loans past due by bucket. Amounts in fen (the same figures as `ipfund report monthly`)."""
        from fund.services.monthly import monthly_statistics
        from fund.services.statements import monthly_statement

        if fmt == "json":
            with unit_of_work(db) as session:
                return monthly_statistics(session, actor, month).as_dict()
        from api.controllers.subsidies import statement_response

        return statement_response(db, lambda session: monthly_statement(session, actor, month, lang=lang), fmt, lang)

    @get("/compensation", sync_to_thread=True, summary="Compensation by bank over a period (XLSX or CSV)",
         media_type="text/csv; charset=utf-8", **allow(Role.BANK, *READERS))
    def compensation(
        self, actor: Caller, db: Db,
        start: Annotated[dt.date, QueryParameter(name="from", description="first day, YYYY-MM-DD")],
        end: Annotated[dt.date, QueryParameter(name="to", description="last day, YYYY-MM-DD")],
        bank: Annotated[str | None, QueryParameter(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$",
                                                   description="only this bank (a bank may name only itself)")] = None,
        fmt: Annotated[Literal["csv", "xlsx"], QueryParameter(name="format", description="csv (default) or xlsx")] = "csv",
        lang: Annotated[Literal["zh", "en"], QueryParameter(description="headers in Chinese (default) or English")] = "zh",
    ) -> Response:
        """Every claim approved in the period with the fund's share, paid, deferred and recovered;
        totals per bank, per enterprise and in all. A bank gets only its own claims."""
        from api.controllers.subsidies import statement_response
        from fund.services.statements import compensation_statement

        return statement_response(db, lambda session: compensation_statement(
            session, actor, start=start, end=end, bank_code=bank, lang=lang), fmt, lang)
