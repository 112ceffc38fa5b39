"""The demo book as drawn (no database): deterministic, realistic, and shaped as advertised."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from fund.domain.dates import add_months, add_years
from fund.domain.identifiers import normalize_ip_number, validate_uscc
from fund.domain.policy import load_policy_file, shipped_policy_paths
from fund.domain.registry import SECTORS, BorrowerFacts, check_application, check_scheme_parties, decide_eligibility
from fund.errors import DomainError
from fund.services.demo import (
    DEMO_BUSINESS_DATE,
    FIRST_DRAWDOWN,
    LAST_DRAWDOWN,
    build_demo_book,
)

VALUATION_KEYS = {"revenue_fen", "growth_bp", "royalty_bp", "tax_bp", "discount_bp", "decay_bp"}


@pytest.fixture(scope="module")
def book():
    return build_demo_book(1)


@pytest.fixture(scope="module")
def policies():
    return {p.id: p for p in map(load_policy_file, shipped_policy_paths()) if p.id in ("gz-2020", "gz-2023")}


def test_same_seed_same_book_another_seed_another_book():
    first, again, other = build_demo_book(5, scale=0.05), build_demo_book(5, scale=0.05), build_demo_book(6, scale=0.05)
    assert first == again
    assert [loan.application for loan in first.loans] != [loan.application for loan in other.loans]
    assert 90 <= first.enterprise_count <= 110 and 140 <= len(first.loans) <= 160


@pytest.mark.parametrize("seed, scale", [(-1, 1.0), (1.5, 1.0), (True, 1.0), (1, 0.0), (1, 1.5), (1, float("nan"))])
def test_bad_seed_or_scale_is_refused(seed, scale):
    with pytest.raises(DomainError) as caught:
        build_demo_book(seed, scale=scale)
    assert caught.value.code in ("invalid_seed", "invalid_scale")


def test_parties(book):
    kinds = Counter(spec.kind for spec in book.institutions)
    assert kinds == {"bank": 12, "insurer": 3, "appraiser": 4, "fund_manager": 1, "auditor": 1}
    assert len({spec.code for spec in book.institutions}) == len(book.institutions)
    assert {"ICBC-GZ", "CCB-GZ", "GZCB", "GRCB"} <= {b.code for b in book.banks}
    assert {loan.bank_code for loan in book.loans} == {b.code for b in book.banks}


def test_size_sectors_and_terms(book):
    apps = [loan.application for loan in book.loans]
    assert len(apps) == 3000 and book.enterprise_count == 2000
    assert set(Counter(a.borrower.sector for a in apps)) == set(SECTORS)
    assert len({(loan.bank_code, a.contract_no) for loan, a in zip(book.loans, apps)}) == len(apps)
    for a in apps:
        assert FIRST_DRAWDOWN <= a.drawdown_date <= LAST_DRAWDOWN and a.drawdown_date.weekday() < 5
        assert 100_000_000 <= a.principal_fen <= 3_000_000_000
        assert 300 <= a.contract_rate_bp <= 600 and 3000 <= a.ip_share_bp <= 10_000
        check_application(a, DEMO_BUSINESS_DATE)  # nothing the registry refuses outright
    assets = Counter(len(a.assets) for a in apps)
    assert assets[1] > 1500 and sum(n for k, n in assets.items() if k > 1) > 300  # combined pledges
    shapes = Counter("bullet" if all(i.principal_due_fen == 0 for i in a.schedule[:-1]) else "amortising" for a in apps)
    assert shapes["bullet"] > 1000 and shapes["amortising"] > 500
    repayments = book.repayment_count
    assert 50_000 <= repayments <= 70_000


def test_schedules_add_up_and_interest_is_one_floor_in_fen(book):
    for loan in book.loans:
        a = loan.application
        assert sum(i.principal_due_fen for i in a.schedule) == a.principal_fen
        assert [i.due_date for i in a.schedule] == [add_months(a.drawdown_date, k) for k in range(1, len(a.schedule) + 1)]
        assert a.maturity_date == a.schedule[-1].due_date
        outstanding, previous = a.principal_fen, a.drawdown_date
        for inst in a.schedule:
            assert inst.interest_due_fen == outstanding * a.contract_rate_bp * (inst.due_date - previous).days // (10_000 * 360)
            outstanding -= inst.principal_due_fen
            previous = inst.due_date


def test_identifiers_are_valid_and_unique(book):
    codes = {}
    numbers = set()
    for loan in book.loans:
        b = loan.application.borrower
        assert validate_uscc(b.credit_code) == b.credit_code and b.credit_code[2:4] == "44"
        assert codes.setdefault(b.credit_code, b.name) == b.name
        for asset in loan.application.assets:
            assert normalize_ip_number(asset.kind, asset.number) == asset.number
            assert (asset.kind, asset.number) not in numbers  # no asset is pledged twice
            numbers.add((asset.kind, asset.number))
            assert asset.owner_credit_code == b.credit_code
            assert asset.filing_date <= (asset.grant_date or asset.filing_date) <= asset.appraised_on
            assert asset.appraised_on <= loan.application.drawdown_date
    assert len(set(codes.values())) == len(codes)  # names are unique too


def test_schemes_and_parties_follow_the_policy_in_force(book, policies):
    schemes = Counter()
    for loan in book.loans:
        a = loan.application
        policy = next(p for p in policies.values() if p.in_force(a.drawdown_date))
        assert loan.policy_id == policy.id
        check_scheme_parties(a, policy)
        scheme = policy.scheme(a.scheme_code)
        assert bool(a.insurer_code) == scheme.names_insurer and bool(a.appraiser_code) == scheme.names_appraiser
        assert (a.insurer_limit_fen is not None) == scheme.names_insurer
        schemes[policy.id, a.scheme_code] += 1
    assert set(schemes) == {("gz-2020", "55"), ("gz-2020", "5311"), ("gz-2020", "541"), ("gz-2023", "50")}


def test_every_ineligibility_reason_the_window_allows(book, policies):
    """The shipped gz-2020 and gz-2023 leave no day of the drawdown window without a policy, so
    ``no_active_policy`` cannot occur; every other reason does."""
    day = FIRST_DRAWDOWN
    while day <= LAST_DRAWDOWN:
        assert any(p.in_force(day) for p in policies.values()), day
        day += dt.timedelta(days=1)
    reasons = Counter()
    for loan in book.loans:  # RULES revision 2: each loan's own borrower data decide (not the first registration's)
        a = loan.application
        facts = BorrowerFacts(a.borrower.registered_on, a.borrower.is_sme, a.borrower.clean_credit)
        policy = next(p for p in policies.values() if p.in_force(a.drawdown_date))
        reasons.update(decide_eligibility(a, policy, facts).reasons)
    assert set(reasons) == {"not_sme", "registered_too_recently", "bad_credit_record", "no_eligible_asset_in_force"}
    assert all(n >= 20 for n in reasons.values()), reasons
    assert sum(reasons.values()) < 0.12 * len(book.loans)
    trademark_only_2020 = [l for l in book.loans if l.policy_id == "gz-2020" and {a.kind for a in l.application.assets} == {"trademark"}]
    lapsed_only = [l for l in book.loans if {a.legal_status for a in l.application.assets} == {"lapsed"}]
    assert trademark_only_2020 and lapsed_only


def test_valuation_inputs_for_the_income_approach(book):
    with_inputs = [a for loan in book.loans for a in loan.application.assets if a.valuation_inputs]
    assert len(with_inputs) > 1000
    for asset in with_inputs:
        assert set(asset.valuation_inputs) == VALUATION_KEYS
        assert all(type(v) is int for v in asset.valuation_inputs.values())
        assert 0 < asset.valuation_inputs["revenue_fen"] <= 10**12 and asset.valuation_inputs["tax_bp"] in (1500, 2500)


def test_repayments_late_payers_and_missed_installments(book):
    behaviours = Counter(loan.behaviour for loan in book.loans)
    assert behaviours["defaulted"] >= 40 and behaviours["late_payer"] > 200 and behaviours["cancelled"] >= 5
    late = 0
    claimable_from = DEMO_BUSINESS_DATE - dt.timedelta(days=365 + 90)
    for loan in book.loans:
        a, plans = loan.application, loan.repayments
        paid = Counter()
        for plan in plans:
            assert a.drawdown_date < plan.due_date <= plan.paid_on <= DEMO_BUSINESS_DATE
            paid[plan.due_date, "p"] += plan.principal_fen
            paid[plan.due_date, "i"] += plan.interest_fen
            late += plan.paid_on > plan.due_date
        for inst in a.schedule:
            assert paid[inst.due_date, "p"] <= inst.principal_due_fen and paid[inst.due_date, "i"] <= inst.interest_due_fen
        principal_paid = sum(p.principal_fen for p in plans)
        if principal_paid == a.principal_fen:  # the payment that repays the principal is the last one
            assert plans[-1].principal_fen > 0 and all(p.paid_on <= plans[-1].paid_on for p in plans)
        if loan.cancelled:
            assert plans == ()
        if loan.behaviour == "defaulted":
            missed = [i for i in a.schedule if paid[i.due_date, "p"] < i.principal_due_fen or paid[i.due_date, "i"] < i.interest_due_fen]
            first = missed[0].due_date
            assert first < DEMO_BUSINESS_DATE - dt.timedelta(days=90) and first >= claimable_from
            assert all(paid[i.due_date, "p"] == paid[i.due_date, "i"] == 0 for i in missed)
    assert late > 1000


def test_appropriations_follow_the_active_policies(book):
    compensation = [(a.policy_id, a.on.year, a.amount_fen) for a in book.appropriations if a.pool == "compensation"]
    assert compensation == [("gz-2020", 2020, 4_000_000_000)] + [("gz-2023", y, 5_000_000_000) for y in (2023, 2024, 2025, 2026)]
    subsidy = [a for a in book.appropriations if a.pool == "subsidy"]
    assert subsidy and all(a.amount_fen > 0 and a.on <= DEMO_BUSINESS_DATE for a in subsidy)
    assert [a.on for a in book.appropriations] == sorted(a.on for a in book.appropriations)


def test_registration_dates_make_the_recent_borrowers_recent(book):
    first_loan = {}
    for loan in book.loans:
        first_loan.setdefault(loan.application.borrower.credit_code, loan.application)
    recent = [a for a in first_loan.values() if a.borrower.registered_on > add_years(a.drawdown_date, -1)]
    assert 20 <= len(recent) <= 60
    assert all(a.borrower.registered_on <= a.drawdown_date for a in first_loan.values())
