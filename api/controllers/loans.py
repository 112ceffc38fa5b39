"""Loans (docs/rules.md section 3): a bank registers, reads, repays and cancels its own loans; the fund manager
and auditors read all of them. Another bank's loan is 404 for every method, as if it did not exist."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from litestar import Controller, Request, Response, get, post
from litestar.params import JSONBody, PathParameter, QueryParameter
from sqlalchemy.orm import Session

from api.auth import READERS, Role, allow
from api.deps import Caller, Db
from api.batch import BatchRefused
from api.idempotency import REPLAYED_RESPONSE_HEADER, IdempotencyKeyHeader, run_idempotent
from api.params import UpdatedSince, updated_since_of
from api.views import coverage_out, loan_out, loan_summaries, repayment_outs
from fund.adapters.db import unit_of_work
from fund.domain.registry import LoanApplication
from fund.domain.registry import RepaymentIn as Payment
from fund.errors import DomainError, NotFound
from fund.services import registry
from fund.services.paging import keyset_page
from fund.services.registry import Actor
from schemas.common import DEFAULT_PAGE_SIZE, MAX_ID, MAX_PAGE_SIZE
from schemas.loans import (
    CoverageOut,
    CoverageValue,
    LoanBatchIn,
    LoanBatchOut,
    LoanIn,
    LoanOut,
    LoanPage,
    LoanStatus,
    RepaymentBatchIn,
    RepaymentBatchOut,
    RepaymentIn,
    RepaymentOut,
)

LoanId = Annotated[int, PathParameter(ge=1, le=MAX_ID, description="the loan's id")]
POST_ERRORS = (400, 409, 413)


def _in_body(exc: DomainError) -> DomainError:
    """A record named in the request body that does not exist is a refusal of the body (422), not a 404
    of the URL."""
    if isinstance(exc, NotFound) and exc.field != "loan_id":
        return DomainError(exc.code, exc.message, field=exc.field)
    return exc


def _register(session: Session, actor: Actor, apps: list[LoanApplication]):
    """Register all-or-nothing through the registry's set-based ``register_loans``."""
    try:
        return registry.register(session, actor, apps)
    except BatchRefused as refused:
        raise BatchRefused([(i, _in_body(e)) for i, e in refused.items]) from None


