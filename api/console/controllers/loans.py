"""Loans: the search (bank, borrower credit code or name, contract, status, coverage; sorted and paged
on the server) and a loan's page (borrower, assets and valuation, schedule and repayments, coverage
and its reasons, events)."""

from __future__ import annotations

from litestar import Controller, Request, get
from litestar.response import Template
from litestar.params import FromPath

from api.console.controllers.common import int_or
from api.console.web import READERS, actor, allow, db, page, page_window

PER_PAGE = 50


def loan_view(request: Request, loan_id: int) -> dict:
    from fund.adapters.db import unit_of_work
    from fund.services import claims
    from fund.services.registry import loan_for
    from fund.services.reports import loan_detail

    who = actor(request)
    with unit_of_work(db(request)) as session:
        loan_for(session, who, loan_id)  # another bank's loan is "not found"
        detail = loan_detail(session, loan_id)
        detail["claims"] = [claims.claim_document(session, c, detail=False) for c in claims.list_claims(session, who, loan_id=loan_id)]
        return detail


def search(request: Request, template: str, title: str, base_path: str, *, bank_fixed: bool = False) -> Template:
    from fund.domain.status import STATUSES
    from fund.services.overview import SORTS, search_loans

    q = request.query_params
    filters = {name: (q.get(name) or "").strip() for name in ("bank", "borrower", "contract", "status", "coverage")}
    if bank_fixed:
        filters["bank"] = ""
    sort = q.get("sort") or "-id"
    sort = sort if sort in SORTS else "-id"
    page_number = int_or(q.get("page"), 1)
    lines, total = search_loans(db(request), actor(request), bank=filters["bank"] or None, borrower=filters["borrower"] or None,
                                contract=filters["contract"] or None, status=filters["status"] or None,
                                coverage=filters["coverage"] or None, sort=sort, page=page_number, per_page=PER_PAGE)
    window = page_window(total, page_number, PER_PAGE)
    params = {**{k: v for k, v in filters.items() if v}, "sort": sort}
    return page(request, template, title, lines=lines, window=window, filters=filters, params=params, base_path=base_path,
                statuses=STATUSES, bank_fixed=bank_fixed)


class LoansController(Controller):
    path = "/loans"

    @get("/", sync_to_thread=True, **allow(*READERS))
    def loans(self, request: Request) -> Template:
        return search(request, "loans.html", "Loans", "/loans")

    @get("/{loan_id:int}", sync_to_thread=True, **allow(*READERS))
    def loan(self, request: Request, loan_id: FromPath[int]) -> Template:
        return page(request, "loan.html", "Loan", loan=loan_view(request, loan_id), claims_base="/claims")
