"""The demo's bulk repayment path gives what ``record_repayment`` gives, payment for payment: the
same rows, flags, paid amounts, status moves and events, and the same refusals."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from fund.adapters.db import unit_of_work
from fund.adapters.models.registry import Installment, Loan, LoanEvent, Repayment
from fund.domain.dates import add_months
from fund.domain.registry import InstallmentIn
from fund.errors import DomainError
from fund.domain.registry import RepaymentIn as RepaymentPlan
from fund.services.registry import BatchRefused, record_repayments
from fund.services.registry import record_repayment, register_loan
from tests.factories import application, asset, setup_reference, uscc

pytestmark = pytest.mark.db
BD = dt.date(2026, 10, 31)
DRAWDOWN = dt.date(2026, 1, 10)
M = 1_000_000
DUES = [add_months(DRAWDOWN, k) for k in range(1, 5)]  # 02-10, 03-10, 04-10, 05-10

# Recorded in this order; the comment says whether an installment is past due at payment.
SEQUENCE = [
    RepaymentPlan(DUES[0], DUES[0], 100 * M, M),                    # on time: no
    RepaymentPlan(DUES[1], dt.date(2026, 3, 25), 0, M),              # interest late: yes
    RepaymentPlan(DUES[2], dt.date(2026, 4, 5), 100 * M, M),         # early, but 03-10 principal unpaid: yes
    RepaymentPlan(DUES[1], dt.date(2026, 4, 20), 100 * M, 0),        # the rest of 03-10: yes
    RepaymentPlan(DUES[3], DUES[3], 60 * M, 0),                      # part of 05-10 on its day: no
    RepaymentPlan(DUES[3], dt.date(2026, 5, 8), 0, M),               # recorded later, dated earlier: no
    RepaymentPlan(DUES[3], dt.date(2026, 6, 1), 40 * M, 0),          # the last principal, late: yes; repaid
]


def _application(n: int):
    schedule = tuple(InstallmentIn(d, 100 * M, M) for d in DUES)
    return application(f"R-{n}", principal=400 * M, drawdown=DRAWDOWN, maturity_date=DUES[-1], schedule=schedule,
                       borrower_n=n, assets=(asset(owner_credit_code=uscc(n)),))


@pytest.fixture
def setup(session_factory):
    with unit_of_work(session_factory) as s:
        actors = setup_reference(s)
        ids = [register_loan(s, actors["BANK1"], _application(n), BD).id for n in (1, 2)]
    return actors, ids


def _state(session_factory, loan_id):
    with unit_of_work(session_factory) as s:
        loan = s.get(Loan, loan_id)
        repayments = s.execute(
            select(Installment.due_date, Repayment.paid_on, Repayment.principal_fen, Repayment.interest_fen,
                   Repayment.loan_status_at_payment, Repayment.past_due_at_payment)
            .join(Installment, Installment.id == Repayment.installment_id)
            .where(Repayment.loan_id == loan_id).order_by(Repayment.id)
        ).all()
        installments = s.execute(
            select(Installment.due_date, Installment.principal_paid_fen, Installment.interest_paid_fen)
            .where(Installment.loan_id == loan_id).order_by(Installment.due_date)
        ).all()
        events = s.execute(
            select(LoanEvent.event, LoanEvent.from_status, LoanEvent.to_status, LoanEvent.business_date)
            .where(LoanEvent.loan_id == loan_id).order_by(LoanEvent.id)
        ).all()
        return loan.status, loan.principal_repaid_fen, [tuple(r) for r in repayments], [tuple(i) for i in installments], [tuple(e) for e in events]


def test_bulk_path_matches_the_service_payment_by_payment(session_factory, setup):
    actors, (by_service, by_bulk) = setup
    bank = actors["BANK1"]
    for plan in SEQUENCE:  # one transaction each through the service
        with unit_of_work(session_factory) as s:
            record_repayment(s, bank, by_service, plan.due_date, plan.paid_on, plan.principal_fen, plan.interest_fen, BD)
    with unit_of_work(session_factory) as s:  # first three in one call, the rest in another
        assert len(record_repayments(s, bank, [(by_bulk, p) for p in SEQUENCE[:3]], BD)) == 3
    with unit_of_work(session_factory) as s:
        assert len(record_repayments(s, bank, [(by_bulk, p) for p in SEQUENCE[3:]], BD)) == 4

    service, bulk = _state(session_factory, by_service), _state(session_factory, by_bulk)
    assert service == bulk
    status, repaid, repayments, _installments, events = bulk
    assert (status, repaid) == ("repaid", 400 * M)
    assert [r[5] for r in repayments] == [False, True, True, True, False, False, True]
    assert [e[:3] for e in events] == [("registered", None, "active"), ("all_repaid", "active", "repaid")]


def _bad_payments(actors, loan_id):
    bank, other_bank, manager = actors["BANK1"], actors["BANK2"], actors["FM"]
    ok = RepaymentPlan(DUES[0], DUES[0], 0, M)
    return [
        (other_bank, loan_id, ok, "loan_not_found"),
        (manager, loan_id, ok, "forbidden"),
        (bank, loan_id + 1000, ok, "loan_not_found"),
        (bank, loan_id, RepaymentPlan(DUES[0], DUES[0], 0, 0), "invalid_amount"),
        (bank, loan_id, RepaymentPlan(DUES[0], DUES[0], -1, 5), "invalid_amount"),
        (bank, loan_id, RepaymentPlan(DUES[0], BD + dt.timedelta(days=1), 0, M), "dated_after_business_date"),
        (bank, loan_id, RepaymentPlan(DUES[0], DRAWDOWN - dt.timedelta(days=1), 0, M), "paid_before_drawdown"),
        (bank, loan_id, RepaymentPlan(dt.date(2026, 2, 11), DUES[0], 0, M), "unknown_installment"),
        (bank, loan_id, RepaymentPlan(DUES[0], DUES[0], 100 * M + 1, 0), "repayment_exceeds_due"),
        (bank, loan_id, RepaymentPlan(DUES[0], DUES[0], 0, M + 1), "repayment_exceeds_due"),
    ]


def _refusal(call):
    """The (code, field) of the refusal; a batch refusal of one item is that item's."""
    with pytest.raises(DomainError) as caught:
        call()
    error = caught.value
    if isinstance(error, BatchRefused):
        assert len(error.items) == 1
        error = error.items[0][1]
    return error.code, error.field


