"""Rule A (RULES section 4): the worked examples of RULES section 10 and input checking."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import risk.allocation as allocation
from fund.domain.policy import load_policy_file, shipped_policy_paths
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
    recovery_increment,
    recovery_increment_array,
    settle_inflow,
    split_loss,
    split_loss_array,
)


def _policy(policy_id: str):
    (path,) = [p for p in shipped_policy_paths() if p.stem == policy_id]
    return load_policy_file(path)


@pytest.fixture(scope="module")
def scheme_5311() -> dict[str, int]:
    return dict(_policy("gz-2020").scheme("5311").ratios_bp)


@pytest.fixture(scope="module")
def scheme_50() -> dict[str, int]:
    return dict(_policy("gz-2023").scheme("50").ratios_bp)


def test_doctests_pass():
    result = doctest.testmod(allocation, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 10
    assert result.failed == 0


# -- Split (gz-2020, scheme 5311) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("covered", "loss", "expected"),
    [
        (800_000_000, 600_000_000, (480_000_000, 240_000_000, 144_000_000, 48_000_000, 168_000_000)),
        (700_000_000, 100_000_005, (70_000_003, 35_000_001, 21_000_000, 7_000_000, 37_000_004)),
    ],
)
def test_split_examples(scheme_5311, covered, loss, expected):
    split = split_loss(loss, covered, 1_000_000_000, scheme_5311)
    got = (split.base_fen, split.fund_fen, split.insurer_fen, split.appraiser_fen, split.bank_fen)
    assert got == expected
    assert split.loss_fen == loss
    assert split.fund_before_cap_fen == split.fund_fen and split.fund_cut_fen == 0
    arrays = split_loss_array([loss], [covered], [1_000_000_000], scheme_5311)
    assert arrays.row(0) == split


def test_insurer_limit_moves_the_cut_to_the_bank(scheme_5311):
    free = split_loss(600_000_000, 800_000_000, 1_000_000_000, scheme_5311)
    limited = split_loss(600_000_000, 800_000_000, 1_000_000_000, scheme_5311, insurer_limit_fen=100_000_000)
    assert limited.insurer_fen == 100_000_000
    assert limited.insurer_cut_fen == free.insurer_fen - 100_000_000
    assert limited.bank_fen == free.bank_fen + limited.insurer_cut_fen
    assert (limited.fund_fen, limited.appraiser_fen) == (free.fund_fen, free.appraiser_fen)
    # a limit above the share changes nothing
    assert split_loss(600_000_000, 800_000_000, 1_000_000_000, scheme_5311, 10**12) == free


# -- Recovery on the first split ----------------------------------------------------------------


def test_recovery_examples(scheme_5311):
    split = split_loss(600_000_000, 800_000_000, 1_000_000_000, scheme_5311)
    shares = split.shares()
    gross, costs = 120_000_001, 20_000_000
    net = gross - costs
    whole = recovery_increment(0, net, split.loss_fen, shares)
    assert whole == {"fund": 40_000_000, "insurer": 24_000_000, "appraiser": 8_000_000, "bank": 28_000_001}

    first = recovery_increment(0, 50_000_000, split.loss_fen, shares)
    second = recovery_increment(50_000_000, 50_000_001, split.loss_fen, shares)
    assert first["bank"] == 14_000_000 and second["bank"] == 14_000_001
    assert {p: first[p] + second[p] for p in whole} == whole

    later = recovery_increment(net, 700_000_000 - net, split.loss_fen, shares)
    totals = {p: whole[p] + later[p] for p in whole}
    assert totals == {"fund": 240_000_000, "insurer": 144_000_000, "appraiser": 48_000_000, "bank": 268_000_000}

    arrays = recovery_increment_array([0, 0, 50_000_000, net], [net, 50_000_000, 50_000_001, 700_000_000 - net],
                                      split.loss_fen, shares)
    for i, parts in enumerate([whole, first, second, later]):
        assert {p: int(a[i]) for p, a in arrays.items()} == parts


def test_bank_part_of_one_recovery_can_be_negative(scheme_5311):
    """RULES A5 read literally: three floors step up on the last fen; the bank's total stays >= 0."""
    split = split_loss(600_000_000, 800_000_000, 1_000_000_000, scheme_5311)
    before = recovery_increment(0, split.loss_fen - 1, split.loss_fen, split.shares())
    last = recovery_increment(split.loss_fen - 1, 1, split.loss_fen, split.shares())
    assert last == {"fund": 1, "insurer": 1, "appraiser": 1, "bank": -2}
    assert before["bank"] + last["bank"] == split.loss_fen - sum(split.shares().values()) >= 0


