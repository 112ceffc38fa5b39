"""S6 (docs/rules.md section 5): fees a bank reports for its loans, and their subsidies.

A bank reports a fee (kind, amount, date paid, issuer, invoice number: unique per issuer). Its
subsidy is computed at once and the loan's unpaid fees of that kind are refilled in order of payment
date, then registration, so a fee reported late with an earlier date takes its place in the cap
(fees a monthly run paid are final and keep their room). A fee counts when its loan is eligible and
not cancelled and it was paid on or before ``add_months(drawdown, subsidy_months)``; one that does
not is kept with subsidy 0.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from fund.adapters.dialect import for_update
from fund.adapters.models.pool import LoanFee
from fund.adapters.models.registry import Loan
from fund.domain import fees as rules
from fund.domain.dates import add_months
from fund.domain.policy import Policy
from fund.errors import Conflict, DomainError, Forbidden
from fund.services import audit
from fund.services.common import SessionFactory, within
from fund.services.common import business_date as read_business_date
from fund.services.registry import Actor, BatchRefused, loan_for


@dataclass(frozen=True)
class FeeIn:
    kind: str
    amount_fen: int
    paid_on: dt.date
    issuer: str
    invoice_no: str


@dataclass(frozen=True)
class FeeView:
    id: int
    loan_id: int
    kind: str
    amount_fen: int
    paid_on: dt.date
    issuer: str
    invoice_no: str
    subsidy_fen: int
    capped: bool
    registered_on: dt.date
    run_id: int | None

    @classmethod
    def of(cls, row: LoanFee) -> "FeeView":
        return cls(row.id, row.loan_id, row.kind, row.amount_fen, row.paid_on, row.issuer, row.invoice_no, row.subsidy_fen,
                   row.capped, row.registered_on, row.run_id)

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def _check(fee: FeeIn, today: dt.date) -> FeeIn:
    """The one input check of a reported fee."""
    if fee.kind not in rules.FEE_KINDS:
        raise DomainError("invalid_fee_kind", f"kind must be one of {', '.join(rules.FEE_KINDS)}", field="kind")
    if isinstance(fee.amount_fen, bool) or not isinstance(fee.amount_fen, int) or fee.amount_fen <= 0:
        raise DomainError("invalid_amount", "amount_fen must be a positive integer", field="amount_fen")
    if fee.paid_on > today:
        raise DomainError("dated_after_business_date", f"{fee.paid_on} is after the business date {today}", field="paid_on")
    issuer, invoice = fee.issuer.strip(), fee.invoice_no.strip()
    if not issuer or len(issuer) > 200:
        raise DomainError("invalid_issuer", "issuer must be 1..200 characters", field="issuer")
    if not invoice or len(invoice) > 64:
        raise DomainError("invalid_invoice", "invoice_no must be 1..64 characters", field="invoice_no")
    return FeeIn(fee.kind, fee.amount_fen, fee.paid_on, issuer, invoice)


def _policy(session: Session, loan: Loan) -> Policy | None:
    from fund.services.policies import get_policy

    return get_policy(session, loan.policy_id) if loan.policy_id else None


def fee_counts(loan: Loan, policy: Policy | None, paid_on: dt.date) -> bool:
    """S6: the loan is eligible and not cancelled, the policy subsidises fees, and the fee was paid by
    ``add_months(drawdown, subsidy_months)``."""
    return counts_on_terms(loan.coverage, loan.status, loan.drawdown_date, policy, paid_on)


def counts_on_terms(coverage: str, status: str, drawdown: dt.date, policy: Policy | None, paid_on: dt.date) -> bool:
    """:func:`fee_counts` on the loan's columns (the monthly run reads them in one query)."""
    return (policy is not None and policy.fee_subsidy_ratio_bp is not None and coverage == "eligible"
            and status != "cancelled" and paid_on <= add_months(drawdown, policy.subsidy.months))


def refill(session: Session, loan: Loan, kind: str) -> None:
    """Recompute the unpaid fees of one (loan, kind) in order of payment date, then registration."""
    policy = _policy(session, loan)
    rows = list(session.scalars(select(LoanFee).where(LoanFee.loan_id == loan.id, LoanFee.kind == kind)
                                .order_by(LoanFee.paid_on, LoanFee.id)))
    used = sum(r.subsidy_fen for r in rows if r.run_id is not None)
    open_rows = [r for r in rows if r.run_id is None and fee_counts(loan, policy, r.paid_on)]
    filled = rules.fill_cap([r.amount_fen for r in open_rows], policy.fee_subsidy_ratio_bp if policy else None,
                            policy.fee_subsidy_cap_fen if policy else None, used_fen=used)
    for row in rows:
        if row.run_id is None:
            row.subsidy_fen, row.capped = 0, False
    for row, result in zip(open_rows, filled):
        row.subsidy_fen, row.capped = result.subsidy_fen, result.capped
    session.flush()


