"""Survivors of the mutation run over fund/domain/registry.py (docs/mutation.md), killed by pinning
rule C as docs/rules.md section 3 states it, without a database: each outright refusal with its
code, the field it names and its message; the dates of section 0 on a registration; the
eligibility reasons in their order; and the covered principal C with the borrower's quota."""

from __future__ import annotations

import datetime as dt

import pytest

from fund.domain import registry
from fund.domain.policy import shipped_policy
from fund.domain.registry import BorrowerFacts, InstallmentIn
from fund.errors import DomainError
from tests.factories import application, asset, with_

D = dt.date
BD = D(2026, 10, 31)
GZ2023, GZ2020 = shipped_policy("gz-2023"), shipped_policy("gz-2020")
SECTORS = ("next_generation_it, new_energy_vehicles, biomedicine_health, new_materials_chemicals, rail_transit, "
           "energy_environment, intelligent_equipment, satellite_beidou, other")
KINDS = "invention_patent, utility_model, design_patent, trademark, geographical_indication, ic_layout"
LEGAL = "valid, pending, lapsed, invalidated, expired"


def _refused(app, business_date=BD):
    with pytest.raises(DomainError) as refused:
        registry.check_application(app, business_date)
    return refused.value.code, refused.value.field, str(refused.value)


def test_a_good_application_passes_every_check():
    app = application("OK")
    registry.check_application(app, BD)
    registry.check_scheme_parties(app, GZ2023)
    # the edges that are still allowed: one bp of IP share, all of it, a rate of 1 bp, pd 0 and 10000,
    # a principal of exactly 10^12, a zero insurer limit
    for changes in ({"ip_share_bp": 1}, {"ip_share_bp": 10_000}, {"contract_rate_bp": 1}, {"pd_bp": 0}, {"pd_bp": 10_000},
                    {"insurer_limit_fen": 0}):
        registry.check_application(with_(app, **changes), BD)
    big = application("BIG", principal=10**12)
    registry.check_application(big, BD)


@pytest.mark.parametrize(("changes", "expected"), [
    ({"principal_fen": 0}, ("invalid_principal", "principal_fen", "principal_fen must be > 0, got 0")),
    ({"principal_fen": -5}, ("invalid_principal", "principal_fen", "principal_fen must be > 0, got -5")),
    ({"ip_share_bp": 0}, ("invalid_ip_share", "ip_share_bp", "ip_share_bp must be 1..10000, got 0")),
    ({"ip_share_bp": 10_001}, ("invalid_ip_share", "ip_share_bp", "ip_share_bp must be 1..10000, got 10001")),
    ({"contract_rate_bp": 0}, ("invalid_rate", "contract_rate_bp", "contract_rate_bp must be >= 1, got 0")),
    ({"pd_bp": -1}, ("invalid_pd", "pd_bp", "pd_bp must be 0..10000, got -1")),
    ({"pd_bp": 10_001}, ("invalid_pd", "pd_bp", "pd_bp must be 0..10000, got 10001")),
    ({"insurer_limit_fen": -1}, ("invalid_amount", "insurer_limit_fen", "insurer_limit_fen must be >= 0 fen, got -1")),
    ({"assets": ()}, ("no_pledged_asset", "assets", "a loan must pledge at least one IP asset")),
])
def test_each_outright_refusal_names_its_field(changes, expected):
    assert _refused(with_(application("R"), **changes)) == expected


def test_a_principal_above_ten_to_the_twelve_is_refused():
    app = application("HUGE", principal=10**12 + 1)
    assert _refused(app) == ("amount_too_large", "principal_fen", "principal_fen must be at most 10^12 fen, got 1000000000001")


def test_maturity_must_follow_the_drawdown():
    base = application("M")
    for maturity in (base.drawdown_date, base.drawdown_date - dt.timedelta(days=1)):
        app = with_(base, maturity_date=maturity, schedule=(InstallmentIn(base.drawdown_date, base.principal_fen, 0),))
        assert _refused(app) == ("maturity_not_after_drawdown", "maturity_date", "maturity_date must be after drawdown_date")
    registry.check_application(with_(base, maturity_date=base.drawdown_date + dt.timedelta(days=1),
                                     schedule=(InstallmentIn(base.drawdown_date + dt.timedelta(days=1), base.principal_fen, 0),)), BD)


