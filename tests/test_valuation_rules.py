"""Rule V (RULES section 7) on fixed cases: the worked example of section 10, legal terms, lapsed
assets, partial years, 29 February, input checks, assumptions, the pledge-rate flag, quality."""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from fractions import Fraction
from importlib import resources

import numpy as np
import pytest

from fund.domain.dates import add_years
from fund.domain.policy import IP_KINDS
from risk.valuation import (
    LIFE_REASONS,
    ValuationInputError,
    ValuationInputs,
    check_valuation_inputs,
    legal_term_end,
    legal_term_years,
    load_assumptions,
    parse_assumptions,
    percentile_ranks,
    pledge_rate_exceeded,
    quality_scores,
    remaining_legal_life_years,
    remaining_legal_life_years_many,
    usual_pledge_limit_fen,
    value_asset,
    value_assets,
)

D = dt.date
EXAMPLE = dict(revenue_fen=5_000_000_000, growth=0.05, royalty=0.03, tax=0.15, discount=0.14, decay=0.08)
FLAT = dict(revenue_fen=100_000_000, growth=0.0, royalty=0.05, tax=0.25, discount=0.0, decay=0.0)
FLAT_YEAR_FEN = Fraction(100_000_000) * Fraction(5, 100) * Fraction(3, 4)  # R0 * rho * (1 - tau) = 3 750 000


def exact_life(term_end: dt.date, as_of: dt.date) -> Fraction:
    return Fraction(max(0, (term_end - as_of).days) * 4, 1461)  # days / 365.25


# --- RULES section 10 -------------------------------------------------------------------------------


def test_worked_example_of_rules_section_10():
    v = value_asset("invention_patent", D(2018, 5, 10), D(2026, 11, 25), **EXAMPLE)
    assert round(v.legal_life_years, 3) == 11.455
    assert v.life_years == 10 and v.life_reason == "economic life cap"
    assert v.value_fen == 572_743_127
    assert v.collateral_value_fen == 217_642_388
    assert len(v.cash_flows_fen) == len(v.present_values_fen) == 10
    assert v.value_fen - len(v.present_values_fen) < sum(v.present_values_fen) <= v.value_fen


def test_worked_example_vectorised_gives_the_same_figures():
    many = value_assets(["invention_patent"] * 2, [D(2018, 5, 10)] * 2, D(2026, 11, 25),
                        revenue_fen=[5_000_000_000, 5_000_000_000], growth=0.05, royalty=0.03, tax=0.15,
                        discount=0.14, decay=0.08)
    assert many.value_fen.tolist() == [572_743_127] * 2
    assert many.collateral_value_fen.tolist() == [217_642_388] * 2
    scalar = value_asset("invention_patent", D(2018, 5, 10), D(2026, 11, 25), **EXAMPLE)
    assert many.cash_flows_fen[0].tolist() == list(scalar.cash_flows_fen)
    assert many.present_values_fen[0].tolist() == list(scalar.present_values_fen)


def test_worked_example_against_exact_rational_sum():
    t_max = 10
    terms = [Fraction(5_000_000_000) * Fraction(105, 100) ** t * Fraction(92, 100) ** t * Fraction(3, 100)
             * Fraction(85, 100) / Fraction(114, 100) ** t for t in range(1, t_max + 1)]
    assert math.floor(sum(terms)) == 572_743_127


# --- V1 legal term ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, filing, registration, end",
    [
        ("invention_patent", D(2015, 3, 17), None, D(2035, 3, 17)),
        ("utility_model", D(2015, 3, 17), None, D(2025, 3, 17)),
        ("design_patent", D(2015, 3, 17), None, D(2025, 3, 17)),
        ("design_patent", D(2022, 3, 17), None, D(2037, 3, 17)),
        ("ic_layout", D(2015, 3, 17), None, D(2025, 3, 17)),
        ("trademark", D(2015, 3, 17), D(2016, 8, 20), D(2026, 8, 20)),  # from registration, not filing
        ("geographical_indication", D(2015, 3, 17), None, None),
    ],
)
def test_legal_term_of_each_kind(kind, filing, registration, end):
    assert legal_term_end(kind, filing, registration) == end


