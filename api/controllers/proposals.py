"""Rule G1 proposals (docs/rules.md section 11): an officer of the fund manager proposes a decision
(what it will do, computed now, is stored), an approver signs it off (recomputed and executed on the
sign-off's business date), declines it with a reason, or the maker withdraws it. Only keys issued to a
person (and console sessions) decide: the fund manager's institutional keys read. Every step and every
refusal is an audit record (``GET /audit``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import JSONBody, PathParameter, QueryParameter
from sqlalchemy.orm import Session

from api.auth import Role, allow
from api.deps import Caller, Db
from api.idempotency import REPLAYED_RESPONSE_HEADER, IdempotencyKeyHeader, run_idempotent
from fund.errors import DomainError
from fund.services import audit, proposals
from fund.services.paging import keyset_page
from fund.services.registry import Actor
from schemas.common import MAX_ID, MAX_PAGE_SIZE
from schemas.people import DeclineIn, ProposalIn, ProposalOut, ProposalPage, ProposalStatus

ProposalId = Annotated[int, PathParameter(ge=1, le=MAX_ID, description="the proposal's id")]
AfterId = Annotated[int, QueryParameter(ge=0, le=MAX_ID, description="cursor: proposals with a larger id")]
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_PAGE_SIZE, description=f"page size, 1..{MAX_PAGE_SIZE}")]
POST_ERRORS = (400, 404, 409, 413)


def proposal_out(view: proposals.ProposalView) -> ProposalOut:
    return ProposalOut.model_validate(view.as_dict())


def run_decision(request: Request, actor: Actor, key: str, body: Any, work: Callable[[Session], tuple[int, Any]],
                 on_refusal: Callable[[DomainError], None]) -> Response[bytes]:
    """``run_idempotent`` whose refusals are also audit records, each written in a transaction of its
    own once the refused one has rolled back."""
    refusals: list[DomainError] = []

    def guarded(session: Session):
        try:
            return work(session)
        except DomainError as exc:
            refusals.append(exc)
            raise

    with audit.refusals_recorded_by_caller():
        response = run_idempotent(request, actor, key, body, guarded)
    for exc in refusals:
        on_refusal(exc)
    return response


def proposal_step(request: Request, actor: Actor, db, key: str, body: Any, proposal_id: int, step: str,
                  act: Callable[[Session], proposals.ProposalView]) -> Response[bytes]:
    return run_decision(request, actor, key, body, lambda session: (200, proposal_out(act(session))),
                        lambda exc: proposals._refused(db, actor, step, proposal_id, exc))


def create_proposal(request: Request, actor: Actor, db, key: str, body: Any, kind: str, params: dict,
                    note: str | None = None, *, before: Callable[[Session], None] | None = None) -> Response[bytes]:
    """Propose through the API (also used by the endpoints that became proposals: ``before`` checks what
    their path names, e.g. that the claim is the loan's)."""
    def work(session: Session):
        if before is not None:
            before(session)
        return 202, proposal_out(proposals._propose(session, actor, proposals.kind_of(kind), params, note))

    def refused(exc: DomainError) -> None:
        audit.record_refusal(db, actor, f"{kind}.propose"[:64], _target(kind, params), exc,
                             detail={"params": params, "message": exc.message})

    return run_decision(request, actor, key, body, work, refused)


def _target(kind: str, params: dict) -> str | None:
    try:
        chosen = proposals.kind_of(kind)
        return chosen.target(chosen.check(dict(params)))
    except (DomainError, KeyError, TypeError, ValueError):
        return None


class ProposalController(Controller):
    path = "/proposals"
    tags = ["proposals"]

    @get("/", sync_to_thread=True, summary="List proposals", **allow(Role.FUND_MANAGER, Role.AUDITOR))
    def list_proposals(self, actor: Caller, db: Db, status: Annotated[ProposalStatus | None, QueryParameter()] = None,
                       kind: Annotated[str | None, QueryParameter(max_length=48)] = None,
                       target: Annotated[str | None, QueryParameter(max_length=80)] = None,
                       after_id: AfterId = 0, limit: Limit = 100) -> ProposalPage:
        """Proposals in id order, filtered by status, kind and target (``claim:12``); keyset paging."""
        page = keyset_page(lambda n: proposals.list_proposals(db, actor, status=status, kind=kind, target=target,
                                                              after_id=after_id, limit=n), limit)
        return ProposalPage(items=[proposal_out(v) for v in page.items], next_after_id=page.next_after_id)

    @get("/{proposal_id:int}", sync_to_thread=True, summary="Show a proposal",
         **allow(Role.FUND_MANAGER, Role.AUDITOR, errors=[404]))
    def show(self, actor: Caller, db: Db, proposal_id: ProposalId) -> ProposalOut:
        """One proposal: its parameters, the figures computed when proposed and, once signed off, those it executed with."""
        return proposal_out(proposals.get_proposal(db, actor, proposal_id))

    @post("/", status_code=202, sync_to_thread=True, summary="Propose a decision", response_headers=[REPLAYED_RESPONSE_HEADER],
          **allow(Role.FUND_MANAGER, errors=POST_ERRORS))
    def create(self, request: Request, actor: Caller, db: Db, idempotency_key: IdempotencyKeyHeader,
               data: JSONBody[ProposalIn]) -> Response[ProposalOut]:
        """An officer proposes (``kind`` and ``params``); it waits for an approver's sign-off (202)."""
        return create_proposal(request, actor, db, idempotency_key, data, data.kind, data.params, data.note)

    @post("/{proposal_id:int}/approve", status_code=200, sync_to_thread=True, summary="Sign off a proposal",
          response_headers=[REPLAYED_RESPONSE_HEADER], **allow(Role.FUND_MANAGER, errors=(403, *POST_ERRORS)))
    def approve(self, request: Request, actor: Caller, db: Db, idempotency_key: IdempotencyKeyHeader,
                proposal_id: ProposalId) -> Response[ProposalOut]:
        """An approver who did not make it signs it off: recomputed and executed now (``same_person`` for the maker)."""
        return proposal_step(request, actor, db, idempotency_key, None, proposal_id, "sign_off",
                             lambda s: proposals._sign_off(s, actor, proposal_id))

    @post("/{proposal_id:int}/decline", status_code=200, sync_to_thread=True, summary="Decline a proposal",
          response_headers=[REPLAYED_RESPONSE_HEADER], **allow(Role.FUND_MANAGER, errors=(403, *POST_ERRORS)))
    def decline(self, request: Request, actor: Caller, db: Db, idempotency_key: IdempotencyKeyHeader,
                proposal_id: ProposalId, data: JSONBody[DeclineIn]) -> Response[ProposalOut]:
        """An approver declines it with a reason."""
        return proposal_step(request, actor, db, idempotency_key, data, proposal_id, "decline",
                             lambda s: proposals._decline(s, actor, proposal_id, data.reason))

    @post("/{proposal_id:int}/withdraw", status_code=200, sync_to_thread=True, summary="Withdraw a proposal",
          response_headers=[REPLAYED_RESPONSE_HEADER], **allow(Role.FUND_MANAGER, errors=(403, *POST_ERRORS)))
    def withdraw(self, request: Request, actor: Caller, db: Db, idempotency_key: IdempotencyKeyHeader,
                 proposal_id: ProposalId) -> Response[ProposalOut]:
        """The maker withdraws it."""
        return proposal_step(request, actor, db, idempotency_key, None, proposal_id, "withdraw",
                             lambda s: proposals._withdraw(s, actor, proposal_id))
