"""Claims (docs/rules.md section 4), appropriations, the journal and the fund report (section 6).

A claim belongs to its loan: a bank files, lowers, withdraws, reports recoveries on and closes the
claims of its own loans under ``/loans/{loan_id}/claims``; the fund manager approves or rejects them
there. Another bank's loan is 404 (``loan_not_found``) for every method, as if it did not exist.
``GET /claims`` lists what the caller may read: a bank its own claims, an insurer, guarantor or
appraiser the claims on loans naming it (with their allocation and cap trace), the fund manager and
auditors all. The fund manager records appropriations; auditors and the fund manager read the
journal, the ledger check and the fund report. Everything runs as of the business date.
"""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, Response, get, post
from litestar.params import JSONBody, PathParameter, QueryParameter
from sqlalchemy.orm import Session

from api.auth import READERS, Role, allow
from api.deps import Caller, Db
from api.controllers.proposals import create_proposal
from api.idempotency import REPLAYED_RESPONSE_HEADER, IdempotencyKeyHeader, run_idempotent
from api.params import UpdatedSince, updated_since_of
from schemas.people import ProposalOut
from fund.adapters.db import unit_of_work
from fund.services import claims as claims_service
from fund.services import ledger
from fund.services.common import business_date
from fund.services.fund_report import current_fund_report
from fund.services.paging import keyset_page
from fund.services.registry import Actor
from schemas.claims import (
    AppropriationIn,
    Cause,
    ClaimIn,
    ClaimOut,
    ClaimPage,
    ClaimStatus,
    FundReportOut,
    JournalEntryOut,
    JournalPage,
    LedgerCheckOut,
    LossIn,
    RecoveryIn,
    RecoveryOut,
    RecoveryPosted,
    RejectIn,
    ViolationOut,
)
from schemas.common import DEFAULT_PAGE_SIZE, MAX_ID, MAX_PAGE_SIZE

LoanId = Annotated[int, PathParameter(ge=1, le=MAX_ID, description="the loan's id")]
ClaimId = Annotated[int, PathParameter(ge=1, le=MAX_ID, description="the claim's id")]
AfterId = Annotated[int, QueryParameter(ge=0, le=MAX_ID, description="cursor: records with a larger id")]
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_PAGE_SIZE, description=f"page size, 1..{MAX_PAGE_SIZE}")]
POST_ERRORS = (400, 404, 409, 413)


def claim_out(document: dict) -> ClaimOut:
    return ClaimOut.model_validate(document)


