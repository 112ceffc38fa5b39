"""Repayment reversals (docs/rules.md section 3), both backends: a record of its own, the installment
and the loan's status move back, refused after a claim or a subsidy run for the month or later, once
only, and only by the loan's bank."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from fund.adapters.models.people import AuditRecord
from fund.adapters.models.registry import Installment, Loan, Repayment
from fund.errors import DomainError
from fund.services import repayment_reversals
from tests.test_claims_support import World

D = dt.date


@pytest.fixture
def world(session_factory) -> World:
    return World.create(session_factory)


def _reverse(world: World, loan_id: int, repayment_id: int, bank: str = "BANK1", reason: str = "entered twice"):
    return repayment_reversals.reverse(world.session_factory, world.actors[bank], loan_id, repayment_id, reason)


def test_reversing_the_last_repayment_makes_a_repaid_loan_active(world):
    loan = world.register(drawdown=D(2025, 1, 15), months=2, principal=1_000_000)
    with world.session() as s:
        dues = [i.due_date for i in s.scalars(select(Installment).where(Installment.loan_id == loan.id).order_by(Installment.due_date))]
    world.repay("BANK1", loan.id, dues[0], dues[0], 0, 1_000_000)
    last = world.repay("BANK1", loan.id, dues[1], dues[1], 1_000_000, 1_000_000)
    assert world.loan_status(loan.id) == "repaid"
    with world.session() as s:
        repayment_id = s.scalar(select(Repayment.id).where(Repayment.loan_id == loan.id).order_by(Repayment.id.desc()))
    view = _reverse(world, loan.id, repayment_id)
    assert view.loan_status == "active" == world.loan_status(loan.id)
    with world.session() as s:
        inst = s.scalar(select(Installment).where(Installment.loan_id == loan.id, Installment.due_date == dues[1]))
        assert (inst.principal_paid_fen, inst.interest_paid_fen) == (0, 0)
        assert s.get(Loan, loan.id).principal_repaid_fen == 0
        assert s.get(Repayment, repayment_id).principal_fen == 1_000_000  # the repayment itself is never changed
    with pytest.raises(DomainError) as info:
        _reverse(world, loan.id, repayment_id)
    assert info.value.code == "already_reversed"
    with pytest.raises(DomainError) as info:
        _reverse(world, loan.id, repayment_id, bank="BANK2")
    assert info.value.code == "loan_not_found"
    with world.session() as s:
        trail = [(r.outcome, r.error_code) for r in s.scalars(
            select(AuditRecord).where(AuditRecord.target == f"repayment:{repayment_id}").order_by(AuditRecord.id))]
    assert trail == [("done", None), ("refused", "already_reversed"), ("refused", "loan_not_found")]
    assert last is not None


def test_no_reversal_once_a_claim_was_filed(world):
    loan = world.register(drawdown=D(2026, 1, 15))
    world.repay("BANK1", loan.id, D(2026, 2, 15), D(2026, 2, 15), 0, 1_000_000)
    claim = world.file(loan.id, 100_000, D(2026, 7, 1))
    world.withdraw(claim.id, D(2026, 7, 2))
    with world.session() as s:
        repayment_id = s.scalar(select(Repayment.id).where(Repayment.loan_id == loan.id))
    with pytest.raises(DomainError) as info:
        _reverse(world, loan.id, repayment_id)
    assert info.value.code == "loan_has_claim"


def test_no_reversal_once_the_month_or_a_later_one_was_run(world):
    from fund.services.subsidies import run_month

    loan = world.register(drawdown=D(2025, 1, 15))
    world.repay("BANK1", loan.id, D(2025, 2, 15), D(2025, 2, 15), 0, 1_000_000)
    with world.session() as s:
        repayment_id = s.scalar(select(Repayment.id).where(Repayment.loan_id == loan.id))
        run_month(s, "2025-03", D(2026, 10, 31), actor=world.fm)
    with pytest.raises(DomainError) as info:
        _reverse(world, loan.id, repayment_id)
    assert info.value.code == "subsidy_run_exists"


def test_a_reason_is_needed(world):
    loan = world.register(drawdown=D(2026, 1, 15))
    world.repay("BANK1", loan.id, D(2026, 2, 15), D(2026, 2, 15), 0, 1_000_000)
    with world.session() as s:
        repayment_id = s.scalar(select(Repayment.id).where(Repayment.loan_id == loan.id))
    with pytest.raises(DomainError) as info:
        _reverse(world, loan.id, repayment_id, reason="  ")
    assert info.value.code == "missing_reason"


def test_a_reversed_repayment_is_neither_subsidised_nor_blocks_cancelling(world):
    from fund.services.registry import cancel_loan
    from fund.services.subsidies import run_month

    loan = world.register(drawdown=D(2025, 1, 15))
    world.repay("BANK1", loan.id, D(2025, 2, 15), D(2025, 2, 15), 0, 1_000_000)
    with world.session() as s:
        repayment_id = s.scalar(select(Repayment.id).where(Repayment.loan_id == loan.id))
    _reverse(world, loan.id, repayment_id)
    with world.session() as s:
        assert run_month(s, "2025-02", D(2026, 10, 31), actor=world.fm).line_count == 0
        cancel_loan(s, world.actors["BANK1"], loan.id, D(2026, 10, 31))
    assert world.loan_status(loan.id) == "cancelled"


def test_leverage_counts_appropriations_not_reversed(world):
    from fund.services import ledger

    with world.session() as s:
        ledger.appropriate(s, pool="compensation", amount_fen=1_000, policy_id=None, business_date=D(2026, 1, 5))
        entry = ledger.appropriate(s, pool="compensation", amount_fen=500, policy_id=None, business_date=D(2026, 1, 5)).entry_id
        ledger.post_entry(s, cause="correction", policy_id=None, business_date=D(2026, 1, 6), ref_type="journal_entry", ref_id=entry,
                          postings=[("equity:appropriations", 500), ("pool:compensation:cash", -500)])
        assert ledger.appropriated_fen(s, "compensation") == 1_000