# -- Bank cap and cash (scheme 50, cap 500 bp) --------------------------------------------------


CAP_SEQUENCE = [  # (year, L, C) with principal 1 000 000 000
    (2026, 800_000_000, 1_000_000_000),
    (2026, 900_000_000, 1_000_000_000),
    (2026, 600_000_000, 1_000_000_000),
    (2027, 200_000_000, 500_000_000),
]
CAP_EXPECTED = [  # (base, fund, bank, paid, deferred)
    (800_000_000, 400_000_000, 400_000_000, 400_000_000, 0),
    (900_000_000, 450_000_000, 450_000_000, 450_000_000, 0),
    (600_000_000, 150_000_000, 450_000_000, 150_000_000, 0),
    (100_000_000, 50_000_000, 150_000_000, 0, 50_000_000),
]
LENDING, CAP_BP = 20_000_000_000, 500


def test_bank_cap_and_cash_with_the_primitives(scheme_50):
    assert cap_room(LENDING, CAP_BP, 0) == 1_000_000_000
    cash, deferred, used = 1_000_000_000, [], {}
    for (year, loss, covered), expected in zip(CAP_SEQUENCE, CAP_EXPECTED):
        split = split_loss(loss, covered, 1_000_000_000, scheme_50)
        room = cap_room(LENDING, CAP_BP, used.get(year, 0))
        capped = apply_bank_cap(split, room)
        paid, owed = pay_from_cash(cash, capped.fund_fen)
        cash -= paid
        used[year] = used.get(year, 0) + capped.fund_fen
        if owed:
            deferred.append(owed)
        assert (capped.base_fen, capped.fund_fen, capped.bank_fen, paid, owed) == expected
        assert capped.fund_fen + capped.bank_fen == loss
    third = apply_bank_cap(split_loss(600_000_000, 1_000_000_000, 1_000_000_000, scheme_50), 150_000_000)
    assert (third.fund_before_cap_fen, third.fund_cut_fen) == (300_000_000, 150_000_000)
    assert cash == 0
    settled, to_cash = settle_inflow(5_000_000_000, deferred)
    assert settled == [50_000_000]
    assert cash + to_cash == 4_950_000_000


def test_bank_cap_and_cash_with_the_book(scheme_50):
    book = CapBook(cash_fen=1_000_000_000)
    for i, ((year, loss, covered), expected) in enumerate(zip(CAP_SEQUENCE, CAP_EXPECTED)):
        approval = book.approve(split_loss(loss, covered, 1_000_000_000, scheme_50), key=("bank-1", "gz-2023", year),
                                in_pool_lending_fen=LENDING, cap_bp=CAP_BP, tag=f"claim-{i}")
        split = approval.split
        assert (split.base_fen, split.fund_fen, split.bank_fen, approval.paid_fen, approval.deferred_fen) == expected
    assert book.cash_fen == 0 and book.deferred_fen == 50_000_000
    assert book.used_fen == {("bank-1", "gz-2023", 2026): 1_000_000_000, ("bank-1", "gz-2023", 2027): 50_000_000}
    settlement = book.inflow(5_000_000_000)
    assert settlement.settled == (("claim-3", 50_000_000),)
    assert settlement.to_cash_fen == 4_950_000_000
    assert book.cash_fen == 4_950_000_000 and book.deferred_fen == 0 and book.deferred == []