def test_the_sector_kind_and_legal_status_are_from_their_lists():
    base = application("S")
    bad_sector = with_(base, borrower=with_(base.borrower, sector="mining"))
    assert _refused(bad_sector) == ("invalid_sector", "borrower.sector", f"borrower.sector must be one of {SECTORS}")
    second = asset()
    bad_kind = with_(base, assets=(base.assets[0], with_(second, kind="copyright")))
    assert _refused(bad_kind) == ("invalid_ip_kind", "assets[1].kind", f"assets[1].kind must be one of {KINDS}")
    bad_status = with_(base, assets=(base.assets[0], with_(second, legal_status="void")))
    assert _refused(bad_status) == ("invalid_legal_status", "assets[1].legal_status",
                                    f"assets[1].legal_status must be one of {LEGAL}")
    for status in LEGAL.split(", "):
        registry.check_application(with_(base, assets=(with_(base.assets[0], legal_status=status),)), BD)


def test_an_asset_is_appraised_in_fen_and_pledged_once_per_loan():
    base = application("A")
    first, second = base.assets[0], asset()
    bad_value = with_(base, assets=(first, with_(second, appraised_value_fen=-1)))
    assert _refused(bad_value) == ("invalid_amount", "assets[1].appraised_value_fen",
                                   "assets[1].appraised_value_fen must be >= 0 fen, got -1")
    twice = with_(base, assets=(first, second, with_(second, title="again")))
    assert _refused(twice) == ("duplicate_asset", "assets[2].number", "assets[2] is pledged twice in this loan")
    # the same number under another kind is another asset
    trademark = asset("trademark", serial=77)
    registry.check_application(with_(base, assets=(trademark, with_(trademark, kind="geographical_indication"))), BD)


def test_the_schedule_adds_up_to_the_principal_inside_drawdown_to_maturity_once_a_date():
    base = application("SCH")
    sched, draw, mat = list(base.schedule), base.drawdown_date, base.maturity_date
    assert _refused(with_(base, schedule=())) == ("schedule_mismatch", "schedule", "the repayment schedule is empty")
    short = with_(base, schedule=tuple(sched[:-1]))
    assert _refused(short) == ("schedule_mismatch", "schedule",
                               "the schedule's principal dues add up to 0 fen, not the principal 1000000000")
    twice = with_(base, schedule=(*sched[:-1], InstallmentIn(sched[0].due_date, sched[-1].principal_due_fen, 0)))
    assert _refused(twice) == ("schedule_mismatch", "schedule[11].due_date",
                               f"schedule[11]: two installments fall due on {sched[0].due_date}")
    after = with_(base, schedule=(*sched[:-1], InstallmentIn(mat + dt.timedelta(days=1), sched[-1].principal_due_fen, 0)))
    assert _refused(after) == ("schedule_mismatch", "schedule[11].due_date",
                               f"schedule[11]: due date {mat + dt.timedelta(days=1)} is outside drawdown..maturity")
    before = with_(base, schedule=(InstallmentIn(draw - dt.timedelta(days=1), 0, 10), *sched))
    assert _refused(before) == ("schedule_mismatch", "schedule[0].due_date",
                                f"schedule[0]: due date {draw - dt.timedelta(days=1)} is outside drawdown..maturity")
    # both ends are inside
    ends = with_(base, schedule=(InstallmentIn(draw, 1, 0), InstallmentIn(mat, base.principal_fen - 1, 0)))
    registry.check_application(ends, BD)
    negative = with_(base, schedule=(InstallmentIn(mat, base.principal_fen, -1),))
    assert _refused(negative) == ("invalid_amount", "schedule[0].interest_due_fen",
                                  "schedule[0].interest_due_fen must be >= 0 fen, got -1")
    negative_principal = with_(base, schedule=(InstallmentIn(draw, -1, 0), InstallmentIn(mat, base.principal_fen + 1, 0)))
    assert _refused(negative_principal) == ("invalid_amount", "schedule[0].principal_due_fen",
                                            "schedule[0].principal_due_fen must be >= 0 fen, got -1")


def test_events_are_not_dated_after_the_business_date_and_schedule_dates_may_be():
    base = application("DT", drawdown=D(2026, 10, 1))  # maturity and dues in 2027
    registry.check_application(base, D(2026, 10, 1))
    after = D(2026, 10, 2)
    for field_name, app in (
        ("drawdown_date", with_(base, drawdown_date=after)),
        ("borrower.registered_on", with_(base, borrower=with_(base.borrower, registered_on=after))),
        ("pledge_registered_on", with_(base, pledge_registered_on=after)),
        ("assets[0].filing_date", with_(base, assets=(with_(base.assets[0], filing_date=after),))),
        ("assets[0].grant_date", with_(base, assets=(with_(base.assets[0], grant_date=after),))),
        ("assets[0].appraised_on", with_(base, assets=(with_(base.assets[0], appraised_on=after),))),
    ):
        with pytest.raises(DomainError) as refused:
            registry.check_application_dates(app, D(2026, 10, 1))
        assert (refused.value.code, refused.value.field) == ("dated_after_business_date", field_name)


