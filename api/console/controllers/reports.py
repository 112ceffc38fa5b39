"""Reports: the monthly statistics of rule R for any month, printable (the print stylesheet) and as
XLSX. The figures come from ``fund.services.monthly`` where the statements area provides it, else
from the portfolio report as of the month's last day."""

from __future__ import annotations

import calendar
import datetime as dt
import re

from litestar import Controller, Request, get
from litestar.response import Response, Template

from api.console.web import READERS, actor, allow, db, page
from fund.errors import DomainError

MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def _month_end(month: str) -> dt.date:
    found = MONTH.match(month)
    if not found:
        raise DomainError("invalid_month", f"month must be YYYY-MM, got {month!r}", field="month")
    year, number = int(found.group(1)), int(found.group(2))
    return dt.date(year, number, calendar.monthrange(year, number)[1])


class ReportsController(Controller):
    path = "/reports"

    @get("/", sync_to_thread=True, **allow(*READERS))
    def reports(self, request: Request) -> Template:
        from fund.adapters.db import unit_of_work
        from fund.services.common import business_date

        who = actor(request)
        with unit_of_work(db(request)) as session:
            today = business_date(session)
            month = request.query_params.get("month") or f"{today.year:04d}-{today.month:02d}"
            end = min(_month_end(month), today)
            monthly = _monthly_statistics()
            if monthly is not None:
                stats = monthly(session, who, month)
                return page(request, "monthly.html", "Monthly statistics", month=month, as_of=end, s=stats,
                            has_xlsx=_monthly() is not None)
            from fund.services.reports import portfolio_report

            report = portfolio_report(session, as_of=end)
        sections = [(key, value) for key, value in report.items()
                    if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values())]
        totals = [(key, report[key]) for key in ("loans", "principal_fen", "covered_fen", "outstanding_fen", "live_covered_fen")
                  if key in report]
        return page(request, "reports.html", "Monthly statistics", month=month, as_of=end, sections=sections, totals=totals,
                    has_xlsx=_monthly() is not None)

    @get("/monthly.xlsx", sync_to_thread=True, **allow(*READERS))
    def xlsx(self, request: Request) -> Response:
        from api.console.controllers.subsidies import statement_response
        from api.console.web import language_of

        monthly = _monthly()
        if monthly is None:
            raise DomainError("not_available", "the monthly statistics workbook is not available yet")
        month = request.query_params.get("month") or ""
        _month_end(month)
        who = actor(request)
        lang = language_of(request)
        return statement_response(request, lambda session: monthly(session, who, month, lang=lang), "xlsx")


def _monthly():
    """The statements area's monthly statistics workbook (``fund.services.statements``), once it exists."""
    from fund.services import statements

    return getattr(statements, "monthly_statement", None)


def _monthly_statistics():
    try:
        from fund.services import monthly
    except ImportError:
        return None
    return getattr(monthly, "monthly_statistics", None)
