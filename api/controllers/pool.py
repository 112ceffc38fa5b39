"""Banks in the pool (docs/rules.md section 12): pool agreements (B1) proposed by an officer and
signed off by an approver (rule G); suspensions at the loss line (B2), lifted the same way; each
bank's loss ratio against the line."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, Response, get, post
from litestar.params import JSONBody, PathParameter, QueryParameter

from api.auth import Role, allow
from api.controllers.proposals import create_proposal
from api.deps import Caller, Db
from api.idempotency import REPLAYED_RESPONSE_HEADER, IdempotencyKeyHeader
from fund.services import pool
from schemas.common import MAX_ID
from schemas.people import ProposalOut
from schemas.pool import (AgreementIn, AgreementList, AgreementOut, LiftIn, LossRatioList, LossRatioOut, SuspensionList,
                          SuspensionOut)

POST_ERRORS = (400, 409, 413)
READERS = (Role.FUND_MANAGER, Role.AUDITOR, Role.BANK)
AgreementId = Annotated[int, PathParameter(ge=1, le=MAX_ID, description="the agreement's id")]
SuspensionId = Annotated[int, PathParameter(ge=1, le=MAX_ID, description="the suspension's id")]
BankCode = Annotated[str | None, QueryParameter(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$",
                                                description="only this bank's agreements")]
PolicyCode = Annotated[str | None, QueryParameter(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9._-]+$",
                                                  description="only this policy's agreements")]


class AgreementController(Controller):
    path = "/agreements"
    tags = ["pool"]

    @get("/", sync_to_thread=True, summary="List pool agreements", **allow(*READERS))
    def list_agreements(self, actor: Caller, db: Db, bank_code: BankCode = None, policy_id: PolicyCode = None) -> AgreementList:
        """Every bank's agreement under each policy (who is in the pool is public): from `agreed_on` the bank's
        loans under the policy may be covered (docs/rules.md section 12, B1)."""
        rows = pool.list_agreements(db, actor, bank_code=bank_code, policy_id=policy_id)
        return AgreementList(items=[AgreementOut(**r.as_dict()) for r in rows])

    @get("/{agreement_id:int}", sync_to_thread=True, summary="One pool agreement", **allow(*READERS, errors=(404,)))
    def show_agreement(self, actor: Caller, db: Db, agreement_id: AgreementId) -> AgreementOut:
        """One agreement by id."""
        return AgreementOut(**pool.get_agreement(db, actor, agreement_id).as_dict())

    @post("/", status_code=202, sync_to_thread=True, summary="Propose recording a pool agreement (rule G)",
          response_headers=[REPLAYED_RESPONSE_HEADER], **allow(Role.FUND_MANAGER, errors=(403, 404, *POST_ERRORS)))
    def propose_agreement(self, request: Request, actor: Caller, db: Db, idempotency_key: IdempotencyKeyHeader,
                          data: JSONBody[AgreementIn]) -> Response[ProposalOut]:
        """An officer proposes a bank's agreement under a policy (date, reference); it is recorded when an approver
        signs the proposal off (`POST /proposals/{id}/approve`, docs/rules.md section 11). 202 with the proposal."""
        return create_proposal(request, actor, db, idempotency_key, data, "pool_agreement",
                               {"bank_code": data.bank_code, "policy_id": data.policy_id,
                                "agreed_on": data.agreed_on.isoformat(), "reference": data.reference})

    @get("/loss-ratios", sync_to_thread=True, summary="Each bank's loss ratio against the suspension line", **allow(*READERS))
    def loss_ratios(self, actor: Caller, db: Db) -> LossRatioList:
        """Approved covered losses since the agreement (or the last lift) against `floor(in_pool_lending * line /
        10000)`, as of the business date (docs/rules.md section 12, B2). A bank sees its own."""
        return LossRatioList(items=[LossRatioOut(**r.as_dict()) for r in pool.bank_loss_ratios(db, actor)])


class SuspensionController(Controller):
    path = "/suspensions"
    tags = ["pool"]

    @get("/", sync_to_thread=True, summary="List bank suspensions", **allow(*READERS))
    def list_suspensions(self, actor: Caller, db: Db,
                         open_only: Annotated[bool, QueryParameter(description="only suspensions not lifted")] = False) -> SuspensionList:
        """Suspensions (B2) with the figures measured at the approval that made them (a bank sees its own)."""
        return SuspensionList(items=[SuspensionOut(**s.as_dict()) for s in pool.list_suspensions(db, actor, open_only=open_only)])

    @post("/{suspension_id:int}/lift", status_code=202, sync_to_thread=True, summary="Propose lifting a suspension (rule G)",
          response_headers=[REPLAYED_RESPONSE_HEADER], **allow(Role.FUND_MANAGER, errors=(403, 404, *POST_ERRORS)))
    def propose_lift(self, request: Request, actor: Caller, db: Db, idempotency_key: IdempotencyKeyHeader, suspension_id: SuspensionId,
                     data: JSONBody[LiftIn]) -> Response[ProposalOut]:
        """An officer proposes lifting a bank's suspension with a reason; an approver signs it off. The bank's loans
        drawn from the lift's date are covered again."""
        return create_proposal(request, actor, db, idempotency_key, data, "lift_suspension",
                               {"suspension_id": suspension_id, "reason": data.reason})


CONTROLLERS = [AgreementController, SuspensionController]
