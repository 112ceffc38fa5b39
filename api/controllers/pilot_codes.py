"""Pilot credit codes (docs/rules.md section 9 (I1)): the fund manager allows an early pilot code that fails its check
character, with a stated reason; banks can then register loans naming it (flagged)."""

from __future__ import annotations

from litestar import Controller, Request, Response, get, post
from litestar.params import JSONBody

from api.auth import Role, allow
from api.deps import Caller, Db
from api.controllers.proposals import create_proposal
from api.idempotency import REPLAYED_RESPONSE_HEADER, IdempotencyKeyHeader
from fund.adapters.db import unit_of_work
from fund.services.registry import list_pilot_codes
from schemas.people import ProposalOut
from schemas.pilot_codes import PilotCodeIn, PilotCodeList, PilotCodeOut

POST_ERRORS = (400, 409, 413)


class PilotCodeController(Controller):
    path = "/pilot-codes"
    tags = ["pilot codes"]

    @post("/", status_code=202, sync_to_thread=True, summary="Propose allowing a pilot credit code (rule G)",
          response_headers=[REPLAYED_RESPONSE_HEADER], **allow(Role.FUND_MANAGER, errors=(403, *POST_ERRORS)))
    def allow_code(self, request: Request, actor: Caller, db: Db, idempotency_key: IdempotencyKeyHeader,
                   data: JSONBody[PilotCodeIn]) -> Response[ProposalOut]:
        """An officer proposes allowing an early pilot code that fails only its check character (length and
        characters must be right), with the reason; it is allowed when an approver signs the proposal off
        (`POST /proposals/{id}/approve`, docs/rules.md section 11). 202 with the proposal."""
        return create_proposal(request, actor, db, idempotency_key, data, "pilot_code",
                               {"credit_code": data.credit_code, "reason": data.reason})

    @get("/", sync_to_thread=True, summary="List allowed pilot credit codes",
         **allow(Role.FUND_MANAGER, Role.AUDITOR))
    def list_codes(self, actor: Caller, db: Db) -> PilotCodeList:
        """Every allowed pilot code with its reason and date."""
        with unit_of_work(db) as session:
            rows = list_pilot_codes(session)
            return PilotCodeList(items=[PilotCodeOut(credit_code=r.credit_code, reason=r.reason, allowed_on=r.allowed_on) for r in rows])
