"""S6 properties (docs/rules.md section 5), with hypothesis: a loan's fee subsidies of one kind never
pass the cap, whatever the fees and the order they are reported in; insurance and guarantee are never
both on one loan; each fee gets at most floor(fee * ratio / 10000)."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fund.adapters.db import unit_of_work
from fund.domain.fees import FEE_KINDS, fill_cap
from fund.domain.money import apply_bp
from fund.errors import DomainError
from fund.services.fees import FeeIn, list_fees, record_fee
from fund.services.registry import register_loans
from tests.factories import application, setup_reference

RATIO, CAP = 5000, 5_000_000  # gz-2023
TODAY = dt.date(2027, 6, 1)
_serial = itertools.count(1)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(1, 20_000_000), max_size=12), st.integers(0, 10000), st.integers(0, 20_000_000))
def test_fill_cap_never_passes_the_cap_and_never_gives_more_than_the_ratio(amounts, ratio, cap):
    out = fill_cap(amounts, ratio, cap)
    assert sum(s.subsidy_fen for s in out) <= cap
    for amount, s in zip(amounts, out):
        assert 0 <= s.subsidy_fen <= apply_bp(amount, ratio)
        assert s.capped == (s.subsidy_fen < apply_bp(amount, ratio))
    # the cap binds only when the fees ask for more than it
    assert sum(s.subsidy_fen for s in out) == min(cap, sum(apply_bp(a, ratio) for a in amounts))


fees = st.lists(st.tuples(st.sampled_from(FEE_KINDS), st.integers(1, 8_000_000), st.integers(-60, 500)), min_size=1, max_size=8)


@pytest.fixture
def book(session_factory):
    with unit_of_work(session_factory) as session:
        actors = setup_reference(session)
    return session_factory, actors


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(reported=fees)
def test_reported_fees_of_a_loan_never_pass_the_cap_and_never_mix_insurance_and_guarantee(book, reported):
    db, actors = book
    bank = actors["BANK1"]
    drawdown = dt.date(2026, 1, 15)
    with unit_of_work(db) as session:
        loan = register_loans(session, bank, [application(drawdown=drawdown, borrower_n=9000 + next(_serial))], TODAY)[0]
        loan_id = loan.id
    for kind, amount, offset in reported:
        paid_on = min(drawdown + dt.timedelta(days=offset), TODAY)
        try:
            with unit_of_work(db) as session:
                record_fee(session, bank, loan_id, FeeIn(kind, amount, paid_on, "issuer", f"P-{next(_serial)}"), TODAY)
        except DomainError as exc:
            assert exc.code == "fee_kind_excluded"
    rows = list_fees(db, bank, loan_id=loan_id)
    kinds = {r.kind for r in rows}
    assert not {"insurance", "guarantee"} <= kinds
    for kind in kinds:
        mine = [r for r in rows if r.kind == kind]
        assert sum(r.subsidy_fen for r in mine) <= CAP
        assert all(0 <= r.subsidy_fen <= apply_bp(r.amount_fen, RATIO) for r in mine)
        # fees paid after add_months(drawdown, 12) do not count
        assert all(r.subsidy_fen == 0 for r in mine if r.paid_on > dt.date(2027, 1, 15))
        counting = sorted((r for r in mine if r.paid_on <= dt.date(2027, 1, 15)), key=lambda r: (r.paid_on, r.id))
        assert [r.subsidy_fen for r in counting] == [s.subsidy_fen for s in fill_cap([r.amount_fen for r in counting], RATIO, CAP)]