def test_design_term_changes_for_filings_from_2021_06_01():
    assert legal_term_years("design_patent", D(2021, 5, 31)) == 10
    assert legal_term_years("design_patent", D(2021, 6, 1)) == 15
    assert legal_term_end("design_patent", D(2021, 5, 31)) == D(2031, 5, 31)
    assert legal_term_end("design_patent", D(2021, 6, 1)) == D(2036, 6, 1)
    as_of = D(2030, 6, 1)
    old = value_asset("design_patent", D(2021, 5, 31), as_of, **FLAT)
    new = value_asset("design_patent", D(2021, 6, 1), as_of, **FLAT)
    assert old.life_reason == "legal term" and old.life_years == float(exact_life(D(2031, 5, 31), as_of))
    assert new.life_reason == "economic life cap" and new.life_years == 5  # 6 legal years left, cap 5
    assert old.value_fen < new.value_fen
    many = value_assets(["design_patent"] * 2, [D(2021, 5, 31), D(2021, 6, 1)], as_of, **FLAT)
    assert many.legal_term_end.astype(object).tolist() == [D(2031, 5, 31), D(2036, 6, 1)]
    assert many.value_fen.tolist() == [old.value_fen, new.value_fen]


def test_remaining_legal_life_is_days_over_365_25_and_never_negative():
    assert remaining_legal_life_years("invention_patent", D(2018, 5, 10), D(2026, 11, 25)) == 4184 / 365.25
    assert remaining_legal_life_years("invention_patent", D(2000, 1, 1), D(2030, 1, 1)) == 0
    assert remaining_legal_life_years("geographical_indication", D(2000, 1, 1), D(2030, 1, 1)) is None
    lives = remaining_legal_life_years_many(
        ["invention_patent", "invention_patent", "geographical_indication"],
        [D(2018, 5, 10), D(2000, 1, 1), D(2000, 1, 1)], [D(2026, 11, 25), D(2030, 1, 1), D(2030, 1, 1)])
    assert lives[0] == 4184 / 365.25 and lives[1] == 0 and np.isnan(lives[2])


def test_lapsed_patent_is_worth_nothing():
    v = value_asset("invention_patent", D(2000, 1, 1), D(2020, 1, 1), **EXAMPLE)  # term ended that day
    assert (v.value_fen, v.collateral_value_fen, v.life_years, v.life_reason) == (0, 0, 0.0, "lapsed")
    assert v.cash_flows_fen == () and v.present_values_fen == ()
    last_day = value_asset("invention_patent", D(2000, 1, 1), D(2019, 12, 31), **EXAMPLE)
    assert last_day.life_reason == "legal term" and last_day.life_years == 1 / 365.25
    assert last_day.value_fen > 0 and len(last_day.cash_flows_fen) == 1


@pytest.mark.parametrize("status", ["invalidated", "lapsed", "pending", "expired"])
def test_asset_not_valid_is_worth_nothing(status):
    v = value_asset("invention_patent", D(2018, 5, 10), D(2026, 11, 25), legal_status=status, **EXAMPLE)
    assert (v.value_fen, v.collateral_value_fen, v.life_reason) == (0, 0, "not valid")
    many = value_assets(["invention_patent"] * 2, [D(2018, 5, 10)] * 2, D(2026, 11, 25),
                        legal_status=[status, "valid"], **EXAMPLE)
    assert many.value_fen.tolist() == [0, 572_743_127]
    assert many.life_reason.tolist() == ["not valid", "economic life cap"]


def test_life_ending_mid_year_counts_the_last_year_in_part():
    filing, as_of = D(2017, 3, 1), D(2023, 9, 1)
    term_end = D(2027, 3, 1)
    life = exact_life(term_end, as_of)
    assert 3 < life < 4
    v = value_asset("utility_model", filing, as_of, **FLAT)
    assert v.life_reason == "legal term" and v.life_years == float(life)
    assert len(v.cash_flows_fen) == 4
    assert list(v.cash_flows_fen[:3]) == [math.floor(FLAT_YEAR_FEN)] * 3
    assert v.cash_flows_fen[3] == math.floor(FLAT_YEAR_FEN * (life - 3))
    assert abs(v.value_fen - math.floor(FLAT_YEAR_FEN * life)) <= 1