def test_no_date_before_1900_and_no_grant_before_its_filing():
    base = application("OLD")
    old = D(1899, 12, 31)
    for field_name, app in (
        ("maturity_date", with_(base, maturity_date=old)),
        ("schedule[3].due_date", with_(base, schedule=tuple(with_(i, due_date=old) if n == 3 else i
                                                            for n, i in enumerate(base.schedule)))),
        ("assets[0].filing_date", with_(base, assets=(with_(base.assets[0], filing_date=old),))),
    ):
        with pytest.raises(DomainError) as refused:
            registry.check_application_dates(app, BD)
        assert (refused.value.code, refused.value.field) == ("date_before_1900", field_name)
    filed = base.assets[0].filing_date
    early = with_(base, assets=(with_(base.assets[0], grant_date=filed - dt.timedelta(days=1)),))
    with pytest.raises(DomainError) as refused:
        registry.check_application_dates(early, BD)
    assert (refused.value.code, refused.value.field) == ("granted_before_filing", "assets[0].grant_date")
    assert str(refused.value) == f"assets[0].grant_date {filed - dt.timedelta(days=1)} is before its filing date {filed}"
    registry.check_application_dates(with_(base, assets=(with_(base.assets[0], grant_date=filed),)), BD)


def test_the_scheme_must_be_the_policys_and_name_its_parties():
    app = application("SCHEME")
    with pytest.raises(DomainError) as refused:
        registry.check_scheme_parties(with_(app, scheme_code="5311"), GZ2023)
    assert (refused.value.code, refused.value.field, str(refused.value)) == (
        "unknown_scheme", "scheme_code", "policy gz-2023 has no scheme '5311'")
    old = application("OLD", drawdown=D(2021, 3, 1), scheme="5311")
    with pytest.raises(DomainError) as refused:
        registry.check_scheme_parties(with_(old, appraiser_code="APR1"), GZ2020)
    assert (refused.value.code, refused.value.field, str(refused.value)) == (
        "missing_party", "insurer_code", "scheme 5311 names an insurer or guarantor: insurer_code is required")
    with pytest.raises(DomainError) as refused:
        registry.check_scheme_parties(with_(old, insurer_code="INS1"), GZ2020)
    assert (refused.value.code, refused.value.field, str(refused.value)) == (
        "missing_party", "appraiser_code", "scheme 5311 names an appraiser: appraiser_code is required")
    registry.check_scheme_parties(with_(old, insurer_code="INS1", appraiser_code="APR1"), GZ2020)
    registry.check_scheme_parties(with_(old, scheme_code="541", insurer_code="INS1"), GZ2020)  # 541 names no appraiser


# --------------------------------------------------------------------------------------------------
# eligibility and C

GOOD = BorrowerFacts(registered_on=D(2015, 1, 1), is_sme=True, clean_credit=True)


def test_an_eligible_loan_has_no_reason_and_its_ip_part_floored():
    app = application("E", principal=1_000_000_003, ip_share_bp=5000)
    decision = registry.decide_eligibility(app, GZ2023, GOOD)
    assert decision == registry.EligibilityDecision(True, (), 500_000_001, 500_000_001)


def test_every_failing_condition_gives_its_reason_in_the_tables_order():
    app = application("BAD", drawdown=D(2026, 1, 15), assets=(asset(legal_status="lapsed"),))
    bad = BorrowerFacts(registered_on=D(2025, 6, 1), is_sme=False, clean_credit=False)
    decision = registry.decide_eligibility(app, GZ2023, bad)
    assert decision.eligible is False
    assert decision.reasons == ("not_sme", "registered_too_recently", "bad_credit_record", "no_eligible_asset_in_force")
    no_policy = registry.decide_eligibility(application("NP"), None, GOOD)
    assert (no_policy.eligible, no_policy.reasons) == (False, ("no_active_policy",))
    assert no_policy.capped_fen == no_policy.ip_part_fen == 1_000_000_000


def test_registration_in_the_city_at_least_min_registration_years_before_drawdown():
    app = application("REG", drawdown=D(2026, 1, 15))
    exactly = BorrowerFacts(registered_on=D(2025, 1, 15), is_sme=True, clean_credit=True)  # on drawdown less 1 year
    assert registry.decide_eligibility(app, GZ2023, exactly).reasons == ()
    a_day_late = BorrowerFacts(registered_on=D(2025, 1, 16), is_sme=True, clean_credit=True)
    assert registry.decide_eligibility(app, GZ2023, a_day_late).reasons == ("registered_too_recently",)
    # without a policy the default is one year too
    assert registry.decide_eligibility(app, None, a_day_late).reasons == ("no_active_policy", "registered_too_recently")
    assert registry.decide_eligibility(app, None, exactly).reasons == ("no_active_policy",)


