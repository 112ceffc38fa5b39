"""Rule S as plain code (no database): S2 amounts against hand-worked vectors, RULES section 10 and an
independent integer formulation; S1 reasons; S3 cap."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fund.domain.subsidy import (
    BEYOND_SUBSIDY_MONTHS,
    LOAN_INELIGIBLE,
    LOAN_NOT_ACTIVE,
    NO_INTEREST,
    PAID_LATE,
    PAST_DUE,
    CapState,
    apply_enterprise_cap,
    ineligibility_reasons,
    subsidised_rate,
    subsidy_amount,
    subsidy_amounts,
    subsidy_factor,
)

MAX_FEN = 10**12


def s2_in_integers(interest: int, ip_share: int, contract: int, lpr: int, markup: int, ratio: int) -> int:
    """S2 again, independently: no Fraction; the min of the two rates decided by cross-multiplying."""
    if lpr * (10_000 + markup) >= contract * 10_000:  # the contract rate is under the cap: rate/contract = 1
        return interest * ip_share * ratio // (10_000 * 10_000)
    return interest * ip_share * lpr * (10_000 + markup) * ratio // (10_000 * 10_000 * 10_000 * contract)


def amount(interest, ip_share, contract, lpr, markup, ratio):
    return subsidy_amount(interest, ip_share_bp=ip_share, contract_rate_bp=contract, lpr_bp=lpr, markup_bp=markup, ratio_bp=ratio)


# (interest, ip_share, contract, lpr, markup, ratio, expected): expected worked by hand, the working in the comment.
HAND_VECTORS = [
    # RULES 10, gz-2023: 3 875 000 * 345/385 / 2 = 1 736 201.29...
    (3_875_000, 10_000, 385, 345, 0, 5_000, 1_736_201),
    # RULES 10, bj-zgc-2024: cap 345 * 1.4 = 483 > 385, rate 385: 3 875 000 / 2
    (3_875_000, 10_000, 385, 345, 4_000, 5_000, 1_937_500),
    # RULES 10: 3 875 000 * 0.6 * 483/520 / 2 = 1 079 783.65...
    (3_875_000, 6_000, 520, 345, 4_000, 5_000, 1_079_783),
    # contract rate under LPR: 1 000 000 / 2
    (1_000_000, 10_000, 300, 345, 0, 5_000, 500_000),
    # 1 000 001 / 2 = 500 000.5
    (1_000_001, 10_000, 300, 345, 0, 5_000, 500_000),
    # 999 * 0.3333 * 310/400 / 2 = 5 160 983 850 000 / 4e10 = 129.02...
    (999, 3_333, 400, 310, 0, 5_000, 129),
    # cap 336 * 1.4 = 470.4 < 520: 10 000 000 * 470.4/520 / 2 = 4 523 076.92...
    (10_000_000, 10_000, 520, 336, 4_000, 5_000, 4_523_076),
    # one floor, not two: 5 * 2/3 * 0.9 = 3 exactly (floor(5*2/3) = 3, then 3 * 0.9 = 2.7 would give 2)
    (5, 10_000, 3, 2, 0, 9_000, 3),
    # 1 fen of interest: 69/154 of a fen
    (1, 10_000, 385, 345, 0, 5_000, 0),
    # no ratio, no subsidy
    (3_875_000, 10_000, 385, 345, 0, 0, 0),
    # the largest single amount: 10^12 * 69/154 = 448 051 948 051.94...
    (MAX_FEN, 10_000, 385, 345, 0, 5_000, 448_051_948_051),
]


@pytest.mark.parametrize("interest, ip_share, contract, lpr, markup, ratio, expected", HAND_VECTORS)
def test_hand_worked_vectors(interest, ip_share, contract, lpr, markup, ratio, expected):
    assert amount(interest, ip_share, contract, lpr, markup, ratio) == expected
    assert s2_in_integers(interest, ip_share, contract, lpr, markup, ratio) == expected


def test_rate_used_is_the_exact_minimum():
    assert subsidised_rate(385, 345, 0) == 345
    assert subsidised_rate(385, 345, 4_000) == 385
    assert subsidised_rate(520, 345, 4_000) == 483
    assert subsidised_rate(520, 336, 4_000) == Fraction(4704, 10)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(ip_share=0), "ip_share_bp"),
        (dict(ip_share=10_001), "ip_share_bp"),
        (dict(contract=0), "contract_rate_bp"),
        (dict(lpr=0), "lpr_bp"),
        (dict(markup=-1), "markup_bp"),
        (dict(ratio=10_001), "ratio_bp"),
        (dict(interest=-1), "interest_fen"),
        (dict(interest=MAX_FEN + 1), "interest_fen"),
    ],
)
def test_bad_inputs_name_the_argument(kwargs, name):
    args = dict(interest=100, ip_share=10_000, contract=385, lpr=345, markup=0, ratio=5_000) | kwargs
    with pytest.raises(ValueError, match=name):
        amount(**args)


interests = st.integers(0, MAX_FEN)
terms = st.tuples(
    st.integers(1, 10_000),  # ip share
    st.integers(1, 3_000),  # contract rate
    st.integers(1, 1_000),  # LPR
    st.integers(0, 20_000),  # markup
    st.integers(0, 10_000),  # ratio
)


@settings(max_examples=500, deadline=None)
@given(interests, terms)
def test_matches_the_integer_formulation(interest, t):
    assert amount(interest, *t) == s2_in_integers(interest, *t)


@settings(max_examples=300, deadline=None)
@given(interests, terms)
def test_never_negative_never_above_ratio_times_interest(interest, t):
    ratio = t[4]
    value = amount(interest, *t)
    assert 0 <= value <= interest * ratio // 10_000


@settings(max_examples=300, deadline=None)
@given(interests, interests, terms)
def test_monotone_in_interest(a, b, t):
    low, high = sorted((a, b))
    assert amount(low, *t) <= amount(high, *t)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(interests, terms), min_size=1, max_size=20))
def test_batch_form_equals_the_scalar_form(rows):
    factors = [
        subsidy_factor(ip_share_bp=t[0], contract_rate_bp=t[1], lpr_bp=t[2], markup_bp=t[3], ratio_bp=t[4]) for _, t in rows
    ]
    assert subsidy_amounts([i for i, _ in rows], factors) == [amount(i, *t) for i, t in rows]


# ---- S1 -----------------------------------------------------------------------------------------

ON_TIME = dict(
    loan_eligible=True, interest_fen=3_875_000, due_date=dt.date(2024, 4, 15), paid_on=dt.date(2024, 4, 15),
    drawdown=dt.date(2024, 3, 15), subsidy_months=12, past_due_on_payment=False, loan_status_at_payment="active",
)


@pytest.mark.parametrize(
    "change, reason",
    [
        (dict(loan_eligible=False), LOAN_INELIGIBLE),
        (dict(interest_fen=0), NO_INTEREST),
        (dict(due_date=dt.date(2025, 3, 16), paid_on=dt.date(2025, 3, 16)), BEYOND_SUBSIDY_MONTHS),
        (dict(paid_on=dt.date(2024, 4, 16)), PAID_LATE),
        (dict(past_due_on_payment=True), PAST_DUE),
        (dict(loan_status_at_payment="claimed"), LOAN_NOT_ACTIVE),
    ],
)
def test_each_s1_condition(change, reason):
    assert ineligibility_reasons(**ON_TIME) == ()
    assert ineligibility_reasons(**(ON_TIME | change)) == (reason,)


def test_subsidy_months_boundary_is_included_and_clamped():
    # add_months(2024-01-31, 1) = 2024-02-29: an installment due that day is within 1 month.
    base = ON_TIME | dict(drawdown=dt.date(2024, 1, 31), subsidy_months=1)
    assert ineligibility_reasons(**(base | dict(due_date=dt.date(2024, 2, 29), paid_on=dt.date(2024, 2, 1)))) == ()
    assert ineligibility_reasons(**(base | dict(due_date=dt.date(2024, 3, 1), paid_on=dt.date(2024, 2, 1)))) == (BEYOND_SUBSIDY_MONTHS,)
    # paid early, on the due date itself: both fine
    assert ineligibility_reasons(**(ON_TIME | dict(paid_on=dt.date(2024, 3, 20)))) == ()


# ---- S3 -----------------------------------------------------------------------------------------

KEY = (1, "gz-2023", 2024)


def test_rules_example_capped_line_and_the_next():
    result = apply_enterprise_cap([1_736_201, 1_736_201], [KEY, KEY], {KEY: 100_000_000}, {KEY: CapState(99_000_000)})
    assert result.granted_fen == (1_000_000, 0)
    assert result.capped == (True, True)
    assert result.states[KEY] == CapState(100_000_000, True)


def test_a_line_that_fits_exactly_is_not_capped_but_a_zero_line_after_a_cut_is():
    key2 = (2, "gz-2023", 2024)
    result = apply_enterprise_cap(
        [500, 500, 0, 7, 0], [KEY, KEY, KEY, key2, key2], {KEY: 1_000, key2: 5}, {}
    )
    assert result.granted_fen == (500, 500, 0, 5, 0)
    assert result.capped == (False, False, False, True, True)


def test_no_cap_means_no_cut():
    result = apply_enterprise_cap([10**12, 10**12], [KEY, KEY], {KEY: None})
    assert result.granted_fen == (10**12, 10**12) and result.capped == (False, False)


lines = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 5_000)), max_size=40)
caps = st.dictionaries(st.integers(0, 3), st.one_of(st.none(), st.integers(0, 20_000)), min_size=4, max_size=4).filter(
    lambda d: set(d) == {0, 1, 2, 3}
)


@settings(max_examples=300, deadline=None)
@given(lines, caps, st.integers(0, 40))
def test_cap_properties_and_runs_split_anywhere_give_the_same_lines(rows, cap_map, split):
    keys = [k for k, _ in rows]
    amounts = [a for _, a in rows]
    whole = apply_enterprise_cap(amounts, keys, cap_map)
    for key in set(keys):
        given_total = sum(g for g, k in zip(whole.granted_fen, keys) if k == key)
        if cap_map[key] is not None:
            assert given_total <= cap_map[key]
        flags = [c for c, k in zip(whole.capped, keys) if k == key]
        assert flags == sorted(flags)  # once capped, every later line of the key is capped
    for g, a, c in zip(whole.granted_fen, amounts, whole.capped):
        assert 0 <= g <= a
        assert c or g == a
    # Lines of earlier runs are final: splitting the lines into two runs changes nothing.
    split = min(split, len(rows))
    first = apply_enterprise_cap(amounts[:split], keys[:split], cap_map)
    second = apply_enterprise_cap(amounts[split:], keys[split:], cap_map, first.states)
    assert first.granted_fen + second.granted_fen == whole.granted_fen
    assert first.capped + second.capped == whole.capped
