"""Survivors of the mutation run over risk/allocation.py (docs/mutation.md), killed by pinning rule A
as docs/rules.md section 4 states it, on examples worked by hand:

* A2: ``base = floor(L x C / principal)``, each non-bank share ``floor(base x ratio / 10000)``, the
  insurer's cut to its limit, the bank the rest; every figure whole fen (section 0);
* A3: ``room = max(0, floor(in_pool_lending x cap_bp / 10000) - used)``, the fund's share cut to the
  room, the cut to the bank, claims one at a time;
* A4: paid from cash, the rest deferred; an inflow settles deferrals oldest first, the rest to cash;
* A5: ``held_p = min(floor(cum x share_p / L), share_p)``, the bank the rest;
* section 2's scheme (known parties, ratios >= 0 adding up to 10000, the bank's and the fund's
  included) and section 0's single amounts (integers, at most 10^12 fen).

Each refusal is checked with its whole message: the message names the argument and the bound.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from risk.allocation import (
    UNLIMITED,
    CapBook,
    Split,
    apply_bank_cap,
    approve_claim,
    cap_in_order_array,
    cap_room,
    pay_from_cash,
    pay_in_order_array,
    recovered_to_date,
    recovery_increment,
    recovery_increment_array,
    settle_inflow,
    split_loss,
    split_loss_array,
)

SCHEME = {"fund": 5000, "bank": 5000}
S5311 = {"fund": 5000, "insurer": 3000, "appraiser": 1000, "bank": 1000}
MAX_FEN = 10**12
INT64_MAX = 2**63 - 1


def refused(message: str):
    """``pytest.raises`` for a ValueError whose message is exactly ``message``."""
    return pytest.raises(ValueError, match=f"^{re.escape(message)}$")


# --------------------------------------------------------------------------------------------------
# A2: the split, scalar


def test_a_split_with_a_remainder_at_every_floor_is_whole_fen():
    # L 333, C 500, principal 1000: base = floor(166.5) = 166; fund floor(83) = 83,
    # insurer floor(49.8) = 49, appraiser floor(16.6) = 16, bank 333 - 83 - 49 - 16 = 185
    s = split_loss(333, 500, 1000, S5311)
    assert (s.loss_fen, s.base_fen, s.fund_fen, s.insurer_fen, s.appraiser_fen, s.bank_fen) == (333, 166, 83, 49, 16, 185)
    assert (s.fund_before_cap_fen, s.fund_cut_fen, s.insurer_cut_fen) == (83, 0, 0)
    for value in (s.loss_fen, s.base_fen, s.fund_fen, s.insurer_fen, s.appraiser_fen, s.bank_fen,
                  s.fund_before_cap_fen, s.fund_cut_fen, s.insurer_cut_fen):
        assert type(value) is int
    assert s.shares() == {"fund": 83, "insurer": 49, "appraiser": 16}
    assert s.parts() == {"fund": 83, "insurer": 49, "appraiser": 16, "bank": 185}


def test_the_insurer_limit_cuts_the_insurer_only_and_a_limit_of_zero_moves_it_all_to_the_bank():
    s = split_loss(333, 500, 1000, S5311, insurer_limit_fen=0)
    assert (s.fund_fen, s.insurer_fen, s.appraiser_fen, s.bank_fen, s.insurer_cut_fen) == (83, 0, 16, 234, 49)
    s = split_loss(333, 500, 1000, S5311, insurer_limit_fen=40)
    assert (s.insurer_fen, s.bank_fen, s.insurer_cut_fen) == (40, 194, 9)
    s = split_loss(333, 500, 1000, S5311, insurer_limit_fen=49)  # the limit equal to the share: no cut
    assert (s.insurer_fen, s.bank_fen, s.insurer_cut_fen) == (49, 185, 0)


def test_boundaries_that_are_allowed():
    # L equal to the principal, C equal to the principal, C = 0, amounts of exactly 10^12, a ratio of 0
    assert split_loss(100, 100, 100, SCHEME).parts() == {"fund": 50, "insurer": 0, "appraiser": 0, "bank": 50}
    assert split_loss(100, 0, 100, SCHEME).parts() == {"fund": 0, "insurer": 0, "appraiser": 0, "bank": 100}
    assert split_loss(1, 0, 1, SCHEME).bank_fen == 1
    big = split_loss(MAX_FEN, MAX_FEN, MAX_FEN, {"fund": 5000, "bank": 5000, "insurer": 0})
    assert (big.base_fen, big.fund_fen, big.bank_fen) == (MAX_FEN, MAX_FEN // 2, MAX_FEN // 2)
    assert split_loss(10, 10, 100, SCHEME, insurer_limit_fen=MAX_FEN).insurer_fen == 0
    assert split_loss(10, 10, 100, {"fund": 10000, "bank": 0}).fund_fen == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 10, 100, SCHEME, None), "loss_fen must be >= 1 fen, got 0"),
        ((10, 10, 0, SCHEME, None), "principal_fen must be >= 1 fen, got 0"),
        ((10, -1, 100, SCHEME, None), "covered_fen must be >= 0 fen, got -1"),
        ((10, 10, MAX_FEN + 1, SCHEME, None), "principal_fen must be at most 10^12 fen, got 1000000000001"),
        ((101, 10, 100, SCHEME, None), "loss_fen (101) must not exceed principal_fen (100)"),
        ((10, 101, 100, SCHEME, None), "covered_fen (101) must not exceed principal_fen (100)"),
        ((10, 10, 100, SCHEME, -1), "insurer_limit_fen must be >= 0 fen, got -1"),
        ((10, 10, 100, SCHEME, MAX_FEN + 1), "insurer_limit_fen must be at most 10^12 fen, got 1000000000001"),
        ((10, 10, 100, [("fund", 5000), ("bank", 5000)], None),
         "ratios_bp must be a mapping party -> ratio_bp, got [('fund', 5000), ('bank', 5000)]"),
        ((10, 10, 100, {"fund": 5000, "bank": 5000, "lawyer": 0}, None),
         "ratios_bp: unknown party 'lawyer' (known: fund, bank, insurer, appraiser)"),
        ((10, 10, 100, {"fund": 5000.0, "bank": 5000}, None), "ratios_bp['fund'] must be an integer, got 5000.0"),
        ((10, 10, 100, {"fund": True, "bank": 9999}, None), "ratios_bp['fund'] must be an integer, got True"),
        ((10, 10, 100, {"fund": 5000, "bank": 6000, "insurer": -1000}, None), "ratios_bp['insurer'] must be >= 0, got -1000"),
        ((10, 10, 100, {"fund": 10000}, None), "ratios_bp must include the bank's ratio"),
        ((10, 10, 100, {"bank": 10000}, None), "ratios_bp must include the fund's ratio"),
        ((10, 10, 100, {"fund": 5000, "bank": 4999}, None), "ratios_bp must add up to 10000, got 9999"),
        ((10, 10, 100, {"fund": 5000, "bank": 5001}, None), "ratios_bp must add up to 10000, got 10001"),
    ],
)
def test_split_refusals_name_the_argument_and_the_bound(args, message):
    with refused(message):
        split_loss(*args)


# --------------------------------------------------------------------------------------------------
# A3: the room and the cut


def test_the_room_floors_the_cap_once_and_subtracts_what_was_used():
    # floor(12 345 x 500 / 10000) = floor(617.25) = 617
    assert cap_room(12_345, 500, 0) == 617
    assert cap_room(12_345, 500, 17) == 600
    assert cap_room(12_345, 500, 617) == 0
    assert cap_room(12_345, 500, 618) == 0  # never below zero
    assert type(cap_room(12_345, 500, 17)) is int


def test_room_boundaries_that_are_allowed():
    assert cap_room(0, 500, 0) == 0  # no lending
    assert cap_room(100, 0, 0) == 0  # a cap of 0 bp
    assert cap_room(100, 10_000, 30) == 70  # a cap of 100%
    assert cap_room(100, None, 0) is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((-1, 500, 0), "in_pool_lending_fen must be >= 0, got -1"),
        ((-1, None, 0), "in_pool_lending_fen must be >= 0, got -1"),  # checked even without a cap
        ((100, 500, -1), "fund_approved_this_year_fen must be >= 0, got -1"),
        ((100, None, -1), "fund_approved_this_year_fen must be >= 0, got -1"),
        ((100, -1, 0), "cap_bp must be between 0 and 10000, got -1"),
        ((100, 10_001, 0), "cap_bp must be between 0 and 10000, got 10001"),
        ((100, 5.0, 0), "cap_bp must be an integer, got 5.0"),
        ((100, True, 0), "cap_bp must be an integer, got True"),
        ((100.0, 500, 0), "in_pool_lending_fen must be an integer, got 100.0"),
        ((100, 500, 0.0), "fund_approved_this_year_fen must be an integer, got 0.0"),
    ],
)
def test_room_refusals(args, message):
    with refused(message):
        cap_room(*args)


def test_a_cut_of_one_fen():
    s = split_loss(200, 200, 200, SCHEME)  # fund 100, bank 100
    c = apply_bank_cap(s, 99)
    assert (c.fund_fen, c.bank_fen, c.fund_before_cap_fen, c.fund_cut_fen) == (99, 101, 100, 1)
    assert apply_bank_cap(s, 100) == s  # room equal to the share: no cut
    assert apply_bank_cap(s, 101) == s


def test_cut_refusals():
    s = split_loss(200, 200, 200, SCHEME)
    with refused("room_fen must be >= 0, got -1"):
        apply_bank_cap(s, -1)
    with refused("room_fen must be an integer, got 1.5"):
        apply_bank_cap(s, 1.5)
    with refused("split must be a Split, got {'fund_fen': 5}"):
        apply_bank_cap({"fund_fen": 5}, 1)


# --------------------------------------------------------------------------------------------------
# A4: paying and settling


def test_paying_from_cash():
    assert pay_from_cash(0, 5) == (0, 5)
    assert pay_from_cash(5, 0) == (0, 0)
    assert pay_from_cash(5, 5) == (5, 0)
    assert pay_from_cash(7, 5) == (5, 0)
    for args in ((-1, 5), (5, -1), (-1, -1)):
        with refused("cash and amount must be >= 0"):
            pay_from_cash(*args)


def test_settling_oldest_first():
    assert settle_inflow(0, [50, 40]) == ([0, 0], 0)
    assert settle_inflow(50, [50, 40]) == ([50, 0], 0)
    assert settle_inflow(100, [50, 0, 40]) == ([50, 0, 40], 10)
    assert settle_inflow(30, []) == ([], 30)
    with refused("inflow must be >= 0"):
        settle_inflow(-1, [5])
    with refused("deferred amounts must be >= 0"):
        settle_inflow(5, [5, -1])


def test_approve_claim_records_the_room_before_and_pays_what_cash_allows():
    s = split_loss(200, 200, 200, SCHEME)  # fund 100
    a = approve_claim(s, 60, 0)
    assert (a.room_before_fen, a.split.fund_fen, a.split.bank_fen, a.paid_fen, a.deferred_fen) == (60, 60, 140, 0, 60)
    a = approve_claim(s, None, 100)
    assert (a.room_before_fen, a.split, a.paid_fen, a.deferred_fen) == (None, s, 100, 0)
    with refused("cash_fen must be >= 0, got -1"):
        approve_claim(s, None, -1)
    with refused("cash_fen must be an integer, got 1.0"):
        approve_claim(s, None, 1.0)


# --------------------------------------------------------------------------------------------------
# A3 + A4 in the book


def test_a_new_book_has_the_whole_room_for_a_new_key():
    book = CapBook()
    assert (book.cash_fen, book.deferred, book.used_fen, book.deferred_fen) == (0, [], {}, 0)
    assert book.room("k", 10_000, 500) == 500
    assert book.room("k", 10_000, None) is None


def test_the_book_keeps_deferrals_in_order_with_their_tags_and_settles_them_oldest_first():
    book = CapBook()
    s = split_loss(200, 200, 200, SCHEME)  # fund 100 each
    first = book.approve(s, key="k", in_pool_lending_fen=1_000, cap_bp=1_500)  # room floor(1000 x 1500 / 10000) = 150
    assert (first.room_before_fen, first.paid_fen, first.deferred_fen) == (150, 0, 100)
    second = book.approve(s, key="k", in_pool_lending_fen=1_000, cap_bp=1_500, tag="c2")  # room 50
    assert (second.room_before_fen, second.split.fund_fen, second.split.bank_fen, second.deferred_fen) == (50, 50, 150, 50)
    third = book.approve(s, key="k", in_pool_lending_fen=1_000, cap_bp=1_500, tag="c3")  # room 0
    assert (third.room_before_fen, third.split.fund_fen, third.deferred_fen) == (0, 0, 0)
    assert book.deferred == [[None, 100], ["c2", 50]]  # nothing deferred for the third
    assert book.used_fen == {"k": 150} and book.deferred_fen == 150
    settlement = book.inflow(0)
    assert (settlement.settled, settlement.to_cash_fen, book.deferred) == ((), 0, [[None, 100], ["c2", 50]])
    settlement = book.inflow(120)
    assert settlement.settled == ((None, 100), ("c2", 20)) and settlement.to_cash_fen == 0
    assert book.deferred == [["c2", 30]] and book.deferred_fen == 30 and book.cash_fen == 0
    settlement = book.inflow(45)
    assert settlement.settled == (("c2", 30),) and settlement.to_cash_fen == 15
    assert book.deferred == [] and book.cash_fen == 15
    with refused("amount_fen must be an integer, got 1.5"):
        book.inflow(1.5)
    with refused("inflow must be >= 0"):
        book.inflow(-1)


def test_paying_from_the_book_takes_the_cash_down_to_zero_then_defers():
    book = CapBook(cash_fen=130)
    s = split_loss(200, 200, 200, SCHEME)
    a = book.approve(s, key="k", in_pool_lending_fen=0, cap_bp=None, tag="c1")
    assert (a.paid_fen, a.deferred_fen, book.cash_fen, book.deferred) == (100, 0, 30, [])
    a = book.approve(s, key="k", in_pool_lending_fen=0, cap_bp=None, tag="c2")
    assert (a.paid_fen, a.deferred_fen, book.cash_fen, book.deferred) == (30, 70, 0, [["c2", 70]])
    assert book.used_fen == {"k": 200}


def test_a_book_loaded_with_deferrals_and_used_figures():
    book = CapBook(deferred=[5, ("a", 0), ["b", 3], ("c", 2)], used_fen={("b1", 2026): 0, ("b2", 2026): 7})
    assert book.deferred == [[None, 5], ["b", 3], ["c", 2]]  # a zero deferral is dropped
    assert book.deferred_fen == 10
    assert book.used_fen == {("b1", 2026): 0, ("b2", 2026): 7}
    assert book.room(("b2", 2026), 1_000, 1_000) == 93
    assert CapBook(cash_fen=5, deferred=[0]).deferred == []  # cash with nothing owed
    assert CapBook(cash_fen=0, deferred=[4]).deferred_fen == 4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cash_fen": -1}, "cash_fen must be >= 0, got -1"),
        ({"cash_fen": 1.5}, "cash_fen must be an integer, got 1.5"),
        ({"deferred": [5, ("a", -1)]}, "deferred[1] must be >= 0, got -1"),
        ({"deferred": [1.5]}, "deferred[0] must be an integer, got 1.5"),
        ({"cash_fen": 1, "deferred": [("c", 5)]}, "cash_fen must be 0 while compensation is deferred (A4 settles it first)"),
        ({"used_fen": {"k": -1}}, "used_fen['k'] must be >= 0, got -1"),
        ({"used_fen": {"k": 2.0}}, "used_fen['k'] must be an integer, got 2.0"),
    ],
)
def test_book_refusals(kwargs, message):
    with refused(message):
        CapBook(**kwargs)


# --------------------------------------------------------------------------------------------------
# A5: recoveries, scalar


def test_recovered_to_date_is_capped_at_the_share():
    # share 240 of L 600: floor(cum x 240 / 600), at most 240
    assert recovered_to_date(0, 600, 240) == 0
    assert recovered_to_date(299, 600, 240) == 119  # floor(119.6)
    assert recovered_to_date(600, 600, 240) == 240
    assert recovered_to_date(700, 600, 240) == 240


def test_a_recovery_beyond_the_loss_goes_to_the_bank():
    shares = {"fund": 240, "insurer": 144}
    assert recovery_increment(600, 50, 600, shares) == {"fund": 0, "insurer": 0, "bank": 50}
    assert recovery_increment(550, 100, 600, shares) == {"fund": 20, "insurer": 12, "bank": 68}
    assert recovery_increment(0, 0, 600, shares) == {"fund": 0, "insurer": 0, "bank": 0}
    # shares adding up to L exactly are allowed; a share of 0 is allowed
    assert recovery_increment(0, 10, 10, {"fund": 10, "insurer": 0}) == {"fund": 10, "insurer": 0, "bank": 0}
    assert recovery_increment(0, 7, 10, {}) == {"bank": 7}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((-1, 1, 100, {"fund": 50}), "cum_before_net_fen must be >= 0, got -1"),
        ((1.0, 1, 100, {"fund": 50}), "cum_before_net_fen must be an integer, got 1.0"),
        ((0, -1, 100, {"fund": 50}), "net_fen must be >= 0 fen, got -1"),
        ((0, MAX_FEN + 1, 100, {"fund": 50}), "net_fen must be at most 10^12 fen, got 1000000000001"),
        ((0, 1, 0, {"fund": 0}), "loss_fen must be >= 1 fen, got 0"),
        ((0, 1, 100, [("fund", 50)]), "shares must be a mapping party -> fen, got [('fund', 50)]"),
        ((0, 1, 100, {"bank": 50}),
         "shares: 'bank' is not a non-bank party (fund, insurer, appraiser); the bank takes the rest"),
        ((0, 1, 100, {"fund": -1}), "shares['fund'] must be >= 0, got -1"),
        ((0, 1, 100, {"fund": 5.0}), "shares['fund'] must be an integer, got 5.0"),
        ((0, 1, 100, {"fund": 60, "insurer": 41}), "shares add up to 101, more than loss_fen (100)"),
    ],
)
def test_recovery_refusals(args, message):
    with refused(message):
        recovery_increment(*args)


# --------------------------------------------------------------------------------------------------
# the array forms: the same integers and the same checks


def test_the_array_split_with_remainders_and_limits_per_claim():
    s = split_loss_array([333, 333, 333], 500, 1000, S5311, insurer_limit_fen=[UNLIMITED, 0, 40])
    assert s.base_fen.tolist() == [166] * 3
    assert s.fund_fen.tolist() == [83] * 3
    assert s.insurer_fen.tolist() == [49, 0, 40]
    assert s.appraiser_fen.tolist() == [16] * 3
    assert s.bank_fen.tolist() == [185, 234, 194]
    assert s.insurer_cut_fen.tolist() == [0, 49, 9]
    assert s.loss_fen.tolist() == [333] * 3
    assert all(a.dtype == np.int64 for a in (s.base_fen, s.fund_fen, s.insurer_fen, s.appraiser_fen, s.bank_fen))
    row = s.row(2)
    assert row == Split(loss_fen=333, base_fen=166, fund_fen=83, insurer_fen=40, appraiser_fen=16, bank_fen=194,
                        fund_before_cap_fen=83, insurer_cut_fen=9)
    assert all(type(v) is int for v in vars(row).values())


def test_the_array_split_takes_its_shape_from_the_limits_and_the_ratios_too():
    s = split_loss_array(333, 500, 1000, S5311, insurer_limit_fen=[UNLIMITED, 40])
    assert s.insurer_fen.tolist() == [49, 40] and s.bank_fen.tolist() == [185, 194]
    s = split_loss_array(333, 500, 1000, {"fund": [5000, 10000], "bank": [5000, 0]})
    assert s.fund_fen.tolist() == [83, 166] and s.bank_fen.tolist() == [250, 167]
    # unsigned integers are integers; an amount of exactly 10^12 and a ratio of exactly 10000 are allowed
    s = split_loss_array(np.array([MAX_FEN], dtype=np.uint64), MAX_FEN, MAX_FEN, {"fund": 10000, "bank": 0})
    assert s.fund_fen.tolist() == [MAX_FEN] and s.bank_fen.tolist() == [0]
    assert split_loss_array([5], [0], [5], SCHEME).bank_fen.tolist() == [5]  # C = 0 allowed


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"loss_fen": [0]}, "loss_fen must be >= 1, got 0"),
        ({"principal_fen": [0], "loss_fen": [0], "covered_fen": [0]}, "principal_fen must be >= 1, got 0"),
        ({"covered_fen": [-1]}, "covered_fen must be >= 0, got -1"),
        ({"principal_fen": [MAX_FEN + 1], "loss_fen": [1]}, "principal_fen must be at most 1000000000000, got 1000000000001"),
        ({"loss_fen": [101]}, "loss_fen must not exceed principal_fen"),
        ({"covered_fen": [101]}, "covered_fen must not exceed principal_fen"),
        ({"loss_fen": [10.0]}, "loss_fen must hold integers that fit int64, got dtype float64"),
        ({"loss_fen": [True]}, "loss_fen must hold integers that fit int64, got dtype bool"),
        ({"covered_fen": np.array([2**63], dtype=np.uint64)}, "covered_fen must hold integers that fit int64"),
        ({"principal_fen": ["100"]}, "principal_fen must hold integers that fit int64, got dtype <U3"),
        ({"insurer_limit_fen": [-2]}, "insurer_limit_fen must be >= -1, got -2"),
        ({"insurer_limit_fen": [MAX_FEN + 1]}, "insurer_limit_fen must be at most 1000000000000, got 1000000000001"),
        ({"insurer_limit_fen": [1.0]}, "insurer_limit_fen must hold integers that fit int64, got dtype float64"),
        ({"loss_fen": [10, 10, 10], "ratios_bp": {"fund": [5000, 4000], "bank": 5000}},
         "loss_fen, covered_fen, principal_fen, ratios and insurer_limit_fen must broadcast together"),
        ({"loss_fen": [10, 10, 10], "insurer_limit_fen": [1, 2]},
         "loss_fen, covered_fen, principal_fen, ratios and insurer_limit_fen must broadcast together"),
        ({"ratios_bp": [("fund", 5000), ("bank", 5000)]},
         "ratios_bp must be a mapping party -> ratio_bp, got [('fund', 5000), ('bank', 5000)]"),
        ({"ratios_bp": {"fund": 5000, "bank": 5000, "lawyer": 0}}, "ratios_bp: unknown party 'lawyer' (known: fund, bank, insurer, appraiser)"),
        ({"ratios_bp": {"fund": 10000}}, "ratios_bp must include the bank's ratio"),
        ({"ratios_bp": {"bank": 10000}}, "ratios_bp must include the fund's ratio"),
        ({"ratios_bp": {"fund": 10001, "bank": 0}}, "ratios_bp['fund'] must be at most 10000, got 10001"),
        ({"ratios_bp": {"fund": 5000, "bank": 6000, "insurer": -1000}}, "ratios_bp['insurer'] must be >= 0, got -1000"),
        ({"ratios_bp": {"fund": 5000.0, "bank": 5000}}, "ratios_bp['fund'] must hold integers that fit int64, got dtype float64"),
        # the first row that does not add up is the one named
        ({"loss_fen": [10, 10, 10], "ratios_bp": {"fund": [5000, 4000, 6000], "bank": 5000}},
         "ratios_bp must add up to 10000, got 9000"),
    ],
)
def test_array_split_refusals(kwargs, message):
    args = {"loss_fen": [10], "covered_fen": [10], "principal_fen": [100], "ratios_bp": SCHEME} | kwargs
    with refused(message):
        split_loss_array(**args)


def test_array_recoveries_clip_at_the_loss_and_broadcast():
    shares = {"fund": 240, "insurer": 144}
    parts = recovery_increment_array([600, 550, 0, 299, 700], [50, 100, 0, 1, 0], 600, shares)
    # row 2: held after min(650, 600) = 600 less held before floor(550 x 0.4) = 220, floor(550 x 0.24) = 132
    # row 4: floor(300 x 0.4) - floor(299 x 0.4) = 120 - 119 = 1, floor(300 x 0.24) - floor(299 x 0.24) = 72 - 71 = 1
    assert parts["fund"].tolist() == [0, 20, 0, 1, 0]
    assert parts["insurer"].tolist() == [0, 12, 0, 1, 0]
    assert parts["bank"].tolist() == [50, 68, 0, -1, 0]
    assert recovery_increment_array([0], [7], [10], {})["bank"].tolist() == [7]
    # a cumulative figure at the top of int64 (as an unsigned integer) is accepted and clipped at the loss
    top = recovery_increment_array(np.array([INT64_MAX], dtype=np.uint64), [5], [600], shares)
    assert {p: a.tolist() for p, a in top.items()} == {"fund": [0], "insurer": [0], "bank": [5]}
    with refused("cum_before_net_fen must hold integers that fit int64"):
        recovery_increment_array(np.array([2**63], dtype=np.uint64), [5], [600], shares)
    parts = recovery_increment_array(0, [MAX_FEN], MAX_FEN, {"fund": MAX_FEN})  # at 10^12 exactly
    assert parts["fund"].tolist() == [MAX_FEN] and parts["bank"].tolist() == [0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([-1], [1], [100], {"fund": 50}), "cum_before_net_fen must be >= 0, got -1"),
        (([0], [-1], [100], {"fund": 50}), "net_fen must be >= 0, got -1"),
        (([0], [MAX_FEN + 1], [100], {"fund": 50}), "net_fen must be at most 1000000000000, got 1000000000001"),
        (([0], [1], [0], {"fund": 0}), "loss_fen must be >= 1, got 0"),
        (([0], [1], [MAX_FEN + 1], {"fund": 0}), "loss_fen must be at most 1000000000000, got 1000000000001"),
        (([0], [1], [100], {"fund": [-1]}), "shares['fund'] must be >= 0, got -1"),
        (([0], [1], [100], {"fund": [MAX_FEN + 1]}), "shares['fund'] must be at most 1000000000000, got 1000000000001"),
        (([0], [1], [100], {"fund": [5.0]}), "shares['fund'] must hold integers that fit int64, got dtype float64"),
        (([0.0], [1], [100], {"fund": 5}), "cum_before_net_fen must hold integers that fit int64, got dtype float64"),
        (([0], [1.0], [100], {"fund": 5}), "net_fen must hold integers that fit int64, got dtype float64"),
        (([0], [1], [100.0], {"fund": 5}), "loss_fen must hold integers that fit int64, got dtype float64"),
        (([0], [1], [100], [("fund", 50)]), "shares must be a mapping party -> fen, got [('fund', 50)]"),
        (([0], [1], [100], {"bank": 50}),
         "shares: 'bank' is not a non-bank party (fund, insurer, appraiser); the bank takes the rest"),
        (([0], [1], [100], {"fund": 60, "insurer": 41}), "shares must not add up to more than loss_fen"),
        (([0, 0, 0], [1, 1], [100], {"fund": 5}),
         "cum_before_net_fen, net_fen, loss_fen and shares must broadcast together"),
        (([0], [1], [100], {"fund": [5, 5]}), None),  # broadcasts: no refusal
    ],
)
def test_array_recovery_refusals(args, message):
    if message is None:
        assert recovery_increment_array(*args)["fund"].tolist() == [0, 0]
        return
    with refused(message):
        recovery_increment_array(*args)


def test_cap_in_order_one_claim_empty_and_a_room_of_zero():
    assert cap_in_order_array([300], [0], [100]).tolist() == [100]
    assert cap_in_order_array([300, 5], [0, 0], [0]).tolist() == [0, 0]
    assert cap_in_order_array(np.array([], dtype=np.int64), np.array([], dtype=np.int64), [100]).tolist() == []
    assert cap_in_order_array([MAX_FEN, MAX_FEN], [0, 1], [UNLIMITED, MAX_FEN - 1]).tolist() == [MAX_FEN, MAX_FEN - 1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([[1, 2]], [[0, 0]], [5]), "fund_fen and group must be 1-d arrays of one length, room_fen 1-d"),
        (([1, 2], [0], [5]), "fund_fen and group must be 1-d arrays of one length, room_fen 1-d"),
        (([1, 2], [0, 0], 5), "fund_fen and group must be 1-d arrays of one length, room_fen 1-d"),
        (([-1], [0], [5]), "fund_fen must be >= 0, got -1"),
        (([MAX_FEN + 1], [0], [5]), "fund_fen must be at most 1000000000000, got 1000000000001"),
        (([1, 2], [0, 1], [5]), "group must be at most 0, got 1"),
        (([1], [-1], [5]), "group must be >= 0, got -1"),
        (([1], [0], [-2]), "room_fen must be >= -1, got -2"),
        (([1.0], [0], [5]), "fund_fen must hold integers that fit int64, got dtype float64"),
        (([1], [0.0], [5]), "group must hold integers that fit int64, got dtype float64"),
        (([1], [0], [5.0]), "room_fen must hold integers that fit int64, got dtype float64"),
    ],
)
def test_cap_in_order_refusals(args, message):
    with refused(message):
        cap_in_order_array(*args)


def test_pay_in_order_with_cash_beyond_int64_pays_everything():
    paid, deferred = pay_in_order_array([5, 7], 2**70)
    assert paid.tolist() == [5, 7] and deferred.tolist() == [0, 0]
    paid, deferred = pay_in_order_array([5, 7], 0)
    assert paid.tolist() == [0, 0] and deferred.tolist() == [5, 7]
    paid, deferred = pay_in_order_array(np.array([], dtype=np.int64), 10)
    assert paid.tolist() == [] and deferred.tolist() == []
    paid, deferred = pay_in_order_array([MAX_FEN], MAX_FEN)
    assert paid.tolist() == [MAX_FEN] and deferred.tolist() == [0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([[1]], 5), "amount_fen must be a 1-d array"),
        (([-1], 5), "amount_fen must be >= 0, got -1"),
        (([MAX_FEN + 1], 5), "amount_fen must be at most 1000000000000, got 1000000000001"),
        (([1.0], 5), "amount_fen must hold integers that fit int64, got dtype float64"),
        (([1], -1), "cash_fen must be >= 0, got -1"),
        (([1], 1.0), "cash_fen must be an integer, got 1.0"),
    ],
)
def test_pay_in_order_refusals(args, message):
    with refused(message):
        pay_in_order_array(*args)


def test_too_many_claims_at_once_are_refused():
    # n x 10^12 must fit int64: 9 223 372 claims at most
    many = np.zeros(9_223_373, dtype=np.int64)
    with refused("at most 9223372 claims at once"):
        cap_in_order_array(many, many, [0])
    with refused("at most 9223372 claims at once"):
        pay_in_order_array(many, 0)


def test_array_recoveries_take_their_shape_from_the_loss_too():
    # one net of 5 shared on two claims: floor(5 x 240 / 600) = 2, floor(5 x 240 / 300) = 4
    parts = recovery_increment_array(0, 5, [600, 300], {"fund": 240})
    assert parts["fund"].tolist() == [2, 4] and parts["bank"].tolist() == [3, 1]
