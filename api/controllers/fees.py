"""Fees and fee subsidies (docs/rules.md section 5, S6): a bank reports the appraisal, insurance or
guarantee fees its borrower paid for a loan, one at a time or in an all-or-nothing batch."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, Response, get, post
from litestar.params import JSONBody, PathParameter
from sqlalchemy.orm import Session

from api.auth import Role, allow
from api.deps import Caller, Db
from api.idempotency import REPLAYED_RESPONSE_HEADER, IdempotencyKeyHeader, run_idempotent
from fund.errors import DomainError, NotFound
from fund.services import fees
from fund.services.registry import BatchRefused
from schemas.common import MAX_ID
from schemas.fees import FeeBatchIn, FeeIn, FeeList, FeeOut

LoanId = Annotated[int, PathParameter(ge=1, le=MAX_ID, description="the loan's id")]
POST_ERRORS = (400, 409, 413)


def _out(view: fees.FeeView) -> FeeOut:
    return FeeOut(**view.as_dict())


def _in(data: FeeIn) -> fees.FeeIn:
    return fees.FeeIn(data.kind, data.amount_fen, data.paid_on, data.issuer, data.invoice_no)


def _in_body(exc: DomainError) -> DomainError:
    """A loan named in the body that does not exist is a refusal of the body (422), not a 404 of the URL."""
    if isinstance(exc, NotFound):
        return DomainError(exc.code, exc.message, field=exc.field)
    return exc


class FeeController(Controller):
    path = "/"
    tags = ["fees"]

    @post("/loans/{loan_id:int}/fees", status_code=201, sync_to_thread=True, summary="Report a fee of a loan (S6)",
          response_headers=[REPLAYED_RESPONSE_HEADER], **allow(Role.BANK, errors=[*POST_ERRORS, 404]))
    def record(self, request: Request, actor: Caller, idempotency_key: IdempotencyKeyHeader, loan_id: LoanId,
               data: JSONBody[FeeIn]) -> Response[FeeOut]:
        """Report a fee the borrower paid; its subsidy is computed at once: `floor(fee * fee_subsidy_ratio_bp /
        10000)`, the loan's fees of one kind never passing `fee_subsidy_cap_fen` (docs/rules.md section 5, S6).
        Refused: an invoice already reported by its issuer (409 `duplicate_invoice`), insurance on a loan with
        guarantee fees or the other way round (409 `fee_kind_excluded`), a date after the business date."""

        def work(session: Session):
            return 201, _out(fees.record_one(session, actor, loan_id, _in(data)))

        return run_idempotent(request, actor, idempotency_key, data, work)

    @post("/fees/batch", status_code=201, sync_to_thread=True, summary="Report up to 1000 fees, all or nothing",
          response_headers=[REPLAYED_RESPONSE_HEADER], **allow(Role.BANK, errors=POST_ERRORS))
    def record_batch(self, request: Request, actor: Caller, idempotency_key: IdempotencyKeyHeader,
                     data: JSONBody[FeeBatchIn]) -> Response[FeeList]:
        """Report 1 to 1000 fees (of one or several loans) in the order sent, in one transaction. When any is
        refused nothing is written and `errors` lists every refused item by `index`."""

        def work(session: Session):
            try:
                recorded = fees.record_fees(session, actor, [(item.loan_id, _in(item)) for item in data.items])
            except BatchRefused as refused:
                raise BatchRefused([(i, _in_body(e)) for i, e in refused.items]) from None
            return 201, FeeList(items=[_out(v) for v in recorded])

        return run_idempotent(request, actor, idempotency_key, data, work)

    @get("/loans/{loan_id:int}/fees", sync_to_thread=True, summary="A loan's fees and their subsidies",
         **allow(Role.BANK, Role.FUND_MANAGER, Role.AUDITOR, errors=[404]))
    def list_of_loan(self, actor: Caller, db: Db, loan_id: LoanId) -> FeeList:
        """The loan's fees in registration order with their subsidies (another bank's loan is 404)."""
        return FeeList(items=[_out(v) for v in fees.list_fees(db, actor, loan_id=loan_id)])


CONTROLLERS = [FeeController]