def test_bulk_path_refuses_what_the_service_refuses(session_factory, setup):
    actors, (by_service, by_bulk) = setup
    for (actor, loan_id, plan, code), (_, bulk_loan_id, _, _) in zip(_bad_payments(actors, by_service), _bad_payments(actors, by_bulk)):
        def service_call():
            with unit_of_work(session_factory) as s:
                record_repayment(s, actor, loan_id, plan.due_date, plan.paid_on, plan.principal_fen, plan.interest_fen, BD)

        def bulk_call():
            with unit_of_work(session_factory) as s:
                record_repayments(s, actor, [(bulk_loan_id, plan)], BD)

        service, bulk = _refusal(service_call), _refusal(bulk_call)
        assert service == bulk and service[0] == code, (code, service, bulk)
    with unit_of_work(session_factory) as s:
        assert s.scalar(select(func.count()).select_from(Repayment)) == 0

    # A closed loan (repaid) takes no repayment on either path.
    for loan_id in (by_service, by_bulk):
        with unit_of_work(session_factory) as s:
            record_repayments(s, actors["BANK1"], [(loan_id, p) for p in SEQUENCE], BD)
    late = RepaymentPlan(DUES[0], DUES[0], 0, 1)
    assert _refusal(lambda: _service_once(session_factory, actors["BANK1"], by_service, late)) == (
        _refusal(lambda: _bulk_once(session_factory, actors["BANK1"], by_bulk, late))) == ("loan_not_open", "loan_id")


def _service_once(session_factory, bank, loan_id, plan):
    with unit_of_work(session_factory) as s:
        record_repayment(s, bank, loan_id, plan.due_date, plan.paid_on, plan.principal_fen, plan.interest_fen, BD)


def _bulk_once(session_factory, bank, loan_id, plan):
    with unit_of_work(session_factory) as s:
        record_repayments(s, bank, [(loan_id, plan)], BD)


def test_a_refused_payment_in_a_batch_writes_nothing_of_the_batch(session_factory, setup):
    actors, (_, loan_id) = setup
    batch = [(loan_id, SEQUENCE[0]), (loan_id, RepaymentPlan(DUES[0], DUES[0], 1, 0))]  # 02-10 principal already paid
    with pytest.raises(BatchRefused) as caught:
        _bulk_batch(session_factory, actors["BANK1"], batch)
    assert [(i, e.code) for i, e in caught.value.items] == [(1, "repayment_exceeds_due")]
    status, repaid, repayments, installments, _ = _state(session_factory, loan_id)
    assert (status, repaid, repayments) == ("active", 0, [])
    assert all(i[1:] == (0, 0) for i in installments)


def _bulk_batch(session_factory, bank, batch):
    with unit_of_work(session_factory) as s:
        record_repayments(s, bank, batch, BD)
