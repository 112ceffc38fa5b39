"""Repayment reversals (docs/rules.md section 3) for banks: a repayment recorded in error is reversed
with a reason, by a record of its own; refused once a claim has been filed on the loan or a subsidy run
exists for the payment's month or a later one. Another bank's loan is 404."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, Response, post
from litestar.params import JSONBody, PathParameter
from sqlalchemy.orm import Session

from api.auth import Role, allow
from api.controllers.proposals import run_decision
from api.deps import Caller, Db
from api.idempotency import REPLAYED_RESPONSE_HEADER, IdempotencyKeyHeader
from fund.services import audit
from fund.services.common import business_date
from fund.services.repayment_reversals import reverse_repayment
from schemas.common import MAX_ID
from schemas.people import RepaymentReversalIn, RepaymentReversalOut

LoanId = Annotated[int, PathParameter(ge=1, le=MAX_ID, description="the loan's id")]
RepaymentId = Annotated[int, PathParameter(ge=1, le=MAX_ID, description="the repayment's id")]


class RepaymentReversalController(Controller):
    path = "/loans/{loan_id:int}/repayments"
    tags = ["repayments"]

    @post("/{repayment_id:int}/reverse", status_code=201, sync_to_thread=True, summary="Reverse a repayment recorded in error",
          response_headers=[REPLAYED_RESPONSE_HEADER], **allow(Role.BANK, errors=(400, 404, 409, 413)))
    def reverse(self, request: Request, actor: Caller, db: Db, idempotency_key: IdempotencyKeyHeader, loan_id: LoanId,
                repayment_id: RepaymentId, data: JSONBody[RepaymentReversalIn]) -> Response[RepaymentReversalOut]:
        """Reverse one repayment of the bank's own loan, with a reason: the installment's paid amounts go back
        down and a `repaid` loan is `active` again (409 `loan_has_claim`, `subsidy_run_exists`, `already_reversed`)."""
        target = f"repayment:{repayment_id}"

        def work(session: Session):
            view = reverse_repayment(session, actor, loan_id, repayment_id, data.reason, business_date(session))
            audit.record(session, actor, "repayment.reverse", target, detail={"loan": loan_id, "reason": view.reason})
            return 201, RepaymentReversalOut.model_validate(view.as_dict())

        return run_decision(request, actor, idempotency_key, data, work,
                            lambda exc: audit.record_refusal(db, actor, "repayment.reverse", target, exc))
