"""Properties of rule V: never negative; monotone in revenue, royalty, discount and decay; the scalar
and vectorised forms agree within 1 fen; both stay within 1 fen of the exact rational sum; the
vectorised add_years is add_years."""

from __future__ import annotations

import datetime as dt
import math
from fractions import Fraction

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fund.domain.dates import add_years
from fund.domain.policy import IP_KINDS
from risk.valuation import (
    _add_years_many,
    legal_term_end,
    load_assumptions,
    quality_scores,
    value_asset,
    value_assets,
)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

dates = st.dates(min_value=dt.date(1995, 1, 1), max_value=dt.date(2035, 12, 31))
# bp ranges kept where a value stays far below 2^63 fen: (1 + g)^10 / (1 + r)^10 <= 2^10 / 0.5^10
growth_bp = st.integers(-9_000, 10_000)
royalty_bp = st.integers(0, 10_000)
tax_bp = st.integers(0, 9_999)
discount_bp = st.integers(-5_000, 10_000)
decay_bp = st.integers(0, 9_999)
revenue = st.integers(0, 10**12)


@st.composite
def assets(draw):
    kind = draw(st.sampled_from(IP_KINDS))
    filing = draw(dates)
    registration = draw(st.one_of(st.none(), st.dates(min_value=filing, max_value=dt.date(2036, 12, 31))))
    if kind == "trademark" and registration is None:
        registration = filing
    earliest = registration or filing
    as_of = draw(st.dates(min_value=earliest, max_value=dt.date(2060, 12, 31)))
    status = draw(st.sampled_from(["valid"] * 5 + ["invalidated"]))
    return dict(
        kind=kind, filing_date=filing, registration_date=registration, as_of=as_of, legal_status=status,
        revenue_fen=draw(revenue), growth_bp=draw(growth_bp), royalty_bp=draw(royalty_bp), tax_bp=draw(tax_bp),
        discount_bp=draw(discount_bp), decay_bp=draw(decay_bp),
    )


def scalar(a, **changes):
    a = {**a, **changes}
    return value_asset(
        a["kind"], a["filing_date"], a["as_of"], revenue_fen=a["revenue_fen"], growth=a["growth_bp"] / 10_000,
        royalty=a["royalty_bp"] / 10_000, tax=a["tax_bp"] / 10_000, discount=a["discount_bp"] / 10_000,
        decay=a["decay_bp"] / 10_000, registration_date=a["registration_date"], legal_status=a["legal_status"],
        quality=a.get("quality"),
    )


def exact_value(a) -> Fraction:
    """V2 in exact rationals (T exact as days * 4 / 1461), the oracle for both float forms."""
    if a["legal_status"] != "valid":
        return Fraction(0)
    cap = load_assumptions().economic_life_cap_years[a["kind"]]
    if a["kind"] in ("trademark", "geographical_indication"):
        life = Fraction(cap)
    else:
        end = legal_term_end(a["kind"], a["filing_date"], a["registration_date"])
        life = min(Fraction(max(0, (end - a["as_of"]).days) * 4, 1461), Fraction(cap))
    g, rho = Fraction(a["growth_bp"], 10_000), Fraction(a["royalty_bp"], 10_000)
    tau, r, d = Fraction(a["tax_bp"], 10_000), Fraction(a["discount_bp"], 10_000), Fraction(a["decay_bp"], 10_000)
    total = Fraction(0)
    for t in range(1, math.ceil(life) + 1):
        weight = min(Fraction(1), life - (t - 1))
        total += weight * a["revenue_fen"] * (1 + g) ** t * (1 - d) ** t * rho * (1 - tau) / (1 + r) ** t
    return total


@SETTINGS
@given(assets())
def test_value_is_never_negative_and_collateral_never_exceeds_it(a):
    v = scalar(a)
    assert 0 <= v.collateral_value_fen <= v.value_fen
    assert all(c >= 0 for c in v.cash_flows_fen) and all(p >= 0 for p in v.present_values_fen)
    assert 0 <= v.life_years <= load_assumptions().economic_life_cap_years[a["kind"]]


@SETTINGS
@given(assets())
def test_float_model_is_within_1_fen_of_the_exact_sum(a):
    assert abs(scalar(a).value_fen - math.floor(exact_value(a))) <= 1


@SETTINGS
@given(assets(), revenue)
def test_value_rises_with_revenue(a, other):
    low, high = sorted((a["revenue_fen"], other))
    assert scalar(a, revenue_fen=low).value_fen <= scalar(a, revenue_fen=high).value_fen