class LoanClaimController(Controller):
    path = "/loans/{loan_id:int}/claims"
    tags = ["claims"]

    @post("/", status_code=201, sync_to_thread=True, summary="File a claim on a loan",
          response_headers=[REPLAYED_RESPONSE_HEADER], **allow(Role.BANK, errors=POST_ERRORS))
    def file(self, request: Request, actor: Caller, idempotency_key: IdempotencyKeyHeader, loan_id: LoanId,
             data: JSONBody[ClaimIn]) -> Response[ClaimOut]:
        """File a claim (rule A1) on one of the bank's `active` loans with covered principal > 0, as of
        the business date: the earliest installment not paid in full must be `claim_overdue_days` to
        `claim_overdue_days + claim_window_days` past due, `loss_fen` at most the outstanding principal,
        and the loan must have no other open claim (409 `claim_exists`)."""

        def work(session: Session):
            return 201, claim_out(claims_service.file(session, actor, loan_id, data.loss_fen))

        return run_idempotent(request, actor, idempotency_key, data, work)

    @get("/", sync_to_thread=True, summary="The claims of a loan", **allow(Role.BANK, *READERS, errors=[404]))
    def list_for_loan(self, actor: Caller, db: Db, loan_id: LoanId) -> ClaimPage:
        """Every claim filed on the loan (withdrawn and rejected ones included), oldest first."""
        documents = claims_service.claims_of_loan(db, actor, loan_id, limit=MAX_PAGE_SIZE)
        return ClaimPage(items=[claim_out(d) for d in documents], next_after_id=None)

    @get("/{claim_id:int}", sync_to_thread=True, summary="Read one claim", **allow(Role.BANK, *READERS, errors=[404]))
    def read(self, actor: Caller, db: Db, loan_id: LoanId, claim_id: ClaimId) -> ClaimOut:
        """A claim with its allocation (A2), cap trace (A3: in-pool lending, cap, already used, room, cut),
        payment (A4: paid, deferred, settled since), recoveries (A5) and every step with who and when."""
        return claim_out(claims_service.show(db, actor, claim_id, loan_id=loan_id))

    def _act(self, request: Request, actor: Actor, key: str, data, use_case) -> Response[ClaimOut]:
        """One claim use case, run in the idempotency record's transaction (``use_case(session)``)."""
        return run_idempotent(request, actor, key, data, lambda session: (200, claim_out(use_case(session))))

    @post("/{claim_id:int}/loss", status_code=200, sync_to_thread=True, summary="Lower the loss of a filed claim",
          response_headers=[REPLAYED_RESPONSE_HEADER], **allow(Role.BANK, errors=POST_ERRORS))
    def lower(self, request: Request, actor: Caller, idempotency_key: IdempotencyKeyHeader, loan_id: LoanId,
              claim_id: ClaimId, data: JSONBody[LossIn]) -> Response[ClaimOut]:
        """Lower `loss_fen` of a filed claim (approval is refused while it exceeds the outstanding
        principal)."""
        return self._act(request, actor, idempotency_key, data,
                         lambda s: claims_service.lower(s, actor, claim_id, data.loss_fen, loan_id=loan_id))

    @post("/{claim_id:int}/withdraw", status_code=200, sync_to_thread=True, summary="Withdraw a filed claim",
          response_headers=[REPLAYED_RESPONSE_HEADER], **allow(Role.BANK, errors=POST_ERRORS))
    def withdraw(self, request: Request, actor: Caller, idempotency_key: IdempotencyKeyHeader, loan_id: LoanId,
                 claim_id: ClaimId) -> Response[ClaimOut]:
        """Withdraw a filed claim; the loan is `active` again (`repaid` when every installment is paid in full) and may
        be claimed again within the window. No body."""
        return self._act(request, actor, idempotency_key, None,
                         lambda s: claims_service.withdraw(s, actor, claim_id, loan_id=loan_id))

    @post("/{claim_id:int}/approve", status_code=202, sync_to_thread=True, summary="Propose a filed claim's approval",
          response_headers=[REPLAYED_RESPONSE_HEADER], **allow(Role.FUND_MANAGER, errors=(403, *POST_ERRORS)))
    def approve(self, request: Request, actor: Caller, db: Db, idempotency_key: IdempotencyKeyHeader, loan_id: LoanId,
                claim_id: ClaimId) -> Response[ProposalOut]:
        """An officer proposes the approval (rule G1, docs/rules.md section 11): A2 splits the loss with the
        policy's scheme and the loan's insurance limit, A3 cuts the fund's share to the bank's room for
        (policy, year), A4 pays it from the compensation pool and defers what cash cannot cover, as computed
        now (`preview`). Another person, an approver, signs it off (`POST /proposals/{id}/approve`): it is
        recomputed and executed then. Refused (422 `loss_exceeds_outstanding`) while the loss exceeds the
        outstanding principal; 403 `person_required` for a key not issued to a person. No body."""
        return create_proposal(request, actor, db, idempotency_key, None, "claim_approval", {"claim_id": claim_id},
                               before=lambda s: claims_service.claim_of_loan(s, actor, loan_id, claim_id))

    @post("/{claim_id:int}/reject", status_code=202, sync_to_thread=True, summary="Propose a filed claim's rejection",
          response_headers=[REPLAYED_RESPONSE_HEADER], **allow(Role.FUND_MANAGER, errors=(403, *POST_ERRORS)))
    def reject(self, request: Request, actor: Caller, db: Db, idempotency_key: IdempotencyKeyHeader, loan_id: LoanId,
               claim_id: ClaimId, data: JSONBody[RejectIn]) -> Response[ProposalOut]:
        """An officer proposes the rejection with a stated reason; an approver signs it off (rejections always
        need two people). Executed, the loan is `active` again."""
        return create_proposal(request, actor, db, idempotency_key, data, "claim_rejection",
                               {"claim_id": claim_id, "reason": data.reason},
                               before=lambda s: claims_service.claim_of_loan(s, actor, loan_id, claim_id))

    @post("/{claim_id:int}/recoveries", status_code=201, sync_to_thread=True, summary="Report a recovery",
          response_headers=[REPLAYED_RESPONSE_HEADER], **allow(Role.BANK, errors=POST_ERRORS))
    def recover(self, request: Request, actor: Caller, idempotency_key: IdempotencyKeyHeader, loan_id: LoanId,
                claim_id: ClaimId, data: JSONBody[RecoveryIn]) -> Response[RecoveryPosted]:
        """Report one recovery on an approved claim (A5, cumulative): each non-bank party holds
        `min(floor(cum_net * share / L), share)` in all, the bank the rest. The fund's part is an inflow
        to the compensation pool (settling deferred compensation first)."""

        def work(session: Session):
            posted = claims_service.recover(session, actor, claim_id, data.gross_fen, data.costs_fen, loan_id=loan_id)
            return 201, RecoveryPosted(recovery=RecoveryOut.model_validate(posted.recovery), claim=claim_out(posted.claim))

        return run_idempotent(request, actor, idempotency_key, data, work)

    @post("/{claim_id:int}/close", status_code=200, sync_to_thread=True, summary="Close an approved claim",
          response_headers=[REPLAYED_RESPONSE_HEADER], **allow(Role.BANK, errors=POST_ERRORS))
    def close(self, request: Request, actor: Caller, idempotency_key: IdempotencyKeyHeader, loan_id: LoanId,
              claim_id: ClaimId) -> Response[ClaimOut]:
        """Close an approved claim (recovery finished); the loan becomes `closed`. No body."""
        return self._act(request, actor, idempotency_key, None,
                         lambda s: claims_service.close(s, actor, claim_id, loan_id=loan_id))


