"""Survivors of the mutation run over risk/valuation.py (docs/mutation.md), killed by pinning rule V
as docs/rules.md section 7 states it and the shapes the CLI and API are given: the bp edge
(``from_bp``: integer bp, rates as fractions), the JSON forms, the assumptions file of V3 (every figure
an integer in its range with a status and a note; the liquidation haircut one figure for all kinds),
the pledge-rate flag (``ip_part x 10000 > sum(rate_bp x appraised value)``, exact), and the quality
features' refusals. Expected figures are worked by hand or read from docs/rules.md section 10.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import tomllib
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from risk import valuation as v
from risk.valuation import Assumption, ValuationInputs

ROOT = Path(__file__).resolve().parent.parent
KINDS_TEXT = "invention_patent, utility_model, design_patent, trademark, geographical_indication, ic_layout"


def refused(message: str):
    return pytest.raises(ValueError, match=f"^{re.escape(message)}$")


def _document() -> dict:
    with open(ROOT / "risk" / "assumptions.toml", "rb") as handle:
        return tomllib.load(handle)


# --------------------------------------------------------------------------------------------------
# the bp edge and the JSON forms


def test_from_bp_takes_integer_bp_and_keeps_every_other_input():
    got = ValuationInputs.from_bp("trademark", dt.date(2018, 5, 10), dt.date(2026, 11, 25), revenue_fen=5_000_000_000,
                                  growth_bp=500, royalty_bp=300, tax_bp=1500, discount_bp=1400, decay_bp=800,
                                  registration_date=dt.date(2019, 1, 2), legal_status="lapsed", quality=0.7)
    assert got == ValuationInputs("trademark", dt.date(2018, 5, 10), dt.date(2026, 11, 25), 5_000_000_000,
                                  0.05, 0.03, 0.15, 0.14, 0.08, dt.date(2019, 1, 2), "lapsed", 0.7)
    plain = ValuationInputs.from_bp("invention_patent", dt.date(2018, 5, 10), dt.date(2026, 11, 25), revenue_fen=1,
                                    growth_bp=-500, royalty_bp=0, tax_bp=0, discount_bp=0, decay_bp=0)
    assert (plain.registration_date, plain.legal_status, plain.quality, plain.growth) == (None, "valid", None, -0.05)


@pytest.mark.parametrize("name", ["growth_bp", "royalty_bp", "tax_bp", "discount_bp", "decay_bp"])
@pytest.mark.parametrize("bad", [1.5, True, "500"])
def test_from_bp_refuses_bp_that_are_not_integers_naming_them(name, bad):
    args = {"revenue_fen": 1, "growth_bp": 0, "royalty_bp": 0, "tax_bp": 0, "discount_bp": 0, "decay_bp": 0} | {name: bad}
    with refused(f"{name} must be an integer number of bp, got {bad!r}"):
        ValuationInputs.from_bp("invention_patent", dt.date(2018, 5, 10), dt.date(2026, 11, 25), **args)


def test_the_json_form_of_inputs():
    inputs = ValuationInputs("trademark", dt.date(2018, 5, 10), dt.date(2026, 11, 25), 7, 0.05, 0.03, 0.15, 0.14, 0.08,
                             dt.date(2019, 1, 2), "lapsed", 0.7)
    assert inputs.as_dict() == {
        "kind": "trademark", "filing_date": "2018-05-10", "registration_date": "2019-01-02", "as_of": "2026-11-25",
        "legal_status": "lapsed", "revenue_fen": 7, "growth": 0.05, "royalty": 0.03, "tax": 0.15, "discount": 0.14,
        "decay": 0.08, "quality": 0.7}
    bare = ValuationInputs("utility_model", dt.date(2020, 1, 1), dt.date(2021, 1, 1), 0, 0.0, 0.0, 0.0, 0.0, 0.0)
    assert bare.as_dict()["registration_date"] is None and bare.as_dict()["quality"] is None
    assert bare.as_dict()["legal_status"] == "valid"


def test_the_json_form_of_the_worked_valuation_of_section_10():
    # invention patent filed 2018-05-10, valued 2026-11-25: R0 5 000 000 000, g 5%, rho 3%, tau 15%, r 14%, d 8%
    result = v.value_asset("invention_patent", dt.date(2018, 5, 10), dt.date(2026, 11, 25), revenue_fen=5_000_000_000,
                           growth=0.05, royalty=0.03, tax=0.15, discount=0.14, decay=0.08)
    d = result.as_dict()
    assert set(d) == {"value_fen", "collateral_value_fen", "life_years", "life_reason", "legal_term_end", "legal_life_years",
                      "royalty_used", "cash_flows_fen", "present_values_fen", "inputs", "assumptions_id"}
    assert (d["value_fen"], d["collateral_value_fen"]) == (572_743_127, 217_642_388)
    assert (d["life_years"], d["life_reason"]) == (10.0, "economic life cap")
    assert round(d["legal_life_years"], 3) == 11.455
    assert d["legal_term_end"] == result.legal_term_end.isoformat() and d["legal_term_end"].startswith("2038-05-")
    assert d["royalty_used"] == 0.03 and d["assumptions_id"] == "rule-v-2026-01"
    assert d["cash_flows_fen"] == list(result.cash_flows_fen) and len(d["cash_flows_fen"]) == 10
    assert d["present_values_fen"] == list(result.present_values_fen) and len(d["present_values_fen"]) == 10
    assert isinstance(d["cash_flows_fen"], list) and isinstance(d["present_values_fen"], list)
    assert d["inputs"] == result.inputs.as_dict() and d["inputs"]["revenue_fen"] == 5_000_000_000
    none = v.value_asset("geographical_indication", dt.date(2018, 5, 10), dt.date(2026, 11, 25), revenue_fen=1,
                         growth=0.0, royalty=0.0, tax=0.0, discount=0.0, decay=0.0)
    assert none.as_dict()["legal_term_end"] is None  # no term (V1)


# --------------------------------------------------------------------------------------------------
# the assumptions file (V3)


def test_the_shipped_assumptions_keep_each_figure_with_its_provenance():
    doc = _document()
    a = v.parse_assumptions(doc)
    assert a.id == "rule-v-2026-01"
    assert dict(a.usual_pledge_rate_bp) == {"invention_patent": 2500, "utility_model": 1500, "design_patent": 1500,
                                            "ic_layout": 1500, "trademark": 5000, "geographical_indication": 5000}
    assert a.liquidation_haircut_bp == 6000
    raw = doc["liquidation_haircut_bp"]["all_kinds"]
    assert a.provenance["liquidation_haircut_bp.all_kinds"] == Assumption(6000, raw["status"], raw["note"])
    raw = doc["economic_life_cap_years"]["invention_patent"]
    assert a.provenance["economic_life_cap_years.invention_patent"] == Assumption(10, raw["status"], raw["note"])
    assert len(a.provenance) == 3 * 6 + 1


def test_assumption_bounds_are_inclusive():
    doc = _document()
    doc["invalidation_probability_bp"]["trademark"]["value"] = 0
    doc["usual_pledge_rate_bp"]["trademark"]["value"] = 10_000
    doc["economic_life_cap_years"]["trademark"]["value"] = 100
    doc["liquidation_haircut_bp"]["all_kinds"]["value"] = 0
    a = v.parse_assumptions(doc)
    assert (a.invalidation_probability_bp["trademark"], a.usual_pledge_rate_bp["trademark"],
            a.economic_life_cap_years["trademark"], a.liquidation_haircut_bp) == (0, 10_000, 100, 0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(id=""), "assumptions id must be a non-empty string"),
        (lambda d: d.update(id=5), "assumptions id must be a non-empty string"),
        (lambda d: d.update(liquidation_haircut_bp=6000), "assumptions table liquidation_haircut_bp must hold exactly all_kinds"),
        (lambda d: d["liquidation_haircut_bp"].update(other=d["liquidation_haircut_bp"]["all_kinds"]),
         "assumptions table liquidation_haircut_bp must hold exactly all_kinds"),
        (lambda d: d["liquidation_haircut_bp"]["all_kinds"].update(value=-1),
         "assumption liquidation_haircut_bp.all_kinds must be an integer in 0..10000, got -1"),
        (lambda d: d["usual_pledge_rate_bp"]["trademark"].update(value=10_001),
         "assumption usual_pledge_rate_bp.trademark must be an integer in 0..10000, got 10001"),
        (lambda d: d["economic_life_cap_years"]["ic_layout"].update(value=0),
         "assumption economic_life_cap_years.ic_layout must be an integer in 1..100, got 0"),
    ],
)
def test_assumption_refusals_name_the_key(change, message):
    doc = copy.deepcopy(_document())
    change(doc)
    with refused(message):
        v.parse_assumptions(doc)


# --------------------------------------------------------------------------------------------------
# the pledge-rate flag (V3)


def test_the_pledge_limit_is_floored_once_over_all_assets():
    doc = _document()
    doc["usual_pledge_rate_bp"]["invention_patent"]["value"] = 1
    one_bp = v.parse_assumptions(doc)
    # 1 bp of 9 999 fen is 0.9999 fen: floored to 0; of 10 000 fen, 1 fen
    assert v.usual_pledge_limit_fen([("invention_patent", 9_999)], one_bp) == 0
    assert v.usual_pledge_limit_fen([("invention_patent", 10_000)], one_bp) == 1
    assert v.usual_pledge_limit_fen([]) == 0
    assert v.usual_pledge_limit_fen([("invention_patent", 0)]) == 0  # an appraised value of 0 is allowed
    assert v.pledge_rate_exceeded(0, []) is False
    assert v.pledge_rate_exceeded(1, [("trademark", 0)]) is True


def test_pledge_refusals():
    with refused(f"kind must be one of {KINDS_TEXT}, got 'song'"):
        v.usual_pledge_limit_fen([("song", 5)])
    with refused("appraised_value_fen must be an integer >= 0, got -1"):
        v.usual_pledge_limit_fen([("trademark", -1)])
    with refused("appraised_value_fen must be an integer >= 0, got 1.5"):
        v.pledge_rate_exceeded(1, [("trademark", 1.5)])
    for bad in (-1, 1.5, True):
        with refused(f"ip_part_fen must be an integer >= 0, got {bad!r}"):
            v.pledge_rate_exceeded(bad, [("trademark", 5)])


# --------------------------------------------------------------------------------------------------
# the quality features


def test_quality_feature_refusals():
    with refused("kind and every quality feature must have the same length"):
        v.quality_scores(["invention_patent", "trademark"], [1], [1], [1], [1.0])
    with refused("forward_citations must be finite and >= 0 (asset 1)"):
        v.quality_scores(["invention_patent", "invention_patent"], [3, 4], [0, -2], [1, 1], [5.0, 5.0])
    with refused("claims_count must be finite and >= 0 (asset 0)"):
        v.quality_scores(["invention_patent"], [float("inf")], [0], [1], [5.0])


# --------------------------------------------------------------------------------------------------
# second round (issue 17): the 2^63 refusal, the two forms at a tie, the array form's kinds and cap

D = dt.date
OVERFLOW = "the inputs imply an amount of 2^63 fen or more{where}; check revenue_fen and growth"


def test_an_amount_past_2_63_fen_is_refused_naming_revenue_and_the_asset():
    # R0 10^12 growing 10 000% a year passes 2^63 fen in year 4: one asset names no index, an array names it
    args = dict(royalty=0.03, tax=0.15, discount=0.14, decay=0.08)
    with refused(OVERFLOW.format(where="")) as scalar:
        v.value_asset("invention_patent", D(2018, 5, 10), D(2026, 11, 25), revenue_fen=10**12, growth=100.0, **args)
    assert (scalar.value.argument, scalar.value.index) == ("revenue_fen", None)
    with refused(OVERFLOW.format(where=" (asset 1)")) as many:
        v.value_assets(["invention_patent"] * 2, [D(2018, 5, 10)] * 2, D(2026, 11, 25), revenue_fen=[1, 10**12],
                       growth=[0.0, 100.0], **args)
    assert (many.value.argument, many.value.index) == ("revenue_fen", 1)
    with refused(OVERFLOW.format(where=" (asset 0)")) as first:
        v.value_assets(["invention_patent"] * 2, [D(2018, 5, 10)] * 2, D(2026, 11, 25), revenue_fen=[10**12, 1],
                       growth=[100.0, 0.0], **args)
    assert (first.value.argument, first.value.index) == ("revenue_fen", 0)


def test_a_sum_past_2_63_fen_is_refused_though_no_year_passes_it():
    # rho 1, no tax, discount or decay, 10 years (the invention cap), R0 10^12 growing 390%: year t is
    # 10^12 x 4.9^t, year 10 about 7.98e18 < 2^63, the ten years together about 1.0e19 >= 2^63
    years = [Fraction(10**12) * Fraction(49, 10) ** t for t in range(1, 11)]
    assert max(years) < 2**63 <= sum(years)
    args = dict(growth=3.9, royalty=1.0, tax=0.0, discount=0.0, decay=0.0)
    with refused(OVERFLOW.format(where="")):
        v.value_asset("invention_patent", D(2020, 1, 1), D(2021, 1, 1), revenue_fen=10**12, **args)
    with refused(OVERFLOW.format(where=" (asset 1)")):
        v.value_assets(["invention_patent"] * 2, [D(2020, 1, 1)] * 2, D(2021, 1, 1), revenue_fen=[1, 10**12], **args)


def _with_caps(**caps: int) -> v.RiskAssumptions:
    doc = _document()
    for kind, years in caps.items():
        doc["economic_life_cap_years"][kind]["value"] = years
    return v.parse_assumptions(doc)


def test_at_a_tie_of_legal_life_and_cap_both_forms_give_the_same_life_and_reason():
    # a cap of 4 years and 1461 days left (4 x 365.25): T = the smaller of two equal lives, 4 years
    four = _with_caps(utility_model=4)
    filing, as_of = D(2017, 3, 1), D(2023, 3, 1)  # the 10th anniversary is 2027-03-01, 1461 days later
    assert (D(2027, 3, 1) - as_of).days == 1461
    one = v.value_asset("utility_model", filing, as_of, assumptions=four, revenue_fen=100_000_000, growth=0.0,
                        royalty=0.05, tax=0.25, discount=0.0, decay=0.0)
    many = v.value_assets(["utility_model"], [filing], as_of, assumptions=four, revenue_fen=[100_000_000], growth=0.0,
                          royalty=0.05, tax=0.25, discount=0.0, decay=0.0)
    assert one.legal_life_years == one.life_years == 4.0 and many.life_years.tolist() == [4.0]
    assert one.life_reason in ("legal term", "economic life cap")
    assert many.life_reason.tolist() == [one.life_reason]
    assert one.value_fen == many.value_fen[0] == 4 * 3_750_000  # four whole years of R0 x rho x (1 - tau)


def test_the_array_form_caps_the_quality_adjusted_royalty_at_1():
    # rho 0.9 x (0.5 + 1) = 1.35, capped at 100% of revenue; one year of R0 10 000 with no tax: 10 000 fen
    got = v.value_assets(["invention_patent"] * 2, [D(2018, 5, 10)] * 2, D(2026, 11, 25), revenue_fen=[10_000, 10_000],
                         growth=0.0, royalty=0.9, tax=0.0, discount=0.0, decay=0.0, quality=[1.0, 0.5])
    assert got.royalty_used.tolist() == [1.0, 0.9]
    assert got.cash_flows_fen[0].tolist() == [10_000] * 10
    assert got.value_fen.tolist()[0] == 100_000


def test_the_array_form_lets_the_economic_life_decide_for_trademarks_and_gis():
    # V1: a trademark is renewable, a GI has no term: T is the cap (10 years each) though the trademark's
    # registration ends in 2 years (2018-05-10 + 10 = 2028-05-10, valued 2026-05-10)
    many = v.value_assets(["trademark", "geographical_indication", "invention_patent"], [D(2018, 5, 10)] * 3,
                          D(2026, 5, 10), registration_date=[D(2018, 5, 10), None, None], revenue_fen=[100_000_000] * 3,
                          growth=0.0, royalty=0.05, tax=0.25, discount=0.0, decay=0.0)
    assert many.life_years.tolist() == [10.0, 10.0, 10.0]
    assert many.life_reason.tolist() == ["economic life cap"] * 3
    assert many.value_fen.tolist() == [37_500_000] * 3  # 10 years of 3 750 000
    assert round(many.legal_life_years[0] * 365.25) == (D(2028, 5, 10) - D(2026, 5, 10)).days
    assert np.isnan(many.legal_life_years[1]) and np.isnat(many.legal_term_end[1])


def test_the_array_remaining_legal_life_of_a_trademark_runs_from_its_registration():
    # V1: a trademark's term runs from its registration date: registered 2016-08-20, its 10th anniversary is
    # 2026-08-20, 231 days after 2026-01-01; an invention filed the same day has 20 years from filing
    lives = v.remaining_legal_life_years_many(["trademark", "invention_patent"], [D(2015, 3, 17)] * 2,
                                              [D(2026, 1, 1)] * 2, [D(2016, 8, 20), None])
    assert lives.tolist() == [231 / 365.25, (D(2035, 3, 17) - D(2026, 1, 1)).days / 365.25]
    assert (D(2026, 8, 20) - D(2026, 1, 1)).days == 231


def test_percentile_ranks_order_values_by_number():
    # the values are numbers, however given: 9 < 10 < 100 (as text "10" < "100" < "9")
    assert v.percentile_ranks(["10", "9", "100"]).tolist() == [0.5, 0.0, 1.0]
    assert v.percentile_ranks([True, False]).tolist() == [1.0, 0.0]


def test_v1_the_term_runs_to_the_day_before_the_anniversary_and_the_life_counts_days_to_the_anniversary():
    # V1: filed 2018-05-10, an invention's term runs to 2038-05-09 (the day before the 20th anniversary);
    # the remaining life is the days to the anniversary over 365.25 (section 10: 4184 days, 11.455 years,
    # not 4183 days to the last day, 11.452); ``legal_term_end`` is that anniversary (schemas/valuation.py:
    # "the N-th anniversary"), the first day outside the term
    filing, anniversary = D(2018, 5, 10), D(2038, 5, 10)
    assert v.legal_term_end("invention_patent", filing) == anniversary
    assert (anniversary - D(2026, 11, 25)).days == 4184
    assert round(v.remaining_legal_life_years("invention_patent", filing, D(2026, 11, 25)), 3) == 11.455
    args = dict(revenue_fen=100_000_000, growth=0.0, royalty=0.05, tax=0.25, discount=0.0, decay=0.0)
    last_day = v.value_asset("invention_patent", filing, anniversary - dt.timedelta(days=1), **args)
    assert (last_day.life_reason, last_day.life_years) == ("legal term", 1 / 365.25) and last_day.value_fen > 0
    after = v.value_asset("invention_patent", filing, anniversary, **args)
    assert (after.life_reason, after.life_years, after.value_fen) == ("lapsed", 0.0, 0)
    many = v.value_assets(["invention_patent"] * 2, [filing] * 2, [anniversary - dt.timedelta(days=1), anniversary], **args)
    assert many.legal_term_end.astype(object).tolist() == [anniversary] * 2
    assert many.life_reason.tolist() == ["legal term", "lapsed"] and many.life_years.tolist() == [1 / 365.25, 0.0]


def test_the_array_form_does_not_warn_about_years_past_an_assets_life():
    # asset 0 lives one day; the shared 10-year grid overflows its growth (1e200^t) and multiplies 0 by inf
    # in years it does not have: masked out, with no warning to the user (asset 1 is an ordinary one)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        many = v.value_assets(["invention_patent", "invention_patent"], [D(2000, 1, 1), D(2018, 5, 10)], D(2019, 12, 31),
                              revenue_fen=[0, 10**9], growth=[1e200, 0.0], royalty=0.03, tax=0.15, discount=0.14, decay=0.0)
    assert many.value_fen[0] == 0 and many.cash_flows_fen[0].tolist() == [0] * 10


@pytest.mark.parametrize("form", ["one", "many"])
def test_an_amount_of_exactly_2_63_fen_is_refused(form):
    # 2^63 fen does not fit a signed 64-bit integer: "2^63 fen or more" is refused, at exactly 2^63 too
    def value(kind_cap: int, revenue_fen: int, growth: float, discount: float):
        caps = _with_caps(invention_patent=kind_cap)
        args = dict(growth=growth, royalty=1.0, tax=0.0, discount=discount, decay=0.0, assumptions=caps)
        if form == "one":
            return v.value_asset("invention_patent", D(2020, 1, 1), D(2021, 1, 1), revenue_fen=revenue_fen, **args)
        return v.value_assets(["invention_patent"] * 2, [D(2020, 1, 1)] * 2, D(2021, 1, 1),
                              revenue_fen=[1, revenue_fen], **args)

    where = "" if form == "one" else " (asset 1)"
    # one year (a cap of 1): R0 2^39 grown by 2^24 is a cash flow of exactly 2^63, discounted at 100% to 2^62
    assert 2**39 <= 10**12 and float(2**39) * float(2**24) == 2.0**63
    with refused(OVERFLOW.format(where=where)):
        value(1, 2**39, float(2**24 - 1), 1.0)
    # two years (a cap of 2), no discount: the model's float sum of the years is exactly 2^63, each year below it
    revenue, step = 999_015_900_699, 1.0 + 3036.996
    first, second = 1.0 * revenue * step, 1.0 * revenue * (step * step)
    assert first < 2.0**63 and second < 2.0**63 and first + second == 2.0**63
    with refused(OVERFLOW.format(where=where)):
        value(2, revenue, 3036.996, 0.0)


def test_the_array_form_gives_whole_fen_and_names_its_assumptions():
    # section 0: figures in fen are whole numbers (int64 arrays, never floats); the result names the assumption
    # set used (V3), the shipped one by default
    got = v.value_assets(["invention_patent", "utility_model"], [D(2018, 5, 10), D(2017, 3, 1)], D(2026, 11, 25),
                         revenue_fen=[5_000_000_000, 100_000_000], growth=0.05, royalty=0.03, tax=0.15, discount=0.14,
                         decay=0.08)
    for figure in (got.value_fen, got.collateral_value_fen, got.cash_flows_fen, got.present_values_fen):
        assert figure.dtype == np.int64
    assert got.value_fen[0] == 572_743_127 and got.cash_flows_fen.shape == (2, 10)
    assert got.assumptions_id == "rule-v-2026-01"
    doc = _document()
    doc["id"] = "my-own-set"
    assert v.value_assets(["trademark"], [D(2018, 5, 10)], D(2026, 11, 25), registration_date=[D(2019, 1, 1)],
                          revenue_fen=[1], growth=0.0, royalty=0.0, tax=0.0, discount=0.0, decay=0.0,
                          assumptions=v.parse_assumptions(doc)).assumptions_id == "my-own-set"
    assert got.royalty_used.tolist() == [0.03, 0.03]
    assert got.legal_life_years[0] == 4184 / 365.25


def test_the_term_functions_refuse_as_the_input_check_does():
    # the same refusals as check_valuation_inputs: an unknown kind, a trademark without its registration date
    with refused(f"kind must be one of {KINDS_TEXT}, got 'copyright'"):
        v.legal_term_years("copyright", D(2020, 1, 1))
    with refused(f"kind must be one of {KINDS_TEXT}, got 'copyright'"):
        v.legal_term_end("copyright", D(2020, 1, 1))
    with refused("registration_date is required for a trademark (its term runs from it)"):
        v.legal_term_end("trademark", D(2020, 1, 1))
    with refused("registration_date is required for a trademark (its term runs from it)"):
        v.remaining_legal_life_years("trademark", D(2020, 1, 1), D(2026, 1, 1))


def test_one_assets_result_keeps_every_input_it_was_given():
    # the stored valuation records what it was computed from (the CLI and API print its inputs)
    got = v.value_asset("trademark", D(2018, 5, 10), D(2026, 11, 25), revenue_fen=7, growth=0.05, royalty=0.03,
                        tax=0.15, discount=0.14, decay=0.08, registration_date=D(2019, 1, 2), legal_status="lapsed",
                        quality=0.7)
    assert got.inputs == ValuationInputs("trademark", D(2018, 5, 10), D(2026, 11, 25), 7, 0.05, 0.03, 0.15, 0.14, 0.08,
                                         D(2019, 1, 2), "lapsed", 0.7)
    assert (got.value_fen, got.life_reason) == (0, "not valid")  # V1: not valid, worth 0


@pytest.mark.parametrize("name", ["filing_date", "as_of", "registration_date"])
def test_a_date_that_is_not_a_date_is_refused_naming_the_argument(name):
    dates = {"filing_date": D(2018, 5, 10), "as_of": D(2026, 11, 25), "registration_date": D(2019, 1, 1)}
    for bad_value, message in (("soon", f"{name} must be a date or an array of dates, got 'soon'"),
                               (dt.datetime(2020, 1, 1, 8), f"{name} must be a date, not a datetime")):
        with refused(message) as bad:
            v.value_asset("trademark", **(dates | {name: bad_value}), revenue_fen=1, growth=0.0, royalty=0.0, tax=0.0,
                          discount=0.0, decay=0.0)
        assert (bad.value.argument, bad.value.index) == (name, None)


@pytest.mark.parametrize("missing", ["filing_date", "as_of"])
def test_a_missing_date_is_refused_as_required_naming_it(missing):
    dates = {"filing_date": D(2018, 5, 10), "as_of": D(2026, 11, 25)} | {missing: None}
    with refused(f"{missing} is required") as bad:
        v.value_asset("invention_patent", dates["filing_date"], dates["as_of"], revenue_fen=1, growth=0.0,
                      royalty=0.0, tax=0.0, discount=0.0, decay=0.0)
    assert (bad.value.argument, bad.value.index) == (missing, None)


def test_an_unknown_kind_is_refused_naming_it_as_given():
    with refused(f"kind must be one of {KINDS_TEXT}, got 'copyright'") as one:
        v.value_asset("copyright", D(2018, 5, 10), D(2026, 11, 25), revenue_fen=1, growth=0.0, royalty=0.0, tax=0.0,
                      discount=0.0, decay=0.0)
    assert (one.value.argument, one.value.index) == ("kind", None)
    with refused(f"kind must be one of {KINDS_TEXT}, got 'song' (asset 1)") as many:
        v.value_assets(["trademark", "song"], [D(2018, 5, 10)] * 2, D(2026, 11, 25), registration_date=D(2019, 1, 1),
                       revenue_fen=[1, 1], growth=0.0, royalty=0.0, tax=0.0, discount=0.0, decay=0.0)
    assert (many.value.argument, many.value.index) == ("kind", 1)


def test_a_legal_status_that_is_not_text_is_refused_naming_it_as_given():
    with refused("legal_status must be a string, got 5") as bad:
        v.value_asset("invention_patent", D(2018, 5, 10), D(2026, 11, 25), revenue_fen=1, growth=0.0, royalty=0.0,
                      tax=0.0, discount=0.0, decay=0.0, legal_status=5)
    assert (bad.value.argument, bad.value.index) == ("legal_status", None)


def test_rates_and_quality_given_as_numeric_text_are_read_as_numbers():
    # the check reads each rate as a number ("must be a number" otherwise): "0.03" is 0.03
    as_text = v.value_asset("invention_patent", D(2018, 5, 10), D(2026, 11, 25), revenue_fen=5_000_000_000,
                            growth="0.05", royalty="0.03", tax="0.15", discount="0.14", decay="0.08", quality="0.5")
    assert (as_text.value_fen, as_text.collateral_value_fen) == (572_743_127, 217_642_388)
    many = v.value_assets(["invention_patent"], [D(2018, 5, 10)], D(2026, 11, 25), revenue_fen=[5_000_000_000],
                          growth="0.05", royalty="0.03", tax="0.15", discount="0.14", decay="0.08", quality="0.5")
    assert many.value_fen.tolist() == [572_743_127]
    with refused("royalty must be a number, got 'much'") as rate:
        v.value_asset("invention_patent", D(2018, 5, 10), D(2026, 11, 25), revenue_fen=1, growth=0.0, royalty="much",
                      tax=0.0, discount=0.0, decay=0.0)
    assert (rate.value.argument, rate.value.index) == ("royalty", None)
    with refused("quality must be a number in 0..1 or None, got 'good'") as quality:
        v.value_asset("invention_patent", D(2018, 5, 10), D(2026, 11, 25), revenue_fen=1, growth=0.0, royalty=0.0,
                      tax=0.0, discount=0.0, decay=0.0, quality="good")
    assert (quality.value.argument, quality.value.index) == ("quality", None)


def test_dates_on_the_same_day_are_in_order():
    # section 0: no event after the business date, a grant not before its filing: the same day is allowed
    args = dict(revenue_fen=100_000_000, growth=0.0, royalty=0.05, tax=0.25, discount=0.0, decay=0.0)
    filed_today = v.value_asset("invention_patent", D(2026, 11, 25), D(2026, 11, 25), **args)
    assert filed_today.life_years == 10.0 and filed_today.value_fen == 37_500_000
    registered_today = v.value_asset("trademark", D(2026, 1, 5), D(2026, 11, 25), registration_date=D(2026, 11, 25),
                                     **args)
    assert registered_today.life_reason == "economic life cap" and registered_today.value_fen == 37_500_000
    many = v.value_assets(["trademark", "invention_patent"], [D(2026, 11, 25)] * 2, D(2026, 11, 25),
                          registration_date=[D(2026, 11, 25), None], revenue_fen=[100_000_000] * 2, growth=0.0,
                          royalty=0.05, tax=0.25, discount=0.0, decay=0.0)
    assert many.value_fen.tolist() == [37_500_000, 37_500_000]


def test_array_refusals_of_status_quality_and_lengths_name_the_asset_and_argument():
    base = dict(revenue_fen=[1, 1], growth=0.0, royalty=0.0, tax=0.0, discount=0.0, decay=0.0)
    with refused("legal_status must be a string, got None (asset 1)") as status:
        v.value_assets(["invention_patent"] * 2, [D(2018, 5, 10)] * 2, D(2026, 11, 25), legal_status=["valid", None],
                       **base)
    assert (status.value.argument, status.value.index) == ("legal_status", 1)
    with refused("quality must be in 0..1, got 1.5 (asset 1)") as quality:
        v.value_assets(["invention_patent"] * 2, [D(2018, 5, 10)] * 2, D(2026, 11, 25), quality=[0.5, 1.5], **base)
    assert (quality.value.argument, quality.value.index) == ("quality", 1)
    with refused("array arguments must have the same length (or be scalars)") as lengths:
        v.value_assets(["invention_patent"] * 3, [D(2018, 5, 10)] * 2, D(2026, 11, 25), **base)
    assert (lengths.value.argument, lengths.value.index) == ("kind", None)
