"""Fee lines in the monthly run (docs/rules.md section 5, S4 with S6), with hypothesis: for random books
of repayments and fees, random subsidy pool cash and a random month, the preview of the month equals
the run that follows it (interest lines and fee lines, each with its paid and deferred part, and every
total); a later month, after fees reported late, again; and after the runs a loan's fee subsidies of
one kind never pass the cap, insurance and guarantee are never both on one loan, the fees a run took
keep their subsidy (final), and the ledger check is empty."""

from __future__ import annotations

import datetime as dt
import itertools
import shutil

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from fund.adapters.db import make_engine, make_session_factory, unit_of_work
from fund.adapters.models.pool import LoanFee
from fund.domain.dates import add_months
from fund.domain.fees import FEE_KINDS
from fund.domain.money import apply_bp
from fund.errors import DomainError
from fund.services.fees import FeeIn, record_fee
from fund.services.ledger import appropriate, check_ledger
from fund.services.registry import record_repayment, register_loan
from fund.services.subsidies import preview_month, run_month, statement_rows, statement_scope
from tests.conftest import _truncate_postgres
from tests.factories import application, borrower, bullet_schedule, setup_reference

RATIO, CAP = 5000, 5_000_000  # gz-2023
DRAWDOWN = dt.date(2024, 3, 15)  # LPR 345 bp
TODAY = dt.date(2024, 9, 30)
MONTHS = ("2024-03", "2024-04", "2024-05", "2024-06", "2024-07", "2024-08", "2024-09")
_serial = itertools.count(1)

fee = st.tuples(st.integers(0, 2), st.sampled_from(FEE_KINDS), st.integers(1, 12_000_000), st.integers(-40, 199))
book_strategy = st.fixed_dictionaries({
    "loans": st.lists(st.tuples(st.integers(0, 1), st.integers(1_000, 5_000_000), st.integers(0, 6)), min_size=1, max_size=3),
    "fees": st.lists(fee, max_size=8),
    "late_fees": st.lists(fee, max_size=4),
    "cash": st.sampled_from([0, 1, 2_500_000, 10**12]) | st.integers(0, 12_000_000),
    "month": st.sampled_from(MONTHS),
    "later": st.integers(0, 3),
})


@pytest.fixture
def fresh_book(backend, request, tmp_path):
    """A function that gives each example its own empty book (a copy of the migrated SQLite file, or
    the PostgreSQL database truncated) with the reference data: runs are per month, once."""
    engines = []

    def make():
        if backend == "sqlite":
            path = tmp_path / f"book-{next(_serial)}.sqlite3"
            shutil.copy(request.getfixturevalue("sqlite_template"), path)
            engine = make_engine(f"sqlite:///{path}")
        else:
            engine = make_engine(request.getfixturevalue("postgres_base"))
            _truncate_postgres(engine)
        engines.append(engine)
        db = make_session_factory(engine)
        with unit_of_work(db) as session:
            actors = setup_reference(session)
        return db, actors

    yield make
    for engine in engines:
        engine.dispose()


def _record_fees(db, bank, loan_ids, fees) -> None:
    for n, kind, amount, offset in fees:
        loan_id = loan_ids[n % len(loan_ids)]
        paid_on = min(DRAWDOWN + dt.timedelta(days=offset), TODAY)
        try:
            with unit_of_work(db) as session:
                record_fee(session, bank, loan_id, FeeIn(kind, amount, paid_on, "穗评估所", f"H-{next(_serial)}"), TODAY)
        except DomainError as exc:
            assert exc.code == "fee_kind_excluded"


def _preview_then_run(db, fm, month):
    """The preview of ``month``, then the run: both as the run's statement and figures show them."""
    with unit_of_work(db) as session:
        preview = preview_month(session, month, TODAY, actor=fm)
    with unit_of_work(db) as session:
        result = run_month(session, month, TODAY, actor=fm)
    with unit_of_work(db) as session:
        rows = list(statement_rows(session, statement_scope(session, fm, run_id=result.run_id)))
    return preview, result, rows


