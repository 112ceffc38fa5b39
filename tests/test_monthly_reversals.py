"""Monthly statistics (docs/rules.md section 13) count a reversed repayment as never paid, in every
month: a repayment reversed as recorded in error (section 3) leaves its installment unpaid, so its loan
is past due at the month's end and its principal is still outstanding. Both backends."""

from __future__ import annotations

import datetime as dt

import pytest

from fund.services.monthly import monthly_statistics
from fund.services.repayment_reversals import reverse_repayment
from fund.settings import reset_settings_cache
from tests.factories import bullet_schedule
from tests.test_claims_support import World

pytestmark = pytest.mark.db
DRAWDOWN = dt.date(2026, 1, 15)
PRINCIPAL = 1_000_000_000


@pytest.fixture
def world(session_factory, monkeypatch):
    monkeypatch.setenv("IPFUND_BUSINESS_DATE", "2026-04-30")
    reset_settings_cache()
    yield World.create(session_factory)
    reset_settings_cache()


def _statistics(world: World, month: str):
    with world.session() as s:
        return monthly_statistics(s, world.fm, month)


def test_a_reversed_repayment_paid_nothing_in_any_month(world):
    """Two equal loans, each paying February's interest on its due date; one bank then reverses its
    repayment (in April). At the end of March the reversed loan's February installment is unpaid
    (44 days past due, bucket 31-90), the other loan is current."""
    schedule = bullet_schedule(PRINCIPAL, DRAWDOWN, 12, interest=3_000_000)
    kept = world.register("BANK1", drawdown=DRAWDOWN, borrower_n=1, principal=PRINCIPAL, schedule=schedule)
    undone = world.register("BANK1", drawdown=DRAWDOWN, borrower_n=2, principal=PRINCIPAL, schedule=schedule)
    february, march = dt.date(2026, 2, 15), dt.date(2026, 3, 15)
    for loan in (kept, undone):
        world.repay("BANK1", loan.id, february, february, 0, 3_000_000)
        world.repay("BANK1", loan.id, march, march, 0, 3_000_000)
    before = _statistics(world, "2026-03")
    assert sum(b.loans for b in before.past_due.values()) == 0
    with world.session() as s:
        from sqlalchemy import select

        from fund.adapters.models.registry import Repayment

        repayment_id = s.scalar(select(Repayment.id).where(Repayment.loan_id == undone.id, Repayment.paid_on == february))
        reverse_repayment(s, world.actors["BANK1"], undone.id, repayment_id, "entered against the wrong loan", dt.date(2026, 4, 20))
    after = _statistics(world, "2026-03")
    assert {name: (b.loans, b.outstanding_fen) for name, b in after.past_due.items() if b.loans} == {"31-90": (1, PRINCIPAL)}
    assert after.leverage.live_covered_fen == before.leverage.live_covered_fen  # both loans still live and covered
    april = _statistics(world, "2026-04")  # at April's end: February unpaid 74 days; the other's April due 15 days
    assert {name: b.loans for name, b in april.past_due.items() if b.loans} == {"31-90": 1, "1-30": 1}