class ClaimController(Controller):
    path = "/claims"
    tags = ["claims"]

    @get("/", sync_to_thread=True, summary="List the claims the caller may read", **allow(*Role))
    def list_claims(
        self,
        actor: Caller,
        db: Db,
        status: Annotated[ClaimStatus | None, QueryParameter(description="only claims in this status")] = None,
        loan_id: Annotated[int | None, QueryParameter(ge=1, le=MAX_ID, description="only this loan's claims")] = None,
        bank: Annotated[str | None, QueryParameter(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$",
                                                   description="only this bank's claims")] = None,
        updated_since: UpdatedSince = None,
        after_id: AfterId = 0,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> ClaimPage:
        """Claims by id, a bounded page at a time, each with its allocation, cap trace, payment,
        recoveries and events. A bank sees its own claims; an insurer, guarantor or appraiser the claims
        on loans naming it; the fund manager and auditors all."""
        since = updated_since_of(updated_since)
        page = keyset_page(lambda n: claims_service.claims_page(db, actor, status=status, loan_id=loan_id, bank_code=bank,
                                                                after_id=after_id, limit=n, updated_since=since),
                           limit, key=lambda d: d["id"])
        return ClaimPage(items=[claim_out(d) for d in page.items], next_after_id=page.next_after_id)


class FundController(Controller):
    path = "/fund"
    tags = ["fund"]

    @post("/appropriations", status_code=202, sync_to_thread=True, summary="Propose an appropriation",
          response_headers=[REPLAYED_RESPONSE_HEADER], **allow(Role.FUND_MANAGER, errors=(403, *POST_ERRORS)))
    def appropriate(self, request: Request, actor: Caller, db: Db, idempotency_key: IdempotencyKeyHeader,
                    data: JSONBody[AppropriationIn]) -> Response[ProposalOut]:
        """An officer proposes an appropriation to the compensation or subsidy pool (rule G1): the date received,
        the policy and the funding document's reference (409 `duplicate_reference` while another appropriation
        that is not reversed holds it). Signed off by an approver, it settles the pool's deferred amounts
        first-in first-out and the rest adds to cash (the proposal's `figures`)."""

        def params(session: Session) -> dict:
            return {"pool": data.pool, "amount_fen": data.amount_fen, "reference": data.reference,
                    "received_on": (data.received_on or business_date(session)).isoformat(), "policy_id": data.policy_id,
                    "memo": data.memo}

        holder: dict = {}
        return create_proposal(request, actor, db, idempotency_key, data, "appropriation", holder,
                               before=lambda s: holder.update(params(s)))


class LedgerController(Controller):
    path = "/ledger"
    tags = ["ledger"]

    @get("/journal", sync_to_thread=True, summary="The journal", **allow(Role.AUDITOR, Role.FUND_MANAGER))
    def journal(
        self,
        db: Db,
        cause: Annotated[Cause | None, QueryParameter(description="only entries of this cause")] = None,
        after_id: AfterId = 0,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> JournalPage:
        """Journal entries in id order, each with its cause, policy, reference and postings (debit
        positive, credit negative), a bounded page at a time."""
        with unit_of_work(db) as session:
            page = keyset_page(lambda n: ledger.journal(session, after_id=after_id, limit=n, cause=cause), limit)
        return JournalPage(items=[JournalEntryOut.model_validate(line.as_dict()) for line in page.items],
                           next_after_id=page.next_after_id)

    @get("/check", sync_to_thread=True, summary="Check the ledger's invariants", **allow(Role.AUDITOR, Role.FUND_MANAGER))
    def check(self, db: Db) -> LedgerCheckOut:
        """Every invariant of rule L (entries balance, stored balances, no negative cash or deferral, each
        claim's and each subsidy run's postings); `ok` is true when none is broken."""
        with unit_of_work(db) as session:
            problems = ledger.check_ledger(session)
        return LedgerCheckOut(ok=not problems, violations=[
            ViolationOut(rule=p.rule, entry_id=p.entry_id, message=p.message) for p in problems])


class FundReportController(Controller):
    path = "/reports"
    tags = ["reports"]

    @get("/fund", sync_to_thread=True, summary="The fund report", **allow(*READERS))
    def fund(self, db: Db) -> FundReportOut:
        """Cash and deferred per pool, compensation approved, paid and recovered by bank and approval year,
        each bank's cap and room this year, and leverage, as of the business date (the same figures as
        `ipfund report fund --json`)."""
        return FundReportOut.model_validate(current_fund_report(db).as_dict())


CONTROLLERS = [LoanClaimController, ClaimController, FundController, LedgerController, FundReportController]
