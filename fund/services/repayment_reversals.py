"""Repayment reversals (docs/rules.md section 3): a bank reverses a repayment it recorded in error,
with a reason, while no subsidy run exists for the month of its payment date or a later month, and only
if no claim has ever been filed on the loan. The reversal is a record of its own (the repayment row is
never changed); the installment's paid amounts go back down, and a ``repaid`` loan becomes ``active``
again (refused while one of its assets is pledged on another loan that is not repaid, cancelled or
closed).

>>> month_of(__import__("datetime").date(2026, 3, 31))
'2026-03'
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from fund.adapters.db import unit_of_work
from fund.adapters.models.claims import Claim
from fund.adapters.models.people import RepaymentReversal
from fund.adapters.models.registry import Installment, LoanAsset, Loan, Repayment
from fund.adapters.models.subsidies import SubsidyRun
from fund.domain.status import RELEASED_STATUSES
from fund.errors import Conflict, DomainError, Forbidden, NotFound
from fund.services import audit
from fund.services.common import business_date, for_update
from fund.services.registry import Actor, loan_for, move_status

MAX_REASON = 500


@dataclass(frozen=True)
class ReversalView:
    id: int
    repayment_id: int
    loan_id: int
    principal_fen: int
    interest_fen: int
    paid_on: dt.date
    reason: str
    reversed_on: dt.date
    loan_status: str

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def month_of(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def reverse_repayment(session: Session, bank: Actor, loan_id: int, repayment_id: int, reason: str,
                      today: dt.date) -> ReversalView:
    """Session-level: reverse one repayment of the bank's own loan."""
    if bank.kind != "bank":
        raise Forbidden("forbidden", "only the bank that recorded a repayment reverses it")
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON:
        raise DomainError("missing_reason", f"a reversal needs a stated reason (1..{MAX_REASON} characters)", field="reason")
    loan = loan_for(session, bank, loan_id, lock=True)
    repayment = session.scalar(select(Repayment).where(Repayment.id == repayment_id, Repayment.loan_id == loan.id))
    if repayment is None:
        raise NotFound("repayment_not_found", f"loan {loan.id} has no repayment {repayment_id}", field="repayment_id")
    if session.scalar(select(RepaymentReversal.id).where(RepaymentReversal.repayment_id == repayment.id)) is not None:
        raise Conflict("already_reversed", f"repayment {repayment.id} is reversed already", field="repayment_id")
    if session.scalar(select(Claim.id).where(Claim.loan_id == loan.id).limit(1)) is not None:
        raise Conflict("loan_has_claim", f"a claim has been filed on loan {loan.id}: its repayments are not reversed "
                       "(money after approval is a recovery)", field="loan_id")
    run = session.scalar(select(SubsidyRun.month).where(SubsidyRun.month >= month_of(repayment.paid_on)).order_by(SubsidyRun.month).limit(1))
    if run is not None:
        raise Conflict("subsidy_run_exists", f"the subsidy run of {run} exists (the repayment was paid {repayment.paid_on}): "
                       "it cannot be reversed", field="repayment_id")
    installment = session.scalar(for_update(session, select(Installment).where(Installment.id == repayment.installment_id))
                                 .execution_options(populate_existing=True))
    if loan.status == "repaid":
        busy = session.scalar(
            select(LoanAsset.asset_id)
            .join(Loan, Loan.id == LoanAsset.loan_id)
            .where(LoanAsset.asset_id.in_(select(LoanAsset.asset_id).where(LoanAsset.loan_id == loan.id)),
                   LoanAsset.loan_id != loan.id, Loan.status.not_in(RELEASED_STATUSES))
            .limit(1)
        )
        if busy is not None:
            raise Conflict("ip_already_pledged", f"an asset of loan {loan.id} is pledged on another live loan: the loan "
                           "cannot be active again", field="repayment_id")
        move_status(session, loan, "repayment_reversed", bank.institution_id, today, note=f"repayment {repayment.id}: {reason}")
    elif loan.status not in ("active",):
        raise Conflict("invalid_transition", f"loan {loan.id} is {loan.status}: its repayments are not reversed", field="loan_id")
    installment.principal_paid_fen -= repayment.principal_fen
    installment.interest_paid_fen -= repayment.interest_fen
    loan.principal_repaid_fen -= repayment.principal_fen
    row = RepaymentReversal(repayment_id=repayment.id, loan_id=loan.id, reason=reason, reversed_on=today,
                            reversed_by=bank.institution_id, person_id=bank.person_id)
    session.add(row)
    session.flush()
    return ReversalView(row.id, repayment.id, loan.id, repayment.principal_fen, repayment.interest_fen, repayment.paid_on,
                        reason, today, loan.status)


def reverse(db: sessionmaker[Session], bank: Actor, loan_id: int, repayment_id: int, reason: str) -> ReversalView:
    """The use case: one transaction, audited (refusals in a transaction of their own)."""
    def work(session: Session) -> ReversalView:
        return reverse_repayment(session, bank, loan_id, repayment_id, reason, business_date(session))

    return audit.audited(db, bank, "repayment.reverse", f"repayment:{repayment_id}", work,
                         detail=lambda v: {"loan": v.loan_id, "reason": v.reason})


def reversed_repayment_ids(session: Session, loan_id: int) -> set[int]:
    return set(session.scalars(select(RepaymentReversal.repayment_id).where(RepaymentReversal.loan_id == loan_id)))