def test_filing_date_on_29_february():
    assert legal_term_end("invention_patent", D(2020, 2, 29)) == D(2040, 2, 29)
    assert legal_term_end("utility_model", D(2020, 2, 29)) == D(2030, 2, 28)
    assert legal_term_end("design_patent", D(2024, 2, 29)) == D(2039, 2, 28)
    assert legal_term_end("trademark", D(2023, 5, 1), D(2024, 2, 29)) == D(2034, 2, 28)
    day_before = value_asset("utility_model", D(2020, 2, 29), D(2030, 2, 27), **FLAT)
    assert day_before.life_years == 1 / 365.25 and day_before.value_fen == math.floor(FLAT_YEAR_FEN / Fraction(1461, 4))
    assert value_asset("utility_model", D(2020, 2, 29), D(2030, 2, 28), **FLAT).life_reason == "lapsed"
    many = value_assets(["invention_patent", "utility_model", "design_patent", "ic_layout"], [D(2020, 2, 29)] * 4,
                        D(2020, 3, 1), **FLAT)
    assert many.legal_term_end.astype(object).tolist() == [
        add_years(D(2020, 2, 29), n) for n in (20, 10, 10, 10)
    ]


def test_trademark_and_gi_use_the_economic_life():
    caps = load_assumptions().economic_life_cap_years
    old_mark = value_asset("trademark", D(2001, 1, 1), D(2026, 1, 1), registration_date=D(2002, 1, 1), **FLAT)
    assert old_mark.life_reason == "economic life cap" and old_mark.life_years == caps["trademark"]
    gi = value_asset("geographical_indication", D(2001, 1, 1), D(2026, 1, 1), **FLAT)
    assert gi.legal_term_end is None and gi.legal_life_years is None
    assert gi.life_years == caps["geographical_indication"] and gi.life_reason == "economic life cap"
    assert abs(gi.value_fen - math.floor(FLAT_YEAR_FEN * caps["geographical_indication"])) <= 1


def test_life_is_the_cap_when_the_legal_term_is_longer():
    v = value_asset("invention_patent", D(2020, 1, 1), D(2021, 1, 1), **FLAT)
    assert v.life_years == load_assumptions().economic_life_cap_years["invention_patent"]
    assert v.life_reason == "economic life cap"


# --- input checks -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(growth=-1.0), "growth must be > -1"),
        (dict(royalty=-0.01), "royalty must be in 0..1"),
        (dict(royalty=1.01), "royalty must be in 0..1"),
        (dict(tax=1.0), "tax must be in [0, 1)"),
        (dict(tax=-0.1), "tax must be in [0, 1)"),
        (dict(discount=-1.0), "discount must be > -1"),
        (dict(decay=1.0), "decay must be in [0, 1)"),
        (dict(decay=-0.01), "decay must be in [0, 1)"),
        (dict(growth=float("nan")), "growth must be > -1"),
        (dict(discount=float("inf")), "discount must be > -1"),
        (dict(revenue_fen=-1), "revenue_fen must be in 0.."),
        (dict(revenue_fen=10**12 + 1), "revenue_fen must be in 0.."),
        (dict(revenue_fen=10**30), "revenue_fen must be in 0.."),
        (dict(revenue_fen=1.5), "revenue_fen must be an integer"),
        (dict(kind="copyright"), "kind must be one of"),
        (dict(as_of=D(2018, 5, 9)), "filing_date must be on or before as_of"),
        (dict(registration_date=D(2018, 5, 9)), "registration_date must be on or after filing_date"),
        (dict(registration_date=D(2027, 1, 1)), "registration_date must be on or before as_of"),
        (dict(kind="trademark"), "registration_date is required for a trademark"),
        (dict(quality=1.5), "quality must be in 0..1"),
        (dict(legal_status=None), "legal_status must be a string"),
        (dict(filing_date=dt.datetime(2018, 5, 10, 8)), "filing_date must be a date"),
    ],
)
def test_every_bad_input_is_refused_with_one_message(change, message):
    args = dict(kind="invention_patent", filing_date=D(2018, 5, 10), as_of=D(2026, 11, 25), **EXAMPLE)
    args.update(change)
    kind, filing, as_of = args.pop("kind"), args.pop("filing_date"), args.pop("as_of")
    with pytest.raises(ValuationInputError) as scalar_error:
        value_asset(kind, filing, as_of, **args)
    assert str(scalar_error.value).startswith(message)
    assert "(asset" not in str(scalar_error.value) and scalar_error.value.index is None
    assert message.startswith(scalar_error.value.argument)


