"""RULES revision 2 on the registry, both backends: ``repaid`` only when every installment is paid in
full (principal and interest), interest due after the last principal recorded and subsidised, the
payment that completes a loan earning its subsidy (S1), and section 0's dates (events not after the
business date, schedule dates ahead allowed, a grant not before its filing, nothing before 1900)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from fund.adapters.db import unit_of_work
from fund.adapters.models.registry import Enterprise, Installment, IpAsset, Loan, LprRate, Repayment
from fund.adapters.models.subsidies import SubsidyLine
from fund.domain.dates import month_bounds
from fund.domain.registry import InstallmentIn
from fund.errors import DomainError
from fund.services.lpr import add_publication, check_through
from fund.services.registry import record_repayment, register_loan
from fund.services.subsidies import run_month
from fund.services.valuation import revalue_book
from tests.factories import application, asset, setup_reference, with_

BD = dt.date(2026, 10, 31)
D = dt.date
DRAWDOWN = D(2024, 3, 15)  # gz-2023, LPR 345 bp
BEFORE_1900 = D(1899, 12, 31)


@pytest.fixture
def actors(session_factory):
    with unit_of_work(session_factory) as s:
        return setup_reference(s)


def _register(session_factory, actors, app, on=BD):
    with unit_of_work(session_factory) as s:
        return register_loan(s, actors["BANK1"], app, on)


def _repay(session_factory, actors, loan_id, due, paid_on, principal, interest):
    with unit_of_work(session_factory) as s:
        return record_repayment(s, actors["BANK1"], loan_id, due, paid_on, principal, interest, BD)


def _status(session_factory, loan_id):
    with unit_of_work(session_factory) as s:
        return s.get(Loan, loan_id).status


def _two_installments(principal=1_000_000, first_interest=3_875_000, last_interest=500_000, **kw):
    """All principal in the first installment; the second is interest only."""
    first, last = D(2024, 9, 15), D(2025, 3, 15)
    return application(
        principal=principal, drawdown=DRAWDOWN, maturity_date=last,
        schedule=(InstallmentIn(first, principal, first_interest), InstallmentIn(last, 0, last_interest)), **kw,
    )


def test_repaid_only_when_every_installment_is_paid_in_full(session_factory, actors):
    loan = _register(session_factory, actors, _two_installments())
    _repay(session_factory, actors, loan.id, D(2024, 9, 15), D(2024, 9, 15), 1_000_000, 3_875_000)
    assert _status(session_factory, loan.id) == "active"  # principal all repaid, interest still due
    # the interest due after the last principal can be recorded (revision 1 refused it: loan repaid)
    _repay(session_factory, actors, loan.id, D(2025, 3, 15), D(2025, 3, 10), 0, 499_999)
    assert _status(session_factory, loan.id) == "active"  # one fen of interest still due
    _repay(session_factory, actors, loan.id, D(2025, 3, 15), D(2025, 3, 15), 0, 1)
    assert _status(session_factory, loan.id) == "repaid"
    with pytest.raises(DomainError) as info:
        _repay(session_factory, actors, loan.id, D(2025, 3, 15), D(2025, 3, 15), 0, 1)
    assert info.value.code == "loan_not_open"


def test_interest_after_the_last_principal_and_the_completing_payment_are_subsidised(session_factory, actors):
    loan = _register(session_factory, actors, _two_installments())
    _repay(session_factory, actors, loan.id, D(2024, 9, 15), D(2024, 9, 15), 1_000_000, 3_875_000)
    completing = _repay(session_factory, actors, loan.id, D(2025, 3, 15), D(2025, 3, 15), 0, 500_000)
    assert _status(session_factory, loan.id) == "repaid"
    with unit_of_work(session_factory) as s:
        run = run_month(s, "2025-03", BD, actor=actors["FM"])
        lines = {line.repayment_id: line.amount_fen for line in s.scalars(select(SubsidyLine))}
    # S1: the loan was active just before the payment that completed it; S2 with gz-2023's
    # parameters (RULES section 10: 3 875 000 of interest earns 1 736 201)
    assert lines[completing.id] == 500_000 * 69 // 154
    assert len(lines) == 2 and sorted(lines.values()) == sorted([1_736_201, 500_000 * 69 // 154])
    assert run.line_count == 2


def test_schedule_dates_may_lie_ahead_events_may_not(session_factory, actors):
    ahead = application(drawdown=BD, months=12)  # maturity and every due date after the business date
    loan = _register(session_factory, actors, ahead)
    assert loan.maturity_date > BD and loan.status == "active"
    base = application(drawdown=D(2026, 1, 15))
    a = base.assets[0]
    later = BD + dt.timedelta(days=1)
    cases = {
        "drawdown_date": with_(base, drawdown_date=later, maturity_date=D(2028, 1, 1)),
        "borrower.registered_on": with_(base, borrower=with_(base.borrower, registered_on=later)),
        "pledge_registered_on": with_(base, pledge_registered_on=later),
        "assets[0].filing_date": with_(base, assets=(with_(a, filing_date=later),)),
        "assets[0].grant_date": with_(base, assets=(with_(a, grant_date=later),)),
        "assets[0].appraised_on": with_(base, assets=(with_(a, appraised_on=later),)),
    }
    for field_name, app in cases.items():
        with pytest.raises(DomainError) as info:
            _register(session_factory, actors, app)
        assert (info.value.code, info.value.field) == ("dated_after_business_date", field_name)
    with pytest.raises(DomainError) as info:
        _repay(session_factory, actors, loan.id, ahead.schedule[0].due_date, later, 0, 1)
    assert (info.value.code, info.value.field) == ("dated_after_business_date", "paid_on")


def test_a_grant_is_not_dated_before_its_filing(session_factory, actors):
    base = application()
    filed = base.assets[0].filing_date
    with pytest.raises(DomainError) as info:
        _register(session_factory, actors, with_(base, assets=(with_(base.assets[0], grant_date=filed - dt.timedelta(days=1)),)))
    assert (info.value.code, info.value.field) == ("granted_before_filing", "assets[0].grant_date")
    loan = _register(session_factory, actors, with_(base, assets=(asset(grant_date=filed),)))  # the same day is fine
    with unit_of_work(session_factory) as s:
        assert s.scalar(select(IpAsset.grant_date).where(IpAsset.number == base.assets[0].number)) is None
        assert s.get(Loan, loan.id) is not None


def _counts(session_factory):
    with unit_of_work(session_factory) as s:
        return tuple(s.scalar(select(func.count()).select_from(m)) for m in (Loan, Enterprise, IpAsset, Installment, Repayment, LprRate))


def test_dates_before_1900_are_refused_everywhere(session_factory, actors):
    base = application(drawdown=D(2026, 1, 15))
    a = base.assets[0]
    early = with_(base, schedule=(InstallmentIn(BEFORE_1900, 0, 1), *base.schedule))
    cases = {
        "drawdown_date": with_(base, drawdown_date=BEFORE_1900),
        "maturity_date": with_(base, maturity_date=BEFORE_1900),
        "schedule[0].due_date": early,
        "borrower.registered_on": with_(base, borrower=with_(base.borrower, registered_on=BEFORE_1900)),
        "pledge_registered_on": with_(base, pledge_registered_on=BEFORE_1900),
        "assets[0].filing_date": with_(base, assets=(with_(a, filing_date=BEFORE_1900),)),
        "assets[0].grant_date": with_(base, assets=(with_(a, grant_date=BEFORE_1900),)),
        "assets[0].appraised_on": with_(base, assets=(with_(a, appraised_on=BEFORE_1900),)),
    }
    before = _counts(session_factory)
    for field_name, app in cases.items():
        with pytest.raises(DomainError) as info:
            _register(session_factory, actors, app)
        assert (info.value.code, info.value.field) == ("date_before_1900", field_name), info.value.message
        assert "1900-01-01" in info.value.message
    assert _counts(session_factory) == before
    assert _register(session_factory, actors, with_(base, borrower=with_(base.borrower, registered_on=D(1900, 1, 1)))).id

    loan = _register(session_factory, actors, application(drawdown=D(2026, 1, 15)))
    refusals = [
        ("paid_on", lambda s: record_repayment(s, actors["BANK1"], loan.id, D(2026, 2, 15), BEFORE_1900, 0, 1, BD)),
        ("due_date", lambda s: record_repayment(s, actors["BANK1"], loan.id, BEFORE_1900, D(2026, 2, 15), 0, 1, BD)),
        ("published_on", lambda s: add_publication(s, BEFORE_1900, 300)),
        ("date", lambda s: check_through(s, BEFORE_1900, BD)),
    ]
    before = _counts(session_factory)
    for field_name, call in refusals:
        with pytest.raises(DomainError) as info:
            with unit_of_work(session_factory) as s:
                call(s)
        assert (info.value.code, info.value.field) == ("date_before_1900", field_name), info.value.message
    with pytest.raises(DomainError) as info:
        revalue_book(session_factory, BEFORE_1900)
    assert (info.value.code, info.value.field) == ("date_before_1900", "as_of")
    assert _counts(session_factory) == before


def test_a_month_before_1900_is_refused(session_factory, actors):
    with pytest.raises(ValueError, match="before 1900"):
        month_bounds("1899-12")
    assert month_bounds("1900-01")[0] == D(1900, 1, 1)
    with pytest.raises(DomainError) as info:
        with unit_of_work(session_factory) as s:
            run_month(s, "1899-12", BD, actor=actors["FM"])
    assert (info.value.code, info.value.field) == ("invalid_month", "month")


def test_the_cli_refuses_dates_before_1900_in_one_line(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from fund.cli.main import app
    from fund.settings import reset_settings_cache

    monkeypatch.setenv("IPFUND_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    reset_settings_cache()
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    for args in (["business-date", "set", "1899-12-31"], ["report", "portfolio", "--as-of", "1899-12-31"]):
        result = runner.invoke(app, args)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert result.exit_code == 1 and len(lines) == 1 and "before 1900-01-01" in lines[0], result.output