def _check_equal(preview, result, rows) -> None:
    assert result.created and preview.already_run is None
    figures = ("line_count", "capped_count", "computed_fen", "total_fen", "paid_fen", "deferred_fen", "fee_line_count",
               "fee_capped_count", "fee_computed_fen", "fee_total_fen")
    assert {f: getattr(preview, f) for f in figures} == {f: getattr(result, f) for f in figures}
    interest = [r for r in rows if r.line_kind == "interest"]
    fee_rows = [r for r in rows if r.line_kind != "interest"]
    assert rows == interest + fee_rows  # interest lines first, then the fee lines
    assert [(ln.repayment_id, ln.computed_fen, ln.amount_fen, ln.capped, ln.paid_fen, ln.deferred_fen) for ln in preview.lines] == [
        (r.repayment_id, r.computed_fen, r.amount_fen, r.capped, r.paid_fen, r.deferred_fen) for r in interest]
    assert [(ln.fee_id, ln.kind, ln.fee_fen, ln.paid_on, ln.computed_fen, ln.amount_fen, ln.capped, ln.paid_fen, ln.deferred_fen)
            for ln in preview.fee_lines] == [
        (r.fee_id, r.line_kind, r.fee_fen, r.paid_on, r.computed_fen, r.amount_fen, r.capped, r.paid_fen, r.deferred_fen)
        for r in fee_rows]
    assert sum(r.paid_fen for r in rows) == result.paid_fen and sum(r.deferred_fen for r in rows) == result.deferred_fen


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(book=book_strategy)
def test_the_preview_equals_the_run_and_the_fee_caps_hold_after_it(fresh_book, book):
    db, actors = fresh_book()
    bank, fm = actors["BANK1"], actors["FM"]
    with unit_of_work(db) as session:
        loan_ids = []
        for share_pick, interest, repaid in book["loans"]:
            n = 20_000 + next(_serial)
            app = application(drawdown=DRAWDOWN, ip_share_bp=(10_000, 6_000)[share_pick], borrower_n=n, borrower=borrower(n),
                              maturity_date=add_months(DRAWDOWN, 12),
                              schedule=bullet_schedule(1_000_000_000, DRAWDOWN, 12, interest=interest))
            loan_ids.append((register_loan(session, bank, app, TODAY).id, interest, repaid))
    with unit_of_work(db) as session:
        for loan_id, interest, repaid in loan_ids:
            for k in range(1, repaid + 1):
                due = add_months(DRAWDOWN, k)
                if due <= TODAY:
                    record_repayment(session, bank, loan_id, due, due, 0, interest, TODAY)
    ids = [loan_id for loan_id, _, _ in loan_ids]
    _record_fees(db, bank, ids, book["fees"])
    if book["cash"]:
        with unit_of_work(db) as session:
            appropriate(session, pool="subsidy", amount_fen=book["cash"], policy_id="gz-2023", business_date=TODAY)

    month = book["month"]
    preview, result, rows = _preview_then_run(db, fm, month)
    _check_equal(preview, result, rows)
    event(f"fee lines: {'some' if result.fee_line_count else 'none'}, capped: {'some' if result.fee_capped_count else 'none'}")
    event(f"pool: {'deferred' if result.deferred_fen else 'paid in full'}; interest lines: {'some' if result.line_count else 'none'}")
    with unit_of_work(db) as session:
        taken = {f.id: (f.subsidy_fen, f.capped) for f in session.scalars(select(LoanFee).where(LoanFee.run_id == result.run_id))}
    last_day = add_months(dt.date.fromisoformat(month + "-01"), 1) - dt.timedelta(days=1)
    assert all(r.paid_on <= last_day for r in rows)

    # fees reported late (earlier dates too), then a later month: the preview equals the run again
    _record_fees(db, bank, ids, book["late_fees"])
    later = MONTHS[min(len(MONTHS) - 1, MONTHS.index(month) + book["later"])]
    if later != month:
        _check_equal(*_preview_then_run(db, fm, later))
    else:
        with unit_of_work(db) as session:
            again = preview_month(session, month, TODAY, actor=fm)
            assert (again.already_run, again.total_fen, again.fee_lines) == (result.run_id, 0, ())
            assert run_month(session, month, TODAY, actor=fm).created is False

    with unit_of_work(db) as session:
        fees = list(session.scalars(select(LoanFee).where(LoanFee.loan_id.in_(ids))))
        assert check_ledger(session) == []
    assert {f.id: (f.subsidy_fen, f.capped) for f in fees if f.id in taken} == taken  # a fee a run paid is final
    for loan_id in ids:
        mine = [f for f in fees if f.loan_id == loan_id]
        kinds = {f.kind for f in mine}
        assert not {"insurance", "guarantee"} <= kinds
        for kind in kinds:
            assert sum(f.subsidy_fen for f in mine if f.kind == kind) <= CAP
        assert all(0 <= f.subsidy_fen <= apply_bp(f.amount_fen, RATIO) for f in mine)
