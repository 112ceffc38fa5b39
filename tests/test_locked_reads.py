"""A locked read decides on the row as it stands (fund.adapters.dialect.for_update): a session that
loaded a loan before another transaction repaid it does not write the loan back with its old
figures. Both backends."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from fund.adapters.dialect import for_update
from fund.adapters.models.registry import Loan
from fund.services.registry import loan_for, record_repayment
from tests.test_claims_support import World

D = dt.date
DRAWDOWN = D(2026, 1, 15)
PAID_ON = D(2026, 2, 10)


def test_a_locked_select_reads_its_rows_again(session_factory):
    with session_factory() as s:
        statement = for_update(s, select(Loan))
    assert statement.get_execution_options().get("populate_existing") is True


def test_a_repayment_on_a_loan_loaded_before_another_repayment_loses_neither(session_factory):
    world = World.create(session_factory)
    loan = world.register(drawdown=DRAWDOWN, principal=100_000_000)
    bank = world.actors["BANK1"]
    s = session_factory()   # one session, two transactions: it keeps its Loan past the first commit
    try:
        with s.begin():
            seen = loan_for(s, bank, loan.id)
            assert seen.principal_repaid_fen == 0
        world.repay("BANK1", loan.id, D(2027, 1, 15), PAID_ON, 3_000_000)   # another transaction
        with s.begin():
            record_repayment(s, bank, loan.id, D(2027, 1, 15), PAID_ON, 2_000_000, 0, PAID_ON)
    finally:
        s.close()
    with world.session() as s:
        assert s.get(Loan, loan.id).principal_repaid_fen == 5_000_000