def record_fee(session: Session, bank: Actor, loan_id: int, fee: FeeIn, today: dt.date) -> LoanFee:
    """The loan's bank reports one fee; its subsidy is computed at once (S6)."""
    if bank.kind != "bank":
        raise Forbidden("forbidden", "only the loan's bank reports its fees")
    fee = _check(fee, today)
    loan = loan_for(session, bank, loan_id, lock=True)
    taken = session.scalar(select(LoanFee.id).where(LoanFee.issuer == fee.issuer, LoanFee.invoice_no == fee.invoice_no))
    if taken is not None:
        raise Conflict("duplicate_invoice", f"invoice {fee.invoice_no!r} of {fee.issuer!r} is reported already", field="invoice_no")
    rules.check_exclusive(session.scalars(select(LoanFee.kind).where(LoanFee.loan_id == loan.id).distinct()), fee.kind)
    row = LoanFee(loan_id=loan.id, kind=fee.kind, amount_fen=fee.amount_fen, paid_on=fee.paid_on, issuer=fee.issuer,
                  invoice_no=fee.invoice_no, subsidy_fen=0, capped=False, registered_on=today)
    session.add(row)
    session.flush()
    refill(session, loan, fee.kind)
    audit.record(session, bank, "fee.record", f"loan:{loan.id}", business_date=today,
                 detail={"fee": row.id, "kind": fee.kind, "amount_fen": fee.amount_fen, "subsidy_fen": row.subsidy_fen})
    return row


def lock_loans_in_id_order(session: Session, bank: Actor, loan_ids: Sequence[int]) -> None:
    """Lock the bank's loans among ``loan_ids`` (PostgreSQL row locks), in ascending id order, before a
    batch touches any of them: the monthly run locks the loans with open fees in that order too
    (``fund.services.subsidies.month_fee_lines``), so a batch naming its loans in another order cannot
    hold one loan while waiting for another the run holds. Another bank's loans are left alone (their
    items are refused as absent)."""
    ids = sorted({i for i in loan_ids if isinstance(i, int) and not isinstance(i, bool)})
    if bank.kind != "bank" or not ids:
        return
    session.scalars(for_update(session, select(Loan.id).where(Loan.id.in_(ids), Loan.bank_id == bank.institution_id)
                               .order_by(Loan.id))).all()


def record_fees(db: SessionFactory | Session, bank: Actor, items: Sequence[tuple[int, FeeIn]]) -> list[FeeView]:
    """Use case: fees of one or several loans in the order given, all or nothing (BatchRefused by index).
    The batch's loans are locked first, in ascending id order (the monthly run's order); the fees are
    then recorded, and answered, in the order given."""
    with within(db) as session:
        today = read_business_date(session)
        lock_loans_in_id_order(session, bank, [loan_id for loan_id, _ in items])
        rows, refused = [], []
        for index, (loan_id, fee) in enumerate(items):
            savepoint = session.begin_nested()
            try:
                rows.append(record_fee(session, bank, loan_id, fee, today))
            except DomainError as exc:
                savepoint.rollback()
                refused.append((index, exc))
            else:
                savepoint.commit()
        if refused:
            raise BatchRefused(refused)
        for row in rows:
            session.refresh(row)
        return [FeeView.of(r) for r in rows]


def list_fees(db: SessionFactory | Session, actor: Actor, *, loan_id: int | None = None) -> list[FeeView]:
    """Fees in registration order; a bank sees its own loans' fees."""
    if actor.kind not in ("bank", "fund_manager", "auditor"):
        raise Forbidden("forbidden", "only banks, the fund manager and auditors read fees")
    with within(db) as session:
        stmt = select(LoanFee).join(Loan, Loan.id == LoanFee.loan_id).order_by(LoanFee.id)
        if loan_id is not None:
            loan_for(session, actor, loan_id)  # 404 for another bank's loan
            stmt = stmt.where(LoanFee.loan_id == loan_id)
        if actor.kind == "bank":
            stmt = stmt.where(Loan.bank_id == actor.institution_id)
        return [FeeView.of(r) for r in session.scalars(stmt)]


def record_one(db: SessionFactory | Session, bank: Actor, loan_id: int, fee: FeeIn) -> FeeView:
    """Use case: one fee as of the business date (its own refusal, not a batch's)."""
    try:
        return record_fees(db, bank, [(loan_id, fee)])[0]
    except BatchRefused as refused:
        raise refused.items[0][1] from None
