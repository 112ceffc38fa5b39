"""Survivors of the mutation run over risk/kernels.py (docs/mutation.md), killed by pinning the two
kernels as docs/rules.md section 0 needs them ("each figure computed exactly and floored once";
single amounts up to 10^12 fen, sums and balances larger) and section 4 (A3: claims taken one at a
time in order, each cut to what is left of its group's room):

* ``floor(a x b / d)`` row by row, exact whatever the size of the product, as int64;
* the capped running sum: row ``i`` of group ``g`` gets ``min(amount_i, max(0, room_g - used_before))``
  where ``used_before`` is the sum of the earlier rows of ``g`` in the given order; no room: all of it.

Expected figures are worked by hand here, or, for operands near 2^40 and beyond int64, from the
definition in Python integers (``a * b // d``), never from the kernels' own output.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from risk.kernels import (
    NO_CAP,
    capped_granted_in_runs,
    capped_part,
    capped_running_sum,
    floor_mul_div,
    mul_div_floor,
    run_starts,
)

INT64_MAX = 2**63 - 1


def refused(message: str):
    return pytest.raises(ValueError, match=f"^{re.escape(message)}$")


# --------------------------------------------------------------------------------------------------
# floor(a * b / d)


def test_the_scalar_form_floors_once_and_refuses_a_divisor_that_is_not_positive():
    assert floor_mul_div(7, 3, 2) == 10  # floor(10.5)
    assert floor_mul_div(7, 3, 1) == 21
    assert floor_mul_div(0, 3, 5) == 0
    for d in (0, -1):
        with refused("the divisor must be positive"):
            floor_mul_div(7, 3, d)


def test_rows_that_fit_int64_are_floored_once():
    got = mul_div_floor([7, 7, 0, 5, 9], [3, 3, 3, 0, 1], [2, 1, 5, 3, 1])
    assert got.tolist() == [10, 21, 0, 0, 9]
    assert got.dtype == np.int64
    # int32 and int64 arrays in, int64 out
    got = mul_div_floor(np.array([7], dtype=np.int32), np.array([3], dtype=np.int64), np.array([2], dtype=np.int16))
    assert got.tolist() == [10] and got.dtype == np.int64
    # a product exactly at int64's top takes the plain path and is exact
    assert mul_div_floor([INT64_MAX], [1], [2]).tolist() == [INT64_MAX // 2]
    # an operand of 0 next to a huge one
    assert mul_div_floor([INT64_MAX, 0], [0, INT64_MAX], [1, 1]).tolist() == [0, 0]


def test_the_divisors_must_be_positive():
    for d in ([0], [-3], [5, 0]):
        with refused("the divisors must be positive"):
            mul_div_floor([1] * len(d), [1] * len(d), d)
    with refused("the divisors must be positive"):
        mul_div_floor([10**12], [10**12], [0])  # on the overflow path too


def test_empty_rows():
    got = mul_div_floor(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    assert got.shape == (0,) and got.dtype == np.int64
    got = mul_div_floor(np.zeros((2, 0), dtype=np.int64), 3, 1)
    assert got.shape == (2, 0) and got.dtype == np.int64


def test_rows_whose_product_passes_int64_are_exact_on_every_path_in_one_call():
    # plain, split (operands below 2^40) and Python-integer rows (an operand of 2^40 or more) together
    a = [7, 10**12, 2**40 - 1, 2**62, 3 * 2**40, 2**40 - 1]
    b = [3, 10**12 - 1, 2**40 - 3, 4, 2**40 - 7, 2**41]
    d = [2, 10**12, 2**40 - 5, 8, 2**40 + 11, 2**40 + 1]
    expected = [x * y // z for x, y, z in zip(a, b, d)]
    assert expected[:2] == [10, 999_999_999_999]  # floor(10^24 - 10^12) / 10^12 = 10^12 - 1
    got = mul_div_floor(np.array(a, dtype=np.int64), np.array(b, dtype=np.int64), np.array(d, dtype=np.int64))
    assert got.tolist() == expected and got.dtype == np.int64


@pytest.mark.parametrize(
    ("a", "b", "d"),
    [
        # every low bit of the split set, and remainders close to the divisor
        (2**40 - 1, 2**40 - 1, 2**40 - 1),
        (2**40 - 1, 2**40 - 1, 2**39 + 12_345),
        (2**40 - 1, 2**40 - 2, 2**20 + 3),
        (2**22 * 5 + 2**22 - 1, 2**40 - 1, 2**40 - 2),
        (10**12, 10**12, 10**12 - 1),
        (10**12 - 1, 999_999_999_989, 10**12 + 39),
        (2**40 - 2**21, 2**40 - 1, 2**23 - 1),
        (2**39 + 2**22 - 1, 2**40 - 1, 2**24 + 1),
    ],
)
def test_the_split_multiply_is_exact_near_its_limit(a, b, d):
    assert a * b > INT64_MAX and a * b // d <= INT64_MAX
    assert mul_div_floor(np.array([a]), np.array([b]), np.array([d])).tolist() == [a * b // d]
    assert mul_div_floor(np.array([b]), np.array([a]), np.array([d])).tolist() == [a * b // d]


def test_operands_beyond_int64_as_python_integers():
    assert mul_div_floor([2**70], [3], [2**10]).tolist() == [3 * 2**60]
    assert mul_div_floor([10**12], [2**70], [2**71]).tolist() == [500_000_000_000]
    assert mul_div_floor([2**70, 7], [1, 3], [2**20, 2]).tolist() == [2**50, 10]
    with pytest.raises(OverflowError):
        mul_div_floor([2**70], [2**70], [1])  # the result itself does not fit int64


# --------------------------------------------------------------------------------------------------
# the capped running sum


def test_capped_part_by_hand():
    assert capped_part(300, 850, 1000) == 150
    assert capped_part(300, 700, 1000) == 300
    assert capped_part(300, 1000, 1000) == 0
    assert capped_part(300, 1200, 1000) == 0  # never negative
    assert capped_part(300, 5, None) == 300
    assert capped_part(0, 0, 0) == 0


def test_rows_taken_in_order_per_group_with_upto_and_over_by_hand():
    # group 0, room 12: 5, 5 (upto 10), 5 -> 2 (upto 15, over); group 1 no room: 7, 9; group 2, room 0: 4 -> 0
    r = capped_running_sum([5, 7, 5, 4, 9, 5], [0, 1, 0, 2, 1, 0], [12, None, 0])
    assert r.granted.tolist() == [5, 7, 5, 0, 9, 2]
    assert r.upto.tolist() == [5, 7, 10, 4, 16, 15]
    assert r.over.tolist() == [False, False, False, True, False, True]
    assert r.granted.dtype == np.int64 and r.upto.dtype == np.int64 and r.over.dtype == bool
    # a group whose total equals its room is not over
    r = capped_running_sum([6, 6], [0, 0], [12])
    assert r.granted.tolist() == [6, 6] and r.over.tolist() == [False, False]


def test_an_int64_room_array_marks_no_cap_with_a_negative_room():
    r = capped_running_sum(np.array([5, 5, 5]), [0, 1, 1], np.array([NO_CAP, 6]))
    assert r.granted.tolist() == [5, 5, 1] and r.over.tolist() == [False, False, True]
    assert NO_CAP < 0


def test_no_rows():
    r = capped_running_sum([], [], [5])
    assert r.granted.tolist() == [] and r.upto.tolist() == [] and r.over.tolist() == []
    assert r.granted.dtype == np.int64 and r.upto.dtype == np.int64 and r.over.dtype == bool


def test_the_given_order_is_kept_within_a_group_among_many_interleaved_rows():
    # 600 rows in 3 interleaved groups; amounts 1..600 in row order; rooms bind part way through
    n = 600
    amounts = list(range(1, n + 1))
    groups = [(i * 7) % 3 for i in range(n)]
    rooms = [20_000, None, 1_000]
    used = [0, 0, 0]
    expected = []
    for amount, g in zip(amounts, groups):  # the rule, row by row
        expected.append(amount if rooms[g] is None else min(amount, max(0, rooms[g] - used[g])))
        used[g] += amount
    got = capped_running_sum(np.array(amounts, dtype=np.int64), np.array(groups), rooms)
    assert got.granted.tolist() == expected
    assert sum(e for e, g in zip(expected, groups) if g == 0) == 20_000
    assert sum(e for e, g in zip(expected, groups) if g == 2) == 1_000


def test_amounts_beyond_int64_take_python_integers():
    r = capped_running_sum([2**70, 5, 3], [0, 1, 1], [None, 6])
    assert r.granted.tolist() == [2**70, 5, 1]
    assert r.upto.tolist() == [2**70, 5, 8]
    assert r.over.tolist() == [False, False, True]
    # with an int64 room array, its negative rooms mean no cap there too
    r = capped_running_sum([2**70, 5, 3], [0, 1, 1], np.array([NO_CAP, 6]))
    assert r.granted.tolist() == [2**70, 5, 1] and r.over.tolist() == [False, False, True]


def test_rooms_and_sums_near_int64_take_python_integers():
    # a room of 2^62 or more (as a list, or an unsigned array) takes the exact path
    r = capped_running_sum([2**62, 2**62, 5], [0, 0, 0], [2**62 + 3])
    assert r.granted.tolist() == [2**62, 3, 0] and r.upto.tolist() == [2**62, 2**63, 2**63 + 5]
    r = capped_running_sum([2**62, 2**62], [0, 0], np.array([2**63 + 3], dtype=np.uint64))
    assert r.granted.tolist() == [2**62, 2**62] and r.over.tolist() == [False, False]
    # amounts that fit int64 one by one but whose sum passes it
    r = capped_running_sum([4 * 10**18, 4 * 10**18, 4 * 10**18], [0, 0, 0], [10**19])
    assert r.granted.tolist() == [4 * 10**18, 4 * 10**18, 2 * 10**18]
    assert r.upto.tolist() == [4 * 10**18, 8 * 10**18, 12 * 10**18]
    assert r.over.tolist() == [False, False, True]
    # just under the limit: 2^61 twice sums to 2^62 (int64 is exact there)
    r = capped_running_sum([2**61, 2**61], [0, 0], [2**62 - 1])
    assert r.granted.tolist() == [2**61, 2**61 - 1] and r.over.tolist() == [False, True]


def test_run_starts_by_hand():
    assert run_starts(np.array([3, 3, 5, 5, 5, 9])).tolist() == [0, 2, 5]
    assert run_starts(np.array([4])).tolist() == [0]
    assert run_starts(np.array([4, 4, 4])).tolist() == [0]
    assert run_starts(np.array([1, 2, 1])).tolist() == [0, 1, 2]
    empty = run_starts(np.zeros(0, dtype=np.int64))
    assert empty.tolist() == [] and empty.dtype == np.int64


def test_capped_granted_in_runs_by_hand():
    # runs [5, 5, 5] room 12, [9] no cap, [4, 1] room 0, [3, 3] room 6 (equal: nothing cut), [2, 8, 1] room 9
    amounts = np.array([5, 5, 5, 9, 4, 1, 3, 3, 2, 8, 1])
    starts = np.array([0, 3, 4, 6, 8])
    rooms = np.array([12, NO_CAP, 0, 6, 9])
    assert capped_granted_in_runs(amounts, starts, rooms).tolist() == [5, 5, 2, 9, 0, 0, 3, 3, 2, 7, 0]
    assert amounts.tolist() == [5, 5, 5, 9, 4, 1, 3, 3, 2, 8, 1]  # the input is not changed
    # no run binding: all granted
    assert capped_granted_in_runs(np.array([1, 2]), np.array([0, 1]), np.array([1, 2])).tolist() == [1, 2]
    empty = capped_granted_in_runs(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    assert empty.tolist() == []


def test_unsigned_arrays_beyond_int64_are_not_wrapped():
    # found by the mutation audit: a uint64 array was cast to int64 unchecked, so 2^63 read as -2^63
    big = np.array([2**63], dtype=np.uint64)
    assert mul_div_floor(big, [1], [2]).tolist() == [2**62]
    assert capped_running_sum(np.array([2**63 + 1], dtype=np.uint64), [0], [None]).granted.tolist() == [2**63 + 1]


def test_a_product_just_past_int64_is_exact():
    # a = floor((2^63 - 1) / 3) + 1: a x 3 = 2^63 + 1 passes int64 by 2, so this row must not take the plain path
    a = (2**63 - 1) // 3 + 1
    assert a * 3 == 2**63 + 1
    assert mul_div_floor([a], [3], [3]).tolist() == [a]
    assert mul_div_floor([a - 1], [3], [3]).tolist() == [a - 1]  # the largest a whose product fits


def test_python_integer_rows_keep_every_digit_of_operands_past_2_to_the_53():
    # rows with an operand of 2^40 or more whose product passes int64 are done in Python integers:
    # (2^62 + 3) x 2 / 2 = 2^62 + 3 (a float would drop the 3); 2^64 / (2^53 + 1) = 2047 (a float gives 2048)
    assert mul_div_floor(np.array([2**62 + 3]), np.array([2]), np.array([2])).tolist() == [2**62 + 3]
    assert mul_div_floor(np.array([2]), np.array([2**62 + 3]), np.array([2])).tolist() == [2**62 + 3]
    assert mul_div_floor(np.array([2**62]), np.array([4]), np.array([2**53 + 1])).tolist() == [2047]


def test_two_dimensional_rows_with_python_integers():
    a = [[2**70, 7], [3, 2**70]]
    b = [[1, 3], [2, 1]]
    d = [[2**20, 2], [1, 2**69]]
    assert mul_div_floor(a, b, d).tolist() == [[2**50, 10], [6, 2]]
    big = np.array([[2**62 + 3, 1], [5, 2**62]])  # int64, some rows past int64 once multiplied
    assert mul_div_floor(big, 2, 2).tolist() == [[2**62 + 3, 1], [5, 2**62]]


def test_an_int64_room_past_2_to_the_53_is_kept_exactly():
    r = capped_running_sum(np.array([2**53 + 5, 7]), [0, 0], np.array([2**53 + 1]))
    assert r.granted.tolist() == [2**53 + 1, 0] and r.over.tolist() == [True, True]


def test_running_sums_past_int64_are_exact_with_or_without_a_room():
    # 4 x 10^18 three times: each fits int64, their sum (1.2 x 10^19) does not
    r = capped_running_sum([4 * 10**18] * 3, [0, 0, 0], [None])
    assert r.granted.tolist() == [4 * 10**18] * 3 and r.upto.tolist() == [4 * 10**18, 8 * 10**18, 12 * 10**18]
    r = capped_running_sum([4 * 10**18] * 3, [0, 0, 0], [2**61])
    assert r.granted.tolist() == [2**61, 0, 0] and r.over.tolist() == [True, True, True]


def test_the_python_path_says_over_only_past_the_room_and_grants_python_integers():
    # an amount beyond int64 in group 0 sends the whole call down the Python-integer path
    r = capped_running_sum([2**70, 6, 6, 1], [0, 1, 1, 1], [None, 12])
    assert r.granted.tolist() == [2**70, 6, 6, 0]
    assert r.over.tolist() == [False, False, False, True]  # 12 of 12 is not over; 13 is
    r = capped_running_sum([2**70, 5], [0, 0], [3])
    assert r.granted.tolist() == [3, 0]
    assert all(type(v) is int for v in r.granted) and all(type(v) is int for v in r.upto)
    assert r.over.dtype == bool


def test_an_object_array_of_python_integers_is_exact():
    assert mul_div_floor(np.array([2**70, 7], dtype=object), [3, 3], [2**10, 2]).tolist() == [3 * 2**60, 10]


def test_an_int64_room_array_on_the_python_path():
    # the amounts pass int64, so Python integers; a room of 0 is a room (nothing granted), NO_CAP none
    r = capped_running_sum([2**70, 5, 4], [0, 1, 2], np.array([NO_CAP, 0, 3]))
    assert r.granted.tolist() == [2**70, 0, 3] and r.over.tolist() == [False, True, True]
    r = capped_running_sum([2**70, 5], [0, 0], np.array([3]))
    assert r.granted.tolist() == [3, 0] and all(type(v) is int for v in r.granted)