def test_bank_cap_and_cash_with_the_arrays(scheme_50):
    years = [year for year, _, _ in CAP_SEQUENCE]
    splits = split_loss_array([l for _, l, _ in CAP_SEQUENCE], [c for _, _, c in CAP_SEQUENCE], 1_000_000_000, scheme_50)
    group = np.array([0 if y == 2026 else 1 for y in years])
    room = np.array([cap_room(LENDING, CAP_BP, 0)] * 2)
    approved = cap_in_order_array(splits.fund_fen, group, room)
    # the 2027 claim comes after the 2026 ones: one year at a time, cash carried over
    paid_2026, deferred_2026 = pay_in_order_array(approved[:3], 1_000_000_000)
    cash = 1_000_000_000 - int(paid_2026.sum())
    paid_2027, deferred_2027 = pay_in_order_array(approved[3:], cash)
    paid = np.concatenate([paid_2026, paid_2027])
    deferred = np.concatenate([deferred_2026, deferred_2027])
    bank = splits.bank_fen + splits.fund_fen - approved
    got = list(zip(splits.base_fen.tolist(), approved.tolist(), bank.tolist(), paid.tolist(), deferred.tolist()))
    assert got == CAP_EXPECTED


def test_no_cap_and_approve_claim(scheme_50):
    split = split_loss(800_000_000, 1_000_000_000, 1_000_000_000, scheme_50)
    assert cap_room(LENDING, None, 10**15) is None
    assert apply_bank_cap(split, None) == split
    assert apply_bank_cap(split, 0).fund_fen == 0 and apply_bank_cap(split, 0).bank_fen == 800_000_000
    approval = approve_claim(split, None, 100)
    assert (approval.split, approval.paid_fen, approval.deferred_fen) == (split, 100, split.fund_fen - 100)
    # cutting twice keeps the uncapped share and adds up the cuts
    twice = apply_bank_cap(apply_bank_cap(split, 300_000_000), 100_000_000)
    assert (twice.fund_fen, twice.fund_before_cap_fen, twice.fund_cut_fen) == (100_000_000, 400_000_000, 300_000_000)
    assert cap_room(LENDING, CAP_BP, 2_000_000_000) == 0


# -- input checking -----------------------------------------------------------------------------

