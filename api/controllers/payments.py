"""Payment instructions for the custodian bank (docs/rules.md section 6): list, a pool's batch as XLSX or
CSV, the custodian's confirmations (all or nothing), a returned payment instructed again."""

from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, Request, Response, get, post
from litestar.params import JSONBody, PathParameter, QueryParameter
from sqlalchemy.orm import Session

from api.auth import READERS, Role, allow
from api.controllers.subsidies import CSV, XLSX, statement_response
from api.deps import Caller, Db
from api.idempotency import REPLAYED_RESPONSE_HEADER, IdempotencyKeyHeader, run_idempotent
from api.openapi import documented
from fund.adapters.db import unit_of_work
from fund.services import payments as service
from fund.services.common import business_date
from schemas.common import MAX_ID
from schemas.statements import ConfirmationsIn, ConfirmationsOut, PaymentList, PaymentOut, ReissueIn

Pool = Literal["compensation", "subsidy"]


def _out(view: service.InstructionView) -> PaymentOut:
    return PaymentOut(**view.__dict__)


class PaymentController(Controller):
    path = "/payments"
    tags = ["payments"]

    @get("/", sync_to_thread=True, summary="Payment instructions", **allow(*READERS))
    def list_payments(
        self, actor: Caller, db: Db,
        pool: Annotated[Pool | None, QueryParameter(description="compensation or subsidy")] = None,
        status: Annotated[Literal["instructed", "confirmed", "returned", "owed_again"] | None,
                          QueryParameter(description="only this status (owed_again: returned, not instructed again)")] = None,
        after: Annotated[int, QueryParameter(ge=0, le=MAX_ID, description="only instructions after this id")] = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=500, description="page size")] = 100,
    ) -> PaymentList:
        """Instructions in id order: every amount a pool paid out (a claim's paid part to its bank, a
        deferral settled, a subsidy run's paid part to each enterprise)."""
        with unit_of_work(db) as session:
            items = service.list_instructions(session, actor, pool=pool, status=status, after_id=after, limit=limit)
        return PaymentList(items=[_out(i) for i in items])

    @get("/export", sync_to_thread=True, summary="A pool's batch for the custodian (XLSX or CSV)",
         media_type=CSV, **documented(allow(*READERS), media_types=(CSV, XLSX)))
    def export(
        self, actor: Caller, db: Db,
        pool: Annotated[Pool, QueryParameter(description="compensation or subsidy")],
        fmt: Annotated[Literal["csv", "xlsx"], QueryParameter(name="format", description="csv (default) or xlsx")] = "csv",
        lang: Annotated[Literal["zh", "en"], QueryParameter(description="headers in Chinese (default) or English")] = "zh",
    ) -> Response:
        """Every instruction of the pool still `instructed`, returned payments instructed again first."""
        return statement_response(db, lambda session: service.export_statement(session, actor, pool, lang=lang), fmt, lang)

    @post("/confirmations", status_code=200, sync_to_thread=True, summary="Import the custodian's confirmations",
          response_headers=[REPLAYED_RESPONSE_HEADER], **allow(Role.FUND_MANAGER, errors=(400, 409, 413)))
    def confirm(self, request: Request, actor: Caller, idempotency_key: IdempotencyKeyHeader,
                data: JSONBody[ConfirmationsIn]) -> Response[ConfirmationsOut]:
        """Each row confirms an instruction (with the bank's reference) or reports it returned. All or
        nothing: 422 `confirmation_refused` names every bad row (unknown, already settled, named
        twice, dated outside the instruction's date and the business date) and nothing is written."""

        def work(session: Session):
            rows = [{k: ("" if v is None else str(v)) for k, v in item.model_dump().items()} for item in data.items]
            result = service.import_confirmations(session, actor, rows, business_date(session))
            return 200, ConfirmationsOut(**result.__dict__)

        return run_idempotent(request, actor, idempotency_key, data, work)

    @post("/{instruction_id:int}/reissue", status_code=201, sync_to_thread=True, summary="Instruct a returned payment again",
          response_headers=[REPLAYED_RESPONSE_HEADER], **allow(Role.FUND_MANAGER, errors=(400, 404, 409, 413)))
    def reissue(self, request: Request, actor: Caller, idempotency_key: IdempotencyKeyHeader,
                instruction_id: Annotated[int, PathParameter(ge=1, le=MAX_ID, description="the returned instruction")],
                data: JSONBody[ReissueIn]) -> Response[PaymentOut]:
        """Once the payee's details are corrected: a new instruction of the returned amount, from the
        cash held for it (ahead of every deferral). 409 when it is not returned or was reissued."""

        def work(session: Session):
            view = service.reissue(session, actor, instruction_id, business_date(session), note=data.note)
            return 201, _out(view)

        return run_idempotent(request, actor, idempotency_key, data, work)
