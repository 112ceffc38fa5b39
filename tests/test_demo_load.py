"""Loading the demo book through the services: the rules hold, loading twice changes nothing, another
book is refused, an interrupted load resumes. The full default book runs on SQLite only (on
PostgreSQL it takes well over 20 s); a small scale runs on both backends."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

import fund.services.demo as demo
from fund.adapters.db import unit_of_work
from fund.adapters.models.base import Base
from fund.adapters.models.registry import Enterprise, Institution, Loan, Repayment
from fund.domain.registry import SECTORS
from fund.errors import DomainError
from fund.services.common import BUSINESS_DATE_KEY, get_setting
from fund.services.ledger import balances, check_ledger
from fund.services.borrowers import borrower_differences_in
from fund.services.registry import Actor, register_loan
from fund.services.reports import _earliest_unpaid, portfolio_report
from tests.factories import application, setup_reference

pytestmark = pytest.mark.db
SMALL = 0.03
BD = dt.date(2026, 10, 31)


def snapshot(session_factory):
    """Row counts of every table, ledger balances and a few sums: what "nothing changed" compares."""
    with unit_of_work(session_factory) as s:
        counts = {t.name: s.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables}
        sums = s.execute(select(func.sum(Loan.principal_repaid_fen), func.sum(Loan.covered_fen), func.count(Loan.id).filter(Loan.status == "repaid"))).one()
        return counts, balances(s), tuple(sums)


def expected_statuses(book):
    out = {}
    for loan in book.loans:
        # RULES revision 2: repaid when every installment is paid in full, principal and interest
        paid: dict = {}
        for p in loan.repayments:
            principal, interest = paid.get(p.due_date, (0, 0))
            paid[p.due_date] = (principal + p.principal_fen, interest + p.interest_fen)
        repaid = all(paid.get(i.due_date, (0, 0)) == (i.principal_due_fen, i.interest_due_fen) for i in loan.application.schedule)
        out[loan.bank_code, loan.application.contract_no] = "cancelled" if loan.cancelled else ("repaid" if repaid else "active")
    return out


def stored_statuses(session_factory):
    with unit_of_work(session_factory) as s:
        return dict(((code, contract), status) for code, contract, status in s.execute(
            select(Institution.code, Loan.contract_no, Loan.status).join(Institution, Institution.id == Loan.bank_id)))


def test_small_book_loads_through_the_rules_and_twice_changes_nothing(session_factory):
    book = demo.build_demo_book(2, scale=SMALL)
    summary = demo.load_demo(session_factory, seed=2, scale=SMALL)
    assert f"{len(book.loans)} loans" in summary and "business date 2026-10-31" in summary
    with unit_of_work(session_factory) as s:
        assert get_setting(s, BUSINESS_DATE_KEY) == "2026-10-31"
        assert s.scalar(select(func.count()).select_from(Repayment)) == book.repayment_count
        assert s.scalar(select(func.count()).select_from(Enterprise)) == book.enterprise_count
        assert check_ledger(s) == []
        assert balances(s)["equity:appropriations"] == -sum(a.amount_fen for a in book.appropriations)
        report = portfolio_report(s)
    assert stored_statuses(session_factory) == expected_statuses(book)
    assert report["loans"] == len(book.loans) and all(report["by_sector"][key]["count"] > 0 for key in SECTORS)
    assert report["past_due"]["by_days"]["91+"] >= 1

    before = snapshot(session_factory)
    again = demo.load_demo(session_factory, seed=2, scale=SMALL)
    assert "already loaded" in again and "nothing changed" in again
    assert snapshot(session_factory) == before


def test_another_book_or_foreign_loans_are_refused_or_left_alone(session_factory):
    demo.load_demo(session_factory, seed=2, scale=SMALL)
    before = snapshot(session_factory)
    with pytest.raises(DomainError) as caught:
        demo.load_demo(session_factory, seed=3, scale=SMALL)
    assert caught.value.code == "database_not_empty" and "seed 2" in caught.value.message
    with pytest.raises(DomainError):
        demo.load_demo(session_factory, seed=2)  # the same seed at another scale is another book
    left_alone = demo.load_demo(session_factory, seed=3, scale=SMALL, if_empty=True)
    assert "not loaded" in left_alone
    assert snapshot(session_factory) == before


def test_loans_that_are_not_the_demo_book_are_refused(session_factory):
    with unit_of_work(session_factory) as s:
        actors = setup_reference(s)
        register_loan(s, actors["BANK1"], application(), BD)
    with pytest.raises(DomainError) as caught:
        demo.load_demo(session_factory, seed=1, scale=SMALL)
    assert caught.value.code == "database_not_empty" and "1 loans" in caught.value.message
    assert "not loaded" in demo.load_demo(session_factory, seed=1, scale=SMALL, if_empty=True)
    with unit_of_work(session_factory) as s:
        assert s.scalar(select(func.count()).select_from(Loan)) == 1


def test_an_interrupted_load_resumes_to_the_same_book(session_factory, monkeypatch):
    book = demo.build_demo_book(4, scale=SMALL)
    monkeypatch.setattr(demo, "LOANS_PER_TRANSACTION", 25)
    real_write = demo._write_batch
    calls = []

    def failing_write(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("power cut")
        return real_write(*args, **kwargs)

    monkeypatch.setattr(demo, "_write_batch", failing_write)
    with pytest.raises(RuntimeError):
        demo.load_demo(session_factory, seed=4, scale=SMALL)
    with unit_of_work(session_factory) as s:
        assert s.scalar(select(func.count()).select_from(Loan)) == 50  # two batches committed
    with pytest.raises(DomainError):
        demo.load_demo(session_factory, seed=5, scale=SMALL)  # a half-loaded book is still this seed's
    monkeypatch.setattr(demo, "_write_batch", real_write)
    assert "loaded" in demo.load_demo(session_factory, seed=4, scale=SMALL)
    assert stored_statuses(session_factory) == expected_statuses(book)
    with unit_of_work(session_factory) as s:
        assert s.scalar(select(func.count()).select_from(Repayment)) == book.repayment_count
        assert check_ledger(s) == []
        assert balances(s)["equity:appropriations"] == -sum(a.amount_fen for a in book.appropriations)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_full_default_book(session_factory):
    summary = demo.load_demo(session_factory, seed=1)
    assert "3000 loans" in summary and "2000 enterprises" in summary
    with unit_of_work(session_factory) as s:
        kinds = {kind: n for kind, n in s.execute(select(Institution.kind, func.count()).group_by(Institution.kind))}
        report = portfolio_report(s)
        late = s.scalar(select(func.count()).select_from(Repayment).where(Repayment.past_due_at_payment.is_(True)))
        repayments = s.scalar(select(func.count()).select_from(Repayment))
        assert check_ledger(s) == []
        cash = balances(s)["pool:compensation:cash"]
        # Loans a bank could file a claim on today (rule A1: 90 <= days past due <= 90 + 365, C > 0).
        earliest = _earliest_unpaid(BD)
        claimable = s.scalar(
            select(func.count()).select_from(Loan).join(earliest, earliest.c.loan_id == Loan.id)
            .where(Loan.status == "active", Loan.covered_fen > 0,
                   earliest.c.due_date.between(BD - dt.timedelta(days=455), BD - dt.timedelta(days=90)))
        )
    assert kinds == {"bank": 12, "insurer": 3, "appraiser": 4, "fund_manager": 1, "auditor": 1}
    assert len(report["by_bank"]) == 12 and all(entry["count"] > 100 for entry in report["by_bank"].values())
    assert report["loans"] == 3000 and all(report["by_sector"][key]["count"] > 50 for key in SECTORS)
    # Every ineligibility reason but no_active_policy: gz-2020 and gz-2023 leave no gap in the window.
    assert set(report["ineligible_reasons"]) == {"not_sme", "registered_too_recently", "bad_credit_record", "no_eligible_asset_in_force"}
    assert set(report["by_policy"]) == {"gz-2020", "gz-2023"}
    # RULES revision 2: no loan is flagged because another bank reported its borrower otherwise; the fund
    # manager's report of borrowers whose data differ between banks lists them instead
    assert {"borrower_quota_exhausted", "pledge_rate_exceeded"} <= set(report["flagged"]["by_flag"])
    assert "borrower_data_differs" not in report["flagged"]["by_flag"]
    with unit_of_work(session_factory) as s:
        differences = borrower_differences_in(s, Actor.of(s.scalar(select(Institution).where(Institution.kind == "fund_manager"))))
    assert differences and {f for d in differences for f in d.fields} == {"district"}
    assert report["by_status"]["repaid"]["count"] > 1500 and report["by_status"]["cancelled"]["count"] >= 5
    assert claimable >= 40 and report["past_due"]["by_days"]["91+"] >= 40 and 50_000 <= repayments <= 70_000 and late > 1000
    assert cash == 4_000_000_000 + 4 * 5_000_000_000
    assert report["collateral"]["total"]["model_valued_assets"] > 100

    before = snapshot(session_factory)
    assert "nothing changed" in demo.load_demo(session_factory, seed=1)
    assert snapshot(session_factory) == before