SCHEME = {"fund": 5000, "bank": 5000}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 10, 100, SCHEME, None), "loss_fen must be >= 1"),
        ((101, 10, 100, SCHEME, None), "loss_fen (101) must not exceed principal_fen (100)"),
        ((10, 101, 100, SCHEME, None), "covered_fen (101) must not exceed principal_fen (100)"),
        ((10, -1, 100, SCHEME, None), "covered_fen must be >= 0"),
        ((10, 10, 10**12 + 1, SCHEME, None), "principal_fen must be at most"),
        ((10, 10, 0, SCHEME, None), "principal_fen must be >= 1"),
        ((10.0, 10, 100, SCHEME, None), "loss_fen must be an integer"),
        ((True, 10, 100, SCHEME, None), "loss_fen must be an integer"),
        ((10, 10, 100, {"fund": 5000, "bank": 4999}, None), "must add up to 10000, got 9999"),
        ((10, 10, 100, {"fund": 10000}, None), "must include the bank's ratio"),
        ((10, 10, 100, {"bank": 10000}, None), "must include the fund's ratio"),
        ((10, 10, 100, {"fund": 5000, "bank": 6000, "insurer": -1000}, None), "ratios_bp['insurer'] must be >= 0"),
        ((10, 10, 100, {"fund": 5000, "bank": 5000, "lawyer": 0}, None), "unknown party 'lawyer'"),
        ((10, 10, 100, {"fund": 5000.0, "bank": 5000}, None), "ratios_bp['fund'] must be an integer"),
        ((10, 10, 100, SCHEME, -1), "insurer_limit_fen must be >= 0"),
    ],
)
def test_split_loss_refuses_bad_input(args, message):
    with pytest.raises(ValueError) as excinfo:
        split_loss(*args)
    assert message in str(excinfo.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"loss_fen": [0]}, "loss_fen must be >= 1"),
        ({"loss_fen": [101]}, "loss_fen must not exceed principal_fen"),
        ({"covered_fen": [101]}, "covered_fen must not exceed principal_fen"),
        ({"loss_fen": [10.0]}, "loss_fen must hold integers"),
        ({"principal_fen": [10**12 + 1], "loss_fen": [1]}, "principal_fen must be at most"),
        ({"ratios_bp": {"fund": [5000, 4000], "bank": 5000}}, "must broadcast together"),
        ({"ratios_bp": {"fund": [4000], "bank": 5000}}, "must add up to 10000, got 9000"),
        ({"insurer_limit_fen": [-2]}, "insurer_limit_fen must be >= -1"),
    ],
)
def test_split_loss_array_refuses_bad_input(kwargs, message):
    args = {"loss_fen": [10], "covered_fen": [10], "principal_fen": [100], "ratios_bp": SCHEME} | kwargs
    if "ratios_bp" in kwargs and "must broadcast" in message:
        args["loss_fen"] = [10, 10, 10]
    with pytest.raises(ValueError) as excinfo:
        split_loss_array(**args)
    assert message in str(excinfo.value)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, -1, 100, {"fund": 50}), "net_fen must be >= 0"),
        ((-1, 1, 100, {"fund": 50}), "cum_before_net_fen must be >= 0"),
        ((0, 1, 0, {"fund": 0}), "loss_fen must be >= 1"),
        ((0, 1, 100, {"fund": 60, "insurer": 41}), "shares add up to 101, more than loss_fen (100)"),
        ((0, 1, 100, {"bank": 50}), "'bank' is not a non-bank party"),
        ((0, 1, 100, {"fund": -1}), "shares['fund'] must be >= 0"),
    ],
)
def test_recovery_increment_refuses_bad_input(args, message):
    with pytest.raises(ValueError) as excinfo:
        recovery_increment(*args)
    assert message in str(excinfo.value)
    with pytest.raises(ValueError):
        recovery_increment_array(*args)


def test_cap_and_cash_refuse_bad_input():
    for args, message in [
        ((-1, 500, 0), "in_pool_lending_fen must be >= 0"),
        ((100, 10001, 0), "cap_bp must be between 0 and 10000"),
        ((100, 500, -1), "fund_approved_this_year_fen must be >= 0"),
        ((100, 5.0, 0), "cap_bp must be an integer"),
    ]:
        with pytest.raises(ValueError) as excinfo:
            cap_room(*args)
        assert message in str(excinfo.value)
    split = split_loss(10, 10, 10, SCHEME)
    with pytest.raises(ValueError, match="room_fen must be >= 0"):
        apply_bank_cap(split, -1)
    with pytest.raises(ValueError, match="split must be a Split"):
        apply_bank_cap({"fund_fen": 5}, 1)
    with pytest.raises(ValueError, match="cash_fen must be 0 while compensation is deferred"):
        CapBook(cash_fen=1, deferred=[("c", 5)])
    with pytest.raises(ValueError, match="cash_fen must be >= 0"):
        approve_claim(split, None, -1)
    with pytest.raises(ValueError, match="group must be"):
        cap_in_order_array([1, 2], [0, 1], [5])
    with pytest.raises(ValueError, match="amount_fen must be >= 0"):
        pay_in_order_array([-1], 5)
    assert isinstance(split, Split)


def test_unlimited_insurer_rows(scheme_5311):
    arrays = split_loss_array([600_000_000] * 2, 800_000_000, 1_000_000_000, scheme_5311,
                              insurer_limit_fen=[UNLIMITED, 100_000_000])
    assert arrays.row(0) == split_loss(600_000_000, 800_000_000, 1_000_000_000, scheme_5311)
    assert arrays.row(1) == split_loss(600_000_000, 800_000_000, 1_000_000_000, scheme_5311, 100_000_000)
