"""Survivors of the mutation run over fund/domain/subsidy.py (docs/mutation.md), killed by pinning
rule S as docs/rules.md section 5 states it: S1's "pays interest (interest_fen > 0)", S2's input
checks naming the argument, and S3's room, which is the annual cap less what earlier runs granted
(never negative), in both the scalar and the array form."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import numpy as np
import pytest

from fund.domain import subsidy as s

D = dt.date
TERMS = dict(ip_share_bp=10_000, contract_rate_bp=385, lpr_bp=345, markup_bp=0, ratio_bp=5_000)


def test_one_fen_of_interest_earns_a_subsidy():
    common = dict(loan_eligible=True, due_date=D(2024, 4, 15), paid_on=D(2024, 4, 15), drawdown=D(2024, 3, 15),
                  subsidy_months=12, past_due_on_payment=False, loan_status_at_payment="active")
    assert s.ineligibility_reasons(interest_fen=1, **common) == ()
    assert s.ineligibility_reasons(interest_fen=0, **common) == ("no_interest",)


@pytest.mark.parametrize(("changes", "message"), [
    ({"ip_share_bp": 0}, "ip_share_bp must be 1..10000, got 0"),
    ({"ip_share_bp": 10_001}, "ip_share_bp must be 1..10000, got 10001"),
    ({"contract_rate_bp": 0}, "contract_rate_bp must be >= 1, got 0"),
    ({"lpr_bp": 0}, "lpr_bp must be >= 1, got 0"),
    ({"markup_bp": -1}, "markup_bp must be >= 0, got -1"),
    ({"ratio_bp": 10_001}, "ratio_bp must be 0..10000, got 10001"),
    ({"ratio_bp": True}, "ratio_bp must be an integer, got True"),
    ({"lpr_bp": 345.0}, "lpr_bp must be an integer, got 345.0"),
])
def test_s2_terms_are_refused_naming_the_argument_and_its_bounds(changes, message):
    with pytest.raises(ValueError) as refused:
        s.check_subsidy_terms(**{**TERMS, **changes})
    assert str(refused.value) == message


def test_the_batch_forms_refuse_rows_that_do_not_line_up_and_take_no_rows():
    f = s.subsidy_factor(**TERMS)
    with pytest.raises(ValueError) as refused:
        s.subsidy_amounts([1, 2], [f])
    assert str(refused.value) == "interests_fen and factors must have the same length"
    empty = s.s2_amounts([], [], [])
    assert empty.shape == (0,) and empty.dtype == np.int64
    one = s.s2_amounts([3_875_000], [f.numerator], [f.denominator])
    assert one.tolist() == [1_736_201]
    with pytest.raises(ValueError) as refused:
        s.apply_enterprise_cap([1, 2], ["k"], {"k": None})
    assert str(refused.value) == "amounts_fen and keys must have the same length"
    with pytest.raises(ValueError) as refused:
        s.apply_enterprise_cap([-1], ["k"], {"k": None})
    assert str(refused.value) == "amounts_fen must be >= 0, got -1"
    granted, capped = s.enterprise_cap_in_order([], np.array([], dtype=np.int64), [], [])
    assert granted.shape == capped.shape == (0,) and granted.dtype == np.int64 and capped.dtype == bool
    granted, capped = s.enterprise_cap_in_order([7], np.array([0]), [None], [s.CapState()])
    assert granted.tolist() == [7] and capped.tolist() == [False]
    assert s.floor_times(7, Fraction(1, 2)) == 3


def test_s3_room_is_the_cap_less_what_earlier_runs_granted_never_below_zero():
    prior = [s.CapState(granted_fen=90), s.CapState(granted_fen=100), s.CapState(granted_fen=120, cut=True)]
    granted, capped = s.enterprise_cap_in_order([60, 60, 60], np.array([0, 1, 2]), [100, 100, 100], prior)
    assert granted.tolist() == [10, 0, 0] and capped.tolist() == [True, True, True]
    keys = [("E", "p", 2024)] * 1 + [("F", "p", 2024)]
    lines = s.apply_enterprise_cap([60, 60], keys, {keys[0]: 100, keys[1]: 100},
                                   {keys[0]: s.CapState(90), keys[1]: s.CapState(100)})
    assert lines.granted_fen == (10, 0) and lines.capped == (True, True)
    assert lines.states == {keys[0]: s.CapState(100, True), keys[1]: s.CapState(100, True)}


# docs/rules.md, "Fee lines in the monthly run": a run's total covers its interest lines and its fee
# lines together, what the pool cannot pay is deferred, and "inside a run the money reaches the
# interest lines first ... and then the fee lines". So a run's money paid so far is 0..its total, and
# it is the interest part's until the interest lines are paid in full.

def test_a_runs_money_reaches_its_interest_lines_first_then_its_fee_lines():
    assert s.split_paid(1_000, 300, 0) == (0, 0)  # nothing paid yet: both parts wholly deferred
    assert s.split_paid(1_000, 300, 999) == (999, 0)
    assert s.split_paid(1_000, 300, 1_000) == (1_000, 0)
    assert s.split_paid(1_000, 300, 1_001) == (1_000, 1)
    assert s.split_paid(1_000, 300, 1_300) == (1_000, 300)  # paid in full
    assert s.split_paid(0, 300, 300) == (0, 300)  # a run of fee lines only
    assert s.split_paid(0, 300, 0) == (0, 0)
    assert s.split_paid(1_000, 0, 1_000) == (1_000, 0)  # a run of interest lines only
    assert s.split_paid(0, 0, 0) == (0, 0)


@pytest.mark.parametrize(("interest", "fees", "paid"), [
    (-1, 300, 0), (1_000, -1, 0), (1_000, 300, -1), (1_000, 300, 1_301), (0, 0, 1),
])
def test_a_runs_money_paid_is_refused_outside_zero_to_its_total(interest, fees, paid):
    with pytest.raises(ValueError):
        s.split_paid(interest, fees, paid)


def test_paying_more_than_a_run_owes_is_refused_naming_the_figures():
    with pytest.raises(ValueError) as refused:
        s.split_paid(1_000, 300, 1_301)
    assert str(refused.value) == "paid 1301 must be 0..1300 (interest 1000, fees 300)"


def test_the_interest_of_s2_is_a_single_amount_refused_by_name():
    """Section 0: a single amount is an integer number of fen, at most 10^12; the refusal names it."""
    for bad, message in ((2.5, "interest_fen must be an integer number of fen, got 2.5"),
                         (10**12 + 1, "interest_fen must be at most 10^12 fen, got 1000000000001"),
                         (-1, "interest_fen must be")):
        with pytest.raises(ValueError) as refused:
            s.subsidy_amount(bad, **TERMS)
        assert str(refused.value).startswith(message) and refused.value.field == "interest_fen"
    assert s.subsidy_amount(10**12, **TERMS) == 10**12 * 69 // 154


def test_s3_states_of_earlier_runs_are_their_grants_and_whether_a_line_was_cut():
    """S3: lines of earlier runs are final, so a key's state is what they granted in total and
    whether one of them was capped (rows as a database returns them: a SUM may be a Decimal, a flag
    0/1); a later line gets the room left, and is capped when an earlier line was."""
    from decimal import Decimal

    e, f, g = ("E", "gz-2023", 2024), ("F", "gz-2023", 2024), ("G", "gz-2023", 2024)
    states = s.cap_states([(e, Decimal(90), 0), (f, 100, 1), (g, 0, False)])
    assert states == {e: s.CapState(90, False), f: s.CapState(100, True), g: s.CapState(0, False)}
    assert all(type(st.granted_fen) is int and type(st.cut) is bool for st in states.values())
    granted, capped = s.enterprise_cap_in_order([60, 60, 60], np.array([0, 1, 2]), [100, 100, 100],
                                                [states[e], states[f], states[g]])
    assert granted.tolist() == [10, 0, 60] and capped.tolist() == [True, True, False]
