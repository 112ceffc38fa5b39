"""Pilot credit codes (docs/rules.md section 9 (I1)): the fund manager allows an early pilot code that fails its check
character, with a stated reason; banks can then register loans naming it (flagged)."""

from __future__ import annotations

from litestar import Controller, Request, Response, get, post
from litestar.params import JSONBody
from sqlalchemy.orm import Session

from api.auth import Role, allow
from api.deps import Caller, Db
from api.idempotency import REPLAYED_RESPONSE_HEADER, IdempotencyKeyHeader, run_idempotent
from fund.adapters.db import unit_of_work
from fund.services.common import business_date
from fund.services.registry import allow_pilot_code, list_pilot_codes
from schemas.pilot_codes import PilotCodeIn, PilotCodeList, PilotCodeOut

POST_ERRORS = (400, 409, 413)


class PilotCodeController(Controller):
    path = "/pilot-codes"
    tags = ["pilot codes"]

    @post("/", status_code=201, sync_to_thread=True, summary="Allow a pilot credit code",
          response_headers=[REPLAYED_RESPONSE_HEADER], **allow(Role.FUND_MANAGER, errors=POST_ERRORS))
    def allow_code(self, request: Request, actor: Caller, idempotency_key: IdempotencyKeyHeader,
              data: JSONBody[PilotCodeIn]) -> Response[PilotCodeOut]:
        """Allow an early pilot code that fails only its check character (length and characters must
        be right), with the reason; allowing it again with the same reason changes nothing."""

        def work(session: Session):
            row = allow_pilot_code(session, actor, data.credit_code, data.reason, business_date(session))
            return 201, PilotCodeOut(credit_code=row.credit_code, reason=row.reason, allowed_on=row.allowed_on)

        return run_idempotent(request, actor, idempotency_key, data, work)

    @get("/", sync_to_thread=True, summary="List allowed pilot credit codes",
         **allow(Role.FUND_MANAGER, Role.AUDITOR))
    def list_codes(self, actor: Caller, db: Db) -> PilotCodeList:
        """Every allowed pilot code with its reason and date."""
        with unit_of_work(db) as session:
            rows = list_pilot_codes(session)
            return PilotCodeList(items=[PilotCodeOut(credit_code=r.credit_code, reason=r.reason, allowed_on=r.allowed_on) for r in rows])