def test_an_eligible_asset_is_of_a_covered_kind_and_valid():
    # gz-2020 covers patents and utility models and designs, not trademarks
    draw = D(2021, 3, 1)
    trademark = application("TM", drawdown=draw, assets=(asset("trademark"),))
    assert registry.decide_eligibility(trademark, GZ2020, GOOD).reasons == ("no_eligible_asset_in_force",)
    mixed = application("MIX", drawdown=draw, assets=(asset("trademark"), asset(legal_status="pending"), asset()))
    assert registry.decide_eligibility(mixed, GZ2020, GOOD).reasons == ()
    for status in ("pending", "lapsed", "invalidated", "expired"):
        app = application("ST", drawdown=draw, assets=(asset(legal_status=status),))
        assert registry.decide_eligibility(app, GZ2020, GOOD).reasons == ("no_eligible_asset_in_force",)


def test_c_is_the_smallest_of_ip_part_single_loan_cap_and_quota_left():
    big = application("BIGC", principal=3_000_000_000, ip_share_bp=5000)  # ip part 1 500 000 000
    decision = registry.decide_eligibility(big, GZ2023, GOOD)
    assert (decision.ip_part_fen, decision.capped_fen) == (1_500_000_000, 1_000_000_000)  # gz-2023's single-loan cap
    no_cap = registry.decide_eligibility(application("NC", principal=3_000_000_000, drawdown=D(2021, 3, 1)), GZ2020, GOOD)
    assert no_cap.capped_fen == 3_000_000_000  # gz-2020 has none
    quota = 2_000_000_000
    assert registry.apply_quota(decision, quota, 0) == registry.Coverage(True, (), 1_500_000_000, 1_000_000_000, 1_000_000_000, ())
    assert registry.apply_quota(decision, quota, 1_000_000_000) == registry.Coverage(
        True, (), 1_500_000_000, 1_000_000_000, 1_000_000_000, ())  # the quota left is exactly enough
    assert registry.apply_quota(decision, quota, 1_600_000_000) == registry.Coverage(
        True, (), 1_500_000_000, 400_000_000, 400_000_000, ("borrower_quota_limited",))
    assert registry.apply_quota(decision, quota, 2_000_000_000) == registry.Coverage(
        True, (), 1_500_000_000, 0, 0, ("borrower_quota_exhausted",))
    assert registry.apply_quota(decision, quota, 2_500_000_000) == registry.Coverage(
        True, (), 1_500_000_000, 0, 0, ("borrower_quota_exhausted",))  # never negative
    assert registry.apply_quota(no_cap, None, 10**15) == registry.Coverage(True, (), 3_000_000_000, 3_000_000_000, 3_000_000_000, ())


def test_an_ineligible_loan_is_covered_for_nothing_and_takes_no_quota():
    app = application("IN")
    decision = registry.decide_eligibility(app, GZ2023, BorrowerFacts(D(2015, 1, 1), is_sme=False, clean_credit=True))
    assert registry.apply_quota(decision, 2_000_000_000, 0) == registry.Coverage(False, ("not_sme",), 1_000_000_000, 0, 0, ())
    assert registry.apply_quota(decision, None, 0) == registry.Coverage(False, ("not_sme",), 1_000_000_000, 0, 0, ())


def test_min_registration_years_is_the_policys_own():
    from dataclasses import replace

    two_years = replace(GZ2023, min_registration_years=2)
    none_needed = replace(GZ2023, min_registration_years=0)
    app = application("YEARS", drawdown=D(2026, 1, 15))
    eighteen_months = BorrowerFacts(registered_on=D(2024, 7, 15), is_sme=True, clean_credit=True)
    assert registry.decide_eligibility(app, GZ2023, eighteen_months).reasons == ()
    assert registry.decide_eligibility(app, two_years, eighteen_months).reasons == ("registered_too_recently",)
    on_the_day = BorrowerFacts(registered_on=D(2026, 1, 15), is_sme=True, clean_credit=True)
    assert registry.decide_eligibility(app, none_needed, on_the_day).reasons == ()
    assert registry.decide_eligibility(app, GZ2023, on_the_day).reasons == ("registered_too_recently",)


def test_a_principal_of_one_fen_is_not_refused():
    # section 3 refuses outright a "principal of 0 or less" (and section 0 one above 10^12): one fen is
    # the smallest principal a loan may have
    registry.check_application(application("ONE", principal=1), BD)
    assert _refused(application("ZERO", principal=0))[:2] == ("invalid_principal", "principal_fen")