def test_array_errors_name_the_asset():
    with pytest.raises(ValuationInputError, match=r"^royalty must be in 0..1 \(0..10000 bp\), got 2.0 \(asset 1\)$") as refused:
        value_assets(["invention_patent"] * 3, [D(2018, 5, 10)] * 3, D(2026, 11, 25), revenue_fen=[1, 2, 3],
                     growth=0.0, royalty=[0.1, 2.0, 3.0], tax=0.25, discount=0.1, decay=0.0)
    assert (refused.value.argument, refused.value.index) == ("royalty", 1)
    with pytest.raises(ValuationInputError) as dates:
        value_assets(["trademark", "invention_patent"], [D(2018, 5, 10)] * 2, D(2026, 11, 25), revenue_fen=1,
                     growth=0.0, royalty=0.1, tax=0.25, discount=0.1, decay=0.0, registration_date=[D(2019, 1, 1), D(2018, 1, 1)])
    assert (dates.value.argument, dates.value.index) == ("registration_date", 1)
    with pytest.raises(ValueError, match="same length"):
        value_assets(["invention_patent"] * 3, [D(2018, 5, 10)] * 2, D(2026, 11, 25), revenue_fen=1,
                     growth=0.0, royalty=0.1, tax=0.25, discount=0.1, decay=0.0)


def test_from_bp_converts_at_the_edge_and_refuses_non_integers():
    inputs = ValuationInputs.from_bp("invention_patent", D(2018, 5, 10), D(2026, 11, 25), revenue_fen=1,
                                     growth_bp=500, royalty_bp=300, tax_bp=1500, discount_bp=1400, decay_bp=800)
    assert (inputs.growth, inputs.royalty, inputs.tax, inputs.discount, inputs.decay) == (0.05, 0.03, 0.15, 0.14, 0.08)
    with pytest.raises(ValueError, match="growth_bp must be an integer"):
        ValuationInputs.from_bp("invention_patent", D(2018, 5, 10), D(2026, 11, 25), revenue_fen=1,
                                growth_bp=5.5, royalty_bp=300, tax_bp=1500, discount_bp=1400, decay_bp=800)


def test_a_value_past_2_63_fen_is_refused_not_wrapped():
    huge = dict(EXAMPLE, revenue_fen=10**12, growth=100.0)
    with pytest.raises(ValueError, match="2\\^63"):
        value_asset("invention_patent", D(2018, 5, 10), D(2026, 11, 25), **huge)
    with pytest.raises(ValueError, match=r"2\^63 fen or more \(asset 1\)"):
        value_assets(["invention_patent"] * 2, [D(2018, 5, 10)] * 2, D(2026, 11, 25), revenue_fen=[1, 10**12],
                     growth=[0.0, 100.0], royalty=0.03, tax=0.15, discount=0.14, decay=0.08)


def test_overflow_beyond_an_assets_own_life_is_masked_out():
    # asset 0 lives one day with no revenue: year 1 is 0, but its growth factor overflows from year 2 on,
    # which the shared 10-year grid computes and must mask (0 * inf would be NaN)
    many = value_assets(["invention_patent", "invention_patent"], [D(2000, 1, 1), D(2018, 5, 10)],
                        D(2019, 12, 31), revenue_fen=[0, 10**9], growth=[1e200, 0.0], royalty=0.03, tax=0.15,
                        discount=0.14, decay=0.0)
    single = value_asset("invention_patent", D(2000, 1, 1), D(2019, 12, 31), revenue_fen=0, growth=1e200,
                         royalty=0.03, tax=0.15, discount=0.14, decay=0.0)
    assert many.value_fen[0] == single.value_fen == 0
    assert many.cash_flows_fen.shape == (2, 10) and many.value_fen[1] > 0