class LoanController(Controller):
    path = "/loans"
    tags = ["loans"]

    @post(
        "/", status_code=201, sync_to_thread=True, summary="Register one loan",
        response_headers=[REPLAYED_RESPONSE_HEADER], **allow(Role.BANK, errors=POST_ERRORS),
    )
    def register(self, request: Request, actor: Caller, idempotency_key: IdempotencyKeyHeader, data: JSONBody[LoanIn]) -> Response[LoanOut]:
        """Register one loan with its borrower, pledged assets and repayment schedule. The answer carries
        the coverage decision (rule C): `coverage`, `covered_fen` and `flags`; the reasons are at
        `/loans/{id}/coverage`."""

        def work(session: Session):
            try:
                loan = _register(session, actor, [data.to_domain()])[0]
            except BatchRefused as refused:
                raise refused.items[0][1] from None
            return 201, loan_out(session, loan)

        return run_idempotent(request, actor, idempotency_key, data, work)

    @post(
        "/batch", status_code=201, sync_to_thread=True, summary="Register up to 1000 loans, all or nothing",
        response_headers=[REPLAYED_RESPONSE_HEADER], **allow(Role.BANK, errors=POST_ERRORS),
    )
    def register_batch(
        self, request: Request, actor: Caller, idempotency_key: IdempotencyKeyHeader, data: JSONBody[LoanBatchIn]
    ) -> Response[LoanBatchOut]:
        """Register 1 to 1000 loans in one transaction. When any item is refused nothing is written and
        the answer (`batch_refused`) lists every refused item by `index` in `errors`; it is 409 when every
        refusal is a conflict (e.g. duplicate contracts), else 422. Items are registered in the order sent
        (the borrower quota is consumed in that order)."""

        def work(session: Session):
            loans = _register(session, actor, [item.to_domain() for item in data.items])
            return 201, LoanBatchOut(items=loan_summaries(session, loans))

        return run_idempotent(request, actor, idempotency_key, data, work)

    @get("/", sync_to_thread=True, summary="List loans", **allow(Role.BANK, *READERS))
    def list_loans(
        self,
        actor: Caller,
        db: Db,
        status: Annotated[LoanStatus | None, QueryParameter(description="only loans in this status")] = None,
        coverage: Annotated[CoverageValue | None, QueryParameter(description="eligible or ineligible")] = None,
        drawdown_from: Annotated[dt.date | None, QueryParameter(description="drawn down on or after, YYYY-MM-DD")] = None,
        drawdown_to: Annotated[dt.date | None, QueryParameter(description="drawn down on or before, YYYY-MM-DD")] = None,
        bank: Annotated[
            str | None, QueryParameter(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$",
                                  description="bank code (fund manager and auditors; a bank sees only its own loans)")
        ] = None,
        updated_since: UpdatedSince = None,
        after_id: Annotated[int, QueryParameter(ge=0, le=MAX_ID, description="cursor: loans with a larger id")] = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE_SIZE, description=f"page size, 1..{MAX_PAGE_SIZE}")] = DEFAULT_PAGE_SIZE,
    ) -> LoanPage:
        """Loans by id, a bounded page at a time (keyset: pass `next_after_id` as `after_id`). A bank sees
        its own loans; the fund manager and auditors see all, optionally of one `bank`."""
        if drawdown_from and drawdown_to and drawdown_from > drawdown_to:
            raise DomainError("invalid_range", "drawdown_from is after drawdown_to", field="drawdown_from")
        if actor.kind == "bank" and bank is not None and bank != actor.code:
            return LoanPage(items=[], next_after_id=None)
        since = updated_since_of(updated_since)
        with unit_of_work(db) as session:
            page = keyset_page(lambda n: registry.list_loans(
                session, actor, status=status, coverage=coverage, drawdown_from=drawdown_from, drawdown_to=drawdown_to,
                bank_code=bank, updated_since=since, after_id=after_id, limit=n,
            ), limit)
            return LoanPage(items=loan_summaries(session, page.items), next_after_id=page.next_after_id)

    @get("/{loan_id:int}", sync_to_thread=True, summary="Read one loan", **allow(Role.BANK, *READERS, errors=[404]))
    def read(self, actor: Caller, db: Db, loan_id: LoanId) -> LoanOut:
        """A loan with its schedule (amounts due and paid) and its pledged assets."""
        with unit_of_work(db) as session:
            return loan_out(session, registry.loan_for(session, actor, loan_id))

    @get(
        "/{loan_id:int}/coverage", sync_to_thread=True, summary="The loan's coverage decision",
        **allow(Role.BANK, *READERS, errors=[404]),
    )
    def coverage(self, actor: Caller, db: Db, loan_id: LoanId) -> CoverageOut:
        """The coverage decision of rule C with its reasons: eligible or not (and why), the IP part, the
        covered principal C and the notes on it (e.g. the borrower quota). It never shows other banks'
        amounts."""
        with unit_of_work(db) as session:
            return coverage_out(registry.loan_for(session, actor, loan_id))

    @post(
        "/{loan_id:int}/repayments", status_code=201, sync_to_thread=True, summary="Record one repayment",
        response_headers=[REPLAYED_RESPONSE_HEADER], **allow(Role.BANK, errors=[*POST_ERRORS, 404]),
    )
    def repay(
        self, request: Request, actor: Caller, idempotency_key: IdempotencyKeyHeader, loan_id: LoanId, data: JSONBody[RepaymentIn]
    ) -> Response[RepaymentOut]:
        """Record a repayment of the installment due on `due_date` (on `active` and `claimed` loans only;
        never more than remains due on the installment)."""

        def work(session: Session):
            repayment = registry.repay(session, actor, loan_id, Payment(data.due_date, data.paid_on, data.principal_fen, data.interest_fen))
            return 201, repayment_outs(session, [repayment])[0]

        return run_idempotent(request, actor, idempotency_key, data, work)

    @post(
        "/{loan_id:int}/cancel", status_code=200, sync_to_thread=True, summary="Cancel a loan",
        response_headers=[REPLAYED_RESPONSE_HEADER], **allow(Role.BANK, errors=[409, 404]),
    )
    def cancel(self, request: Request, actor: Caller, idempotency_key: IdempotencyKeyHeader, loan_id: LoanId) -> Response[LoanOut]:
        """Cancel an `active` loan with no repayment recorded; its covered principal goes back to the
        borrower's quota and its assets are free to pledge again. No body."""

        def work(session: Session):
            return 200, loan_out(session, registry.cancel(session, actor, loan_id))

        return run_idempotent(request, actor, idempotency_key, None, work)


class RepaymentController(Controller):
    path = "/repayments"
    tags = ["repayments"]

    @post(
        "/batch", status_code=201, sync_to_thread=True, summary="Record up to 1000 repayments, all or nothing",
        response_headers=[REPLAYED_RESPONSE_HEADER], **allow(Role.BANK, errors=POST_ERRORS),
    )
    def repay_batch(
        self, request: Request, actor: Caller, idempotency_key: IdempotencyKeyHeader, data: JSONBody[RepaymentBatchIn]
    ) -> Response[RepaymentBatchOut]:
        """Record 1 to 1000 repayments (of one or several loans) in the order sent, in one transaction.
        When any is refused nothing is written and `errors` lists every refused item by `index` (another
        bank's loan is `loan_not_found`, as if it did not exist)."""

        def work(session: Session):
            payments = [
                (item.loan_id, Payment(item.due_date, item.paid_on, item.principal_fen, item.interest_fen))
                for item in data.items
            ]
            try:
                recorded = registry.repay_many(session, actor, payments)
            except BatchRefused as refused:
                raise BatchRefused([(i, _in_body(e)) for i, e in refused.items]) from None
            return 201, RepaymentBatchOut(items=repayment_outs(session, recorded))

        return run_idempotent(request, actor, idempotency_key, data, work)

