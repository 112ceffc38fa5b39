"""Rule C: covered principal, the borrower quota across banks, eligibility reasons."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from fund.adapters.db import unit_of_work
from fund.adapters.models.registry import Loan
from fund.services.registry import register_loan
from tests.factories import application, asset, borrower, setup_reference, uscc

BD = dt.date(2026, 10, 31)


@pytest.fixture
def actors(session_factory):
    with unit_of_work(session_factory) as s:
        return setup_reference(s)


def register(session_factory, bank, app, **kw):
    with unit_of_work(session_factory) as s:
        loan = register_loan(s, bank, app, BD, **kw)
        return loan


def test_worked_example_covered_principal(session_factory, actors):
    """RULES section 10: one borrower, three loans drawn in 2026 under gz-2023."""
    bank = actors["BANK1"]
    first = register(session_factory, bank, application(principal=1_500_000_000, drawdown=dt.date(2026, 2, 1)))
    second = register(session_factory, bank, application(principal=1_200_000_000, ip_share_bp=5000, drawdown=dt.date(2026, 3, 1)))
    third = register(session_factory, bank, application(principal=800_000_000, drawdown=dt.date(2026, 4, 1)))
    assert (first.ip_part_fen, first.covered_fen) == (1_500_000_000, 1_000_000_000)
    assert (second.ip_part_fen, second.covered_fen) == (600_000_000, 600_000_000)
    assert (third.ip_part_fen, third.covered_fen) == (800_000_000, 400_000_000)
    assert "borrower_quota_limited" in third.flags
    fourth = register(session_factory, actors["BANK2"], application(principal=100_000_000, drawdown=dt.date(2026, 5, 1)))
    assert fourth.coverage == "eligible" and fourth.covered_fen == 0
    assert "borrower_quota_exhausted" in fourth.flags
    assert all(str(a) not in " ".join(fourth.flags) for a in (1_000_000_000, 600_000_000))
    # Another year has its own quota.
    other_year = register(session_factory, bank, application(principal=100_000_000, drawdown=dt.date(2025, 5, 1)))
    assert other_year.covered_fen == 100_000_000


def test_cancelling_gives_the_quota_back(session_factory, actors):
    from fund.services.registry import cancel_loan

    bank = actors["BANK1"]
    big = register(session_factory, bank, application(principal=2_000_000_000, ip_share_bp=10000, drawdown=dt.date(2026, 2, 1)))
    assert big.covered_fen == 1_000_000_000
    second = register(session_factory, bank, application(principal=1_000_000_000, drawdown=dt.date(2026, 2, 2)))
    assert second.covered_fen == 1_000_000_000
    with unit_of_work(session_factory) as s:
        cancel_loan(s, bank, second.id, BD)
    third = register(session_factory, bank, application(principal=1_000_000_000, drawdown=dt.date(2026, 2, 3)))
    assert third.covered_fen == 1_000_000_000


def test_two_banks_racing_for_one_borrowers_quota(session_factory, actors):
    """Concurrent registrations serialise on the quota: together they never exceed it."""
    apps = {
        code: [application(principal=600_000_000, drawdown=dt.date(2026, 6, 1) + dt.timedelta(days=k)) for k in range(3)]
        for code in ("BANK1", "BANK2")
    }
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run(code):
        try:
            barrier.wait()
            for app in apps[code]:
                register(session_factory, actors[code], app)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in apps]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with unit_of_work(session_factory) as s:
        loans = s.query(Loan).order_by(Loan.id).all()
    assert len(loans) == 6
    assert sum(l.covered_fen for l in loans) == 2_000_000_000
    # registration order decides: every loan before the one that hits the quota is fully covered
    covered = [l.covered_fen for l in loans]
    assert covered == sorted(covered, reverse=True)
    assert covered[:3] == [600_000_000] * 3 and covered[3] == 200_000_000 and covered[4:] == [0, 0]


@pytest.mark.parametrize(
    "reason, make",
    [
        ("no_active_policy", lambda: application(drawdown=dt.date(2019, 6, 1), scheme="50")),
        ("not_sme", lambda: application(borrower=borrower(7, is_sme=False), borrower_n=7)),
        ("registered_too_recently", lambda: application(borrower=borrower(8, registered_on=dt.date(2025, 1, 16)), borrower_n=8)),
        ("bad_credit_record", lambda: application(borrower=borrower(9, clean_credit=False), borrower_n=9)),
        ("no_eligible_asset_in_force", lambda: application(assets=(asset(legal_status="lapsed"),))),
        ("no_eligible_asset_in_force", lambda: application(drawdown=dt.date(2021, 3, 1), scheme="55", assets=(asset("trademark"),))),
    ],
)
def test_each_ineligibility_reason(session_factory, actors, reason, make):
    loan = register(session_factory, actors["BANK1"], make())
    assert loan.coverage == "ineligible"
    assert reason in loan.ineligible_reasons
    assert loan.covered_fen == 0


def test_registered_exactly_one_year_before_is_eligible(session_factory, actors):
    app = application(borrower=borrower(10, registered_on=dt.date(2025, 1, 15)), borrower_n=10)
    assert register(session_factory, actors["BANK1"], app).coverage == "eligible"


def test_ineligible_loan_uses_no_quota(session_factory, actors):
    bank = actors["BANK1"]
    register(session_factory, bank, application(principal=3_000_000_000, borrower=borrower(1, is_sme=True), assets=(asset(legal_status="lapsed"),)))
    loan = register(session_factory, bank, application(principal=1_000_000_000))
    assert loan.covered_fen == 1_000_000_000


def test_each_loan_keeps_its_own_banks_borrower_data(session_factory, actors):
    # RULES revision 2: eligibility uses the loan's own borrower data (revision 1 used the master data
    # of the first registration and flagged the second bank's loan borrower_data_differs); a bank never
    # learns what another bank reported; the fund manager gets the differences.
    from fund.errors import Forbidden
    from fund.services.borrowers import borrower_differences_in
    from fund.services.reports import loan_detail

    first = register(session_factory, actors["BANK1"], application())
    loan = register(session_factory, actors["BANK2"], application(borrower=borrower(1, name="Other name", is_sme=False)))
    assert loan.coverage == "ineligible" and loan.ineligible_reasons == ["not_sme"]  # its own report decides
    assert "borrower_data_differs" not in loan.flags and loan.flags == []
    assert (loan.borrower_name, loan.borrower_is_sme) == ("Other name", False)
    with unit_of_work(session_factory) as s:
        assert s.get(type(first), first.id).coverage == "eligible"
        assert loan_detail(s, loan.id)["borrower"]["name"] == "Other name"
        assert loan_detail(s, first.id)["borrower"]["name"] == "Enterprise 1"
        [difference] = borrower_differences_in(s, actors["FM"])
        assert difference.credit_code == uscc(1) and difference.fields == ("name", "is_sme")
        assert [(r.bank, r.loan_id, r.name, r.is_sme) for r in difference.reports] == [
            ("BANK1", first.id, "Enterprise 1", True), ("BANK2", loan.id, "Other name", False)]
        assert len(borrower_differences_in(s, actors["AUD"])) == 1
        with pytest.raises(Forbidden):
            borrower_differences_in(s, actors["BANK1"])


def test_one_banks_own_differing_reports_are_not_a_difference_between_banks(session_factory, actors):
    from fund.services.borrowers import borrower_differences_in

    register(session_factory, actors["BANK1"], application(borrower=borrower(3, district="Tianhe"), borrower_n=3))
    register(session_factory, actors["BANK1"], application(borrower=borrower(3, district="Yuexiu"), borrower_n=3))
    register(session_factory, actors["BANK2"], application(borrower=borrower(4), borrower_n=4))
    register(session_factory, actors["BANK2"], application(borrower=borrower(3, district="Tianhe"), borrower_n=3))
    with unit_of_work(session_factory) as s:
        [difference] = borrower_differences_in(s, actors["FM"])
        assert difference.fields == ("district",) and len(difference.reports) == 3  # BANK1's Yuexiu vs BANK2's Tianhe


def test_a_pilot_credit_code_needs_the_fund_managers_allowance(session_factory, actors):
    from fund.errors import DomainError, Forbidden
    from fund.services.registry import allow_pilot_code

    good = uscc(11)
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    app = application(borrower=borrower(11, credit_code=bad), assets=(asset(owner_credit_code=good),))
    with pytest.raises(DomainError) as info:
        register(session_factory, actors["BANK1"], app)
    assert info.value.code == "invalid_uscc"
    with pytest.raises(Forbidden):
        with unit_of_work(session_factory) as s:
            allow_pilot_code(s, actors["BANK1"], bad, "the bank says so", BD)
    with pytest.raises(DomainError) as info:
        with unit_of_work(session_factory) as s:
            allow_pilot_code(s, actors["FM"], bad, "   ", BD)
    assert info.value.code == "missing_reason"
    with pytest.raises(DomainError) as info:
        with unit_of_work(session_factory) as s:
            allow_pilot_code(s, actors["FM"], good, "not needed", BD)
    assert info.value.code == "not_a_pilot_code"
    with pytest.raises(DomainError):  # a wrong character set is never a pilot code
        with unit_of_work(session_factory) as s:
            allow_pilot_code(s, actors["FM"], "91350100M000100Y4Z", "early pilot", BD)
    with unit_of_work(session_factory) as s:
        allow_pilot_code(s, actors["FM"], bad, "early pilot code issued 2016", BD)
    loan = register(session_factory, actors["BANK1"], app)
    assert "pilot_credit_code" in loan.flags
    with unit_of_work(session_factory) as s:
        from fund.adapters.models.registry import Enterprise

        assert s.query(Enterprise).filter_by(credit_code=bad).one().credit_code_override_reason == "early pilot code issued 2016"