def test_no_assets_gives_empty_results():
    many = value_assets(np.array([], dtype=str), np.array([], dtype="datetime64[D]"), D(2026, 1, 1),
                        revenue_fen=np.array([], dtype=np.int64), growth=0.0, royalty=0.0, tax=0.0, discount=0.0,
                        decay=0.0)
    assert len(many) == 0 and many.cash_flows_fen.shape == (0, 0)


# --- assumptions ------------------------------------------------------------------------------------


def test_assumptions_file_carries_rules_v3_values_each_marked():
    a = load_assumptions()
    assert dict(a.economic_life_cap_years) == {"invention_patent": 10, "utility_model": 5, "design_patent": 5,
                                               "ic_layout": 5, "trademark": 10, "geographical_indication": 10}
    assert dict(a.invalidation_probability_bp) == {"invention_patent": 500, "utility_model": 1500,
                                                   "design_patent": 1500, "ic_layout": 1000, "trademark": 200,
                                                   "geographical_indication": 200}
    assert a.liquidation_haircut_bp == 6000
    assert dict(a.usual_pledge_rate_bp) == {"invention_patent": 2500, "utility_model": 1500, "design_patent": 1500,
                                            "ic_layout": 1500, "trademark": 5000, "geographical_indication": 5000}
    assert len(a.provenance) == 3 * len(IP_KINDS) + 1
    sourced = {k for k, item in a.provenance.items() if item.status == "source"}
    assert sourced == {"usual_pledge_rate_bp.invention_patent", "usual_pledge_rate_bp.utility_model",
                       "usual_pledge_rate_bp.trademark"}
    assert all(item.note for item in a.provenance.values())


def _shipped_document() -> dict:
    return tomllib.loads(resources.files("risk").joinpath("assumptions.toml").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["economic_life_cap_years"].pop("trademark"), "must name exactly the IP kinds"),
        (lambda d: d["invalidation_probability_bp"]["trademark"].update(value=10001), "must be an integer in 0..10000"),
        (lambda d: d["invalidation_probability_bp"]["trademark"].update(value=0.02), "must be an integer"),
        (lambda d: d["usual_pledge_rate_bp"]["trademark"].update(status="guess"), "status must be one of"),
        (lambda d: d["liquidation_haircut_bp"]["all_kinds"].update(note=""), "needs a note"),
        (lambda d: d["liquidation_haircut_bp"]["all_kinds"].pop("status"), "exactly value, status and note"),
        (lambda d: d.update(extra=1), "exactly the keys"),
    ],
)
def test_bad_assumptions_are_refused_naming_the_key(mutate, message):
    document = _shipped_document()
    mutate(document)
    with pytest.raises(ValueError, match=message):
        parse_assumptions(document)


def test_collateral_uses_the_given_assumptions(tmp_path):
    document = _shipped_document()
    text = resources.files("risk").joinpath("assumptions.toml").read_text(encoding="utf-8")
    path = tmp_path / "a.toml"
    path.write_text(text.replace('all_kinds = { value = 6000', 'all_kinds = { value = 5000'), encoding="utf-8")
    other = load_assumptions(path)
    assert other.liquidation_haircut_bp == 5000 and document["liquidation_haircut_bp"]["all_kinds"]["value"] == 6000
    v = value_asset("invention_patent", D(2018, 5, 10), D(2026, 11, 25), assumptions=other, **EXAMPLE)
    assert v.value_fen == 572_743_127
    assert abs(v.collateral_value_fen - math.floor(Fraction(v.value_fen) * Fraction(95, 100) * Fraction(1, 2))) <= 1


# --- pledge-rate flag -------------------------------------------------------------------------------


def test_pledge_rate_flag_is_exact_at_the_boundary():
    assets = [("invention_patent", 1_000_000_001), ("trademark", 3)]  # 0.25 * 1 000 000 001 + 0.5 * 3 = 250 000 001.75
    assert usual_pledge_limit_fen(assets) == 250_000_001
    assert not pledge_rate_exceeded(250_000_001, assets)
    assert pledge_rate_exceeded(250_000_002, assets)
    assert not pledge_rate_exceeded(0, [])
    assert pledge_rate_exceeded(1, [])


