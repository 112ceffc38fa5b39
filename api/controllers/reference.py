"""Reference data every participant reads: the LPR table, the policies, the institutions. The fund
manager changes the LPR table through rule G: a publication or a move of ``checked_through`` is a
proposal (202) that another person signs off (``/api/v1/proposals/{id}/approve``)."""

from __future__ import annotations

import json
from typing import Annotated

from litestar import Controller, Request, Response, get, post
from litestar.params import JSONBody, PathParameter, QueryParameter

from api.auth import Role, allow
from api.controllers.proposals import create_proposal
from api.deps import Caller, Db
from api.idempotency import REPLAYED_RESPONSE_HEADER, IdempotencyKeyHeader
from fund.adapters.db import unit_of_work
from fund.services import institutions as institutions_service
from fund.services import lpr as lpr_service
from fund.services import policies as policies_service
from schemas.people import ProposalOut
from schemas.reference import (
    InstitutionKind,
    InstitutionList,
    InstitutionOut,
    LprCheckedThroughIn,
    LprPublicationIn,
    LprRateOut,
    LprTableOut,
    PolicyDocumentOut,
    PolicyList,
    PolicyOut,
)

EVERYONE = tuple(Role)
PolicyId = Annotated[str, PathParameter(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9._-]+$", description="policy id, e.g. gz-2023")]


class LprController(Controller):
    path = "/lpr"
    tags = ["reference"]

    @get("/", sync_to_thread=True, summary="The LPR table", **allow(*EVERYONE))
    def table(self, db: Db) -> LprTableOut:
        """Every publication of the one-year LPR (bp) and the date up to which the table is known
        complete (docs/rules.md section 2)."""
        with unit_of_work(db) as session:
            table = lpr_service.lpr_table(session)
        return LprTableOut(checked_through=table.checked_through,
                           items=[LprRateOut(published_on=d, rate_bp=r) for d, r in table.publications])

    @post("/publications", status_code=202, sync_to_thread=True, summary="Propose an LPR publication (rule G)",
          response_headers=[REPLAYED_RESPONSE_HEADER], **allow(Role.FUND_MANAGER, errors=(400, 409, 413)))
    def propose_publication(self, request: Request, actor: Caller, db: Db, idempotency_key: IdempotencyKeyHeader,
                            data: JSONBody[LprPublicationIn]) -> Response[ProposalOut]:
        """Propose adding a publication dated after `checked_through`; it is added when another
        person of the fund manager signs the proposal off. 202 with the proposal."""
        params = {"published_on": data.published_on.isoformat(), "rate_bp": data.rate_bp}
        return create_proposal(request, actor, db, idempotency_key, data, "lpr_publication", params)

    @post("/checked-through", status_code=202, sync_to_thread=True, summary="Propose moving checked_through (rule G)",
          response_headers=[REPLAYED_RESPONSE_HEADER], **allow(Role.FUND_MANAGER, errors=(400, 409, 413)))
    def propose_checked_through(self, request: Request, actor: Caller, db: Db, idempotency_key: IdempotencyKeyHeader,
                                data: JSONBody[LprCheckedThroughIn]) -> Response[ProposalOut]:
        """Propose moving the table's `checked_through` forward (never back, never past the business
        date); done when another person signs it off. 202 with the proposal."""
        return create_proposal(request, actor, db, idempotency_key, data, "lpr_checked_through",
                               {"through": data.through.isoformat()})


def _policy_out(row) -> PolicyOut:  # noqa: ANN001
    return PolicyOut(id=row.id, name=row.name, valid_from=row.valid_from, valid_to=row.valid_to, active=row.active,
                     content_hash=row.content_hash, loaded_at=row.loaded_at)


class PolicyController(Controller):
    path = "/policies"
    tags = ["reference"]

    @get("/", sync_to_thread=True, summary="The stored policies", **allow(*EVERYONE))
    def list_policies(self, db: Db) -> PolicyList:
        """Every stored policy by start date, with whether the fund runs it (`active`)."""
        with unit_of_work(db) as session:
            return PolicyList(items=[_policy_out(row) for row in policies_service.list_policies(session)])

    @get("/{policy_id:str}", sync_to_thread=True, summary="One policy with its document", **allow(*EVERYONE, errors=(404,)))
    def read(self, db: Db, policy_id: PolicyId) -> PolicyDocumentOut:
        """The policy and its whole document (schemes, caps, eligibility, subsidy parameters)."""
        with unit_of_work(db) as session:
            row = policies_service.stored_policy(session, policy_id)
            return PolicyDocumentOut(**_policy_out(row).model_dump(), document=json.loads(row.document))


class InstitutionController(Controller):
    path = "/institutions"
    tags = ["reference"]

    @get("/", sync_to_thread=True, summary="The institutions", **allow(*EVERYONE))
    def list_institutions(
        self, db: Db, kind: Annotated[InstitutionKind | None, QueryParameter(description="only institutions of this kind")] = None,
    ) -> InstitutionList:
        """Every institution's code, name and kind (the codes a loan names its insurer or appraiser by)."""
        with unit_of_work(db) as session:
            views = institutions_service.list_institutions(session, kind=kind)
        return InstitutionList(items=[InstitutionOut(code=v.code, name=v.name, kind=v.kind) for v in views])


CONTROLLERS = [LprController, PolicyController, InstitutionController]