@SETTINGS
@given(assets(), royalty_bp)
def test_value_rises_with_royalty(a, other):
    low, high = sorted((a["royalty_bp"], other))
    assert scalar(a, royalty_bp=low).value_fen <= scalar(a, royalty_bp=high).value_fen


@SETTINGS
@given(assets(), discount_bp)
def test_value_falls_with_discount_rate(a, other):
    low, high = sorted((a["discount_bp"], other))
    assert scalar(a, discount_bp=low).value_fen >= scalar(a, discount_bp=high).value_fen


@SETTINGS
@given(assets(), decay_bp)
def test_value_falls_with_decay(a, other):
    low, high = sorted((a["decay_bp"], other))
    assert scalar(a, decay_bp=low).value_fen >= scalar(a, decay_bp=high).value_fen


@SETTINGS
@given(assets(), st.integers(1, 10_000))
def test_more_revenue_is_strictly_more_value_when_the_exact_gain_is_2_fen(a, extra):
    low = a["revenue_fen"]
    high = min(10**12, low + extra * 10**8)
    assume(exact_value({**a, "revenue_fen": high}) - exact_value({**a, "revenue_fen": low}) >= 2)
    assert scalar(a, revenue_fen=high).value_fen > scalar(a, revenue_fen=low).value_fen


@SETTINGS
@given(st.lists(assets(), min_size=1, max_size=25), st.data())
def test_scalar_and_vectorised_forms_agree_within_1_fen(book, data):
    with_quality = data.draw(st.booleans())
    qualities = [data.draw(st.one_of(st.none(), st.floats(0, 1))) if with_quality else None for _ in book]
    many = value_assets(
        [a["kind"] for a in book], [a["filing_date"] for a in book], [a["as_of"] for a in book],
        revenue_fen=np.array([a["revenue_fen"] for a in book], dtype=np.int64),
        growth=np.array([a["growth_bp"] for a in book]) / 10_000,
        royalty=np.array([a["royalty_bp"] for a in book]) / 10_000,
        tax=np.array([a["tax_bp"] for a in book]) / 10_000,
        discount=np.array([a["discount_bp"] for a in book]) / 10_000,
        decay=np.array([a["decay_bp"] for a in book]) / 10_000,
        registration_date=[a["registration_date"] for a in book],
        legal_status=[a["legal_status"] for a in book],
        quality=np.array([np.nan if q is None else q for q in qualities]),
    )
    for i, (a, q) in enumerate(zip(book, qualities)):
        one = scalar(a, quality=q)
        assert abs(int(many.value_fen[i]) - one.value_fen) <= 1
        assert abs(int(many.collateral_value_fen[i]) - one.collateral_value_fen) <= 1
        assert many.life_years[i] == one.life_years and many.life_reason[i] == one.life_reason
        n = len(one.cash_flows_fen)
        assert np.abs(many.cash_flows_fen[i, :n] - np.array(one.cash_flows_fen, dtype=np.int64)).max(initial=0) <= 1
        assert not many.cash_flows_fen[i, n:].any()
        end = one.legal_term_end
        assert (np.isnat(many.legal_term_end[i]) and end is None) or many.legal_term_end[i].astype(object) == end


@SETTINGS
@given(st.lists(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2300, 12, 31)), min_size=1, max_size=40),
       st.integers(-30, 30))
def test_vectorised_add_years_is_add_years(days, years):
    got = _add_years_many(np.array(days, dtype="datetime64[D]"), np.full(len(days), years))
    assert got.astype(object).tolist() == [add_years(d, years) for d in days]


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(["invention_patent", "utility_model", "trademark"]),
                          st.integers(0, 50), st.integers(0, 50), st.integers(1, 20),
                          st.floats(0, 20, allow_nan=False)), min_size=1, max_size=30))
def test_quality_scores_stay_in_0_1_and_do_not_depend_on_order(book):
    columns = list(zip(*book))
    q = quality_scores(*columns)
    patents = np.array([k != "trademark" for k in columns[0]])
    assert np.isnan(q[~patents]).all()
    assert ((q[patents] >= 0) & (q[patents] <= 1)).all()
    order = np.random.default_rng(len(book)).permutation(len(book))
    shuffled = quality_scores(*[np.asarray(c, dtype=object)[order] for c in columns])
    np.testing.assert_array_equal(shuffled, q[order])
