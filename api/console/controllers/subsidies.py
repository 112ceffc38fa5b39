"""Interest subsidies: preview a month (lines, totals, paid and deferred), propose the run (an
officer), sign it off (another person), past runs and their statements (XLSX, CSV: exact fen)."""

from __future__ import annotations

import io
import re

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Response, Template

from api.console.controllers.common import Form, int_or
from api.console.web import say, READERS, actor, allow, db, flash, gettext, language_of, page, page_window, redirect
from fund.errors import DomainError

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
PREVIEW_LINES = 50  # interest lines per page of a preview (paged and sorted on the server; totals over the month)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _month(value: str | None) -> str | None:
    if not value:
        return None
    if not MONTH.match(value.strip()):
        raise DomainError("invalid_month", f"month must be YYYY-MM, got {value!r}", field="month")
    return value.strip()


def statement_response(request: Request, build, fmt: str) -> Response:
    """A statement built in one transaction (``build(session) -> fund.services.statements.Statement``)
    as a download in the reader's language."""
    from fund.adapters.db import unit_of_work

    if fmt not in ("xlsx", "csv"):
        raise DomainError("invalid_format", f"format must be csv or xlsx, got {fmt!r}", field="format")
    lang = language_of(request)
    with unit_of_work(db(request)) as session:
        statement = build(session)
        if fmt == "xlsx":
            out = io.BytesIO()
            statement.write("xlsx", out, lang=lang)
            content, media_type = out.getvalue(), XLSX
        else:
            text = io.StringIO()
            statement.write("csv", text, lang=lang)
            content, media_type = text.getvalue().encode("utf-8"), "text/csv; charset=utf-8"
        name = re.sub(r"[^A-Za-z0-9._-]", "_", str(statement.filename)).rsplit(".", 1)[0] or "statement"
    return Response(content=content, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'})


class SubsidiesController(Controller):
    path = "/subsidies"

    @get("/", sync_to_thread=True, **allow(*READERS))
    def subsidies(self, request: Request) -> Template:
        from fund.adapters.db import unit_of_work
        from fund.services import proposals, subsidies
        from fund.services.common import business_date

        who = actor(request)
        q = request.query_params
        month = _month(q.get("month"))
        sort = q.get("sort") or "paid_on"
        sort = sort if sort.removeprefix("-") in subsidies.PREVIEW_SORTS else "paid_on"
        preview, lines, window = None, (), None
        with unit_of_work(db(request)) as session:
            today = business_date(session)
            runs = list(reversed(subsidies.list_runs(session)))
            if month:
                preview = subsidies.preview_month(session, month, today, actor=who)
        if preview is not None:
            window = page_window(preview.line_count, int_or(q.get("page"), 1), PREVIEW_LINES)
            lines = preview.line_page(window["offset"], PREVIEW_LINES, sort)
        open_runs = proposals.list_proposals(db(request), who, kind="subsidy_run", limit=500)
        suggested = month or _previous_month(today)
        return page(request, "subsidies.html", "Subsidies", runs=runs, preview=preview, month=month or "",
                    suggested=suggested, lines=lines, window=window, params={"month": month or "", "sort": sort},
                    base_path="/subsidies", proposals=list(reversed(open_runs)), today=today)

    @post("/propose", sync_to_thread=True, status_code=303, **allow("officer"))
    def propose(self, request: Request, data: Form) -> Redirect:
        from fund.services import proposals

        month = _month(str(data.get("month") or "")) or ""
        proposals.propose(db(request), actor(request), "subsidy_run", {"month": month})
        say(request, "The month's run is proposed. Another person signs it off.")
        return redirect("/subsidies", month=month)

    @get("/runs/{run_id:int}/statement", sync_to_thread=True, **allow("officer", "approver", "reader", "staff"))
    def statement(self, request: Request, run_id: FromPath[int]) -> Response:
        from fund.services.statements import subsidy_statement

        who = actor(request)
        fmt = request.query_params.get("format", "xlsx")
        return statement_response(request, lambda session: subsidy_statement(session, who, run_id=run_id), fmt)


def _previous_month(day) -> str:
    year, month = (day.year, day.month - 1) if day.month > 1 else (day.year - 1, 12)
    return f"{year:04d}-{month:02d}"