def test_pledge_rate_flag_refuses_bad_assets():
    with pytest.raises(ValueError, match="kind must be one of"):
        pledge_rate_exceeded(1, [("copyright", 10)])
    with pytest.raises(ValueError, match="appraised_value_fen"):
        pledge_rate_exceeded(1, [("trademark", -10)])


# --- quality adjustment -----------------------------------------------------------------------------


def test_percentile_rank_definition():
    assert percentile_ranks([7]).tolist() == [0.5]
    assert percentile_ranks([3, 3, 3]).tolist() == [0.5, 0.5, 0.5]
    assert percentile_ranks([30, 10, 20]).tolist() == [1.0, 0.0, 0.5]
    # ranks 1, 2.5, 2.5, 4, 5 -> (r - 1) / 4
    assert percentile_ranks([1, 5, 5, 8, 9]).tolist() == [0.0, 0.375, 0.375, 0.75, 1.0]


def test_quality_scores_rank_within_each_kind_only():
    kinds = ["invention_patent", "utility_model", "invention_patent", "trademark", "utility_model", "invention_patent"]
    claims = [10, 1, 20, 0, 2, np.nan]
    citations = [1, 0, 2, 0, 0, 5]
    family = [1, 1, 2, 0, 1, 1]
    life = [5.0, 2.0, 8.0, 0.0, 3.0, 9.0]
    q = quality_scores(kinds, claims, citations, family, life)
    assert q[0] == 0.0 and q[2] == 1.0  # two complete inventions: the better one on every feature gets 1
    assert q[1] == (0 + 0.5 + 0.5 + 0) / 4 and q[4] == (1 + 0.5 + 0.5 + 1) / 4  # ties on citations, family
    assert np.isnan(q[3]) and np.isnan(q[5])  # not a patent; a missing feature
    lone = quality_scores(["design_patent"], [3], [0], [1], [4.0])
    assert lone.tolist() == [0.5]


def test_quality_multiplies_the_royalty_by_half_plus_q():
    base = value_asset("invention_patent", D(2018, 5, 10), D(2026, 11, 25), **EXAMPLE)
    median = value_asset("invention_patent", D(2018, 5, 10), D(2026, 11, 25), quality=0.5, **EXAMPLE)
    best = value_asset("invention_patent", D(2018, 5, 10), D(2026, 11, 25), quality=1.0, **EXAMPLE)
    worst = value_asset("invention_patent", D(2018, 5, 10), D(2026, 11, 25), quality=0.0, **EXAMPLE)
    assert median.value_fen == base.value_fen and median.royalty_used == 0.03
    assert best.royalty_used == pytest.approx(0.045) and worst.royalty_used == pytest.approx(0.015)
    assert abs(best.value_fen - math.floor(Fraction(572_743_127) * 3 / 2)) <= 2
    assert abs(worst.value_fen - math.floor(Fraction(572_743_127) / 2)) <= 2
    capped = value_asset("invention_patent", D(2018, 5, 10), D(2026, 11, 25), quality=1.0,
                         **dict(EXAMPLE, royalty=0.9))
    assert capped.royalty_used == 1.0
    many = value_assets(["invention_patent"] * 3, [D(2018, 5, 10)] * 3, D(2026, 11, 25), quality=[np.nan, 1.0, 0.0],
                        **{k: [v] * 3 if k == "revenue_fen" else v for k, v in EXAMPLE.items()})
    assert many.value_fen.tolist() == [base.value_fen, best.value_fen, worst.value_fen]


def test_check_returns_normalised_arrays():
    c = check_valuation_inputs("trademark", D(2010, 1, 1), D(2026, 1, 1), 5, 0.0, 0.1, 0.25, 0.1, 0.0,
                               registration_date=D(2011, 1, 1))
    assert c.kind.tolist() == ["trademark"] and c.revenue_fen.dtype == np.int64
    assert c.in_force.tolist() == [True] and np.isnan(c.quality).all()
    assert set(LIFE_REASONS) == {"legal term", "economic life cap", "lapsed", "not valid"}
