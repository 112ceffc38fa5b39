"""The shared exact kernels (risk/kernels.py) give the integers of their scalar forms over the whole
range: int64 where it is exact, exact arithmetic where a product or a sum would pass 2^63."""

from __future__ import annotations

import doctest

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from risk import kernels
from risk.kernels import (
    NO_CAP,
    capped_part,
    capped_running_sum,
    capped_granted_in_runs,
    floor_mul_div,
    mul_div_floor,
    run_starts,
)

INT64_MAX = 2**63 - 1
operand = st.one_of(st.integers(0, 10**12), st.integers(2**40 - 2**20, 2**40 + 2**20), st.integers(0, 2**62), st.integers(0, 2**80))


def test_doctests_pass():
    result = doctest.testmod(kernels, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(operand, operand, st.one_of(st.integers(1, 10**12), st.integers(1, 2**80))), min_size=1, max_size=30))
def test_mul_div_floor_equals_python_integers(rows):
    rows = [(a, b, d) for a, b, d in rows if a * b // d <= INT64_MAX]
    if not rows:
        return
    a, b, d = (list(column) for column in zip(*rows))
    assert mul_div_floor(a, b, d).tolist() == [floor_mul_div(x, y, z) for x, y, z in rows]
    if all(max(row) <= INT64_MAX for row in rows):
        a64, b64, d64 = (np.array(column, dtype=np.int64) for column in (a, b, d))
        assert mul_div_floor(a64, b64, d64).tolist() == [x * y // z for x, y, z in rows]


def test_mul_div_floor_never_wraps():
    big = np.array([10**12, 10**12 - 1], dtype=np.int64)
    assert mul_div_floor(big, big, np.array([10**12, 10**6 + 3], dtype=np.int64)).tolist() == [10**12, (10**12 - 1) ** 2 // (10**6 + 3)]
    assert mul_div_floor([2**62], [2**62], [2**62]).tolist() == [2**62]  # operands past the split limit


amounts = st.one_of(st.integers(0, 10**12), st.integers(0, 4 * 10**18))
room = st.one_of(st.none(), st.integers(0, 3 * 10**12), st.integers(0, 10**19))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), amounts), max_size=40), st.lists(room, min_size=4, max_size=4))
def test_capped_running_sum_equals_the_scalar_form_row_by_row(rows, rooms):
    used = [0] * 4
    expected, over = [], []
    for group, amount in rows:
        expected.append(capped_part(amount, used[group], rooms[group]))
        used[group] += amount
        over.append(rooms[group] is not None and used[group] > rooms[group])
    got = capped_running_sum([a for _, a in rows], [g for g, _ in rows], rooms)
    assert got.granted.tolist() == expected
    assert got.over.tolist() == over
    if all(r is None or r < 2**62 for r in rooms):
        as_array = np.array([NO_CAP if r is None else r for r in rooms], dtype=np.int64)
        assert capped_running_sum(np.array([a for _, a in rows], dtype=np.int64), [g for g, _ in rows], as_array).granted.tolist() == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.integers(0, 10**12), max_size=12), max_size=8), st.lists(room, min_size=8, max_size=8),
       st.integers(0, 2))
def test_the_run_form_equals_the_scalar_form_even_when_the_sum_of_all_runs_passes_int64(runs, rooms, giants):
    # runs of ~4 * 10**18 first: the running sum over all rows wraps past 2**63, each run's own sum does not
    runs = [[4 * 10**18]] * giants + [run for run in runs if run]
    rooms = [NO_CAP if r is None or r >= 2**62 else r for r in rooms] + [NO_CAP] * giants
    amounts, starts, expected = [], [], []
    for j, run in enumerate(runs):
        starts.append(len(amounts))
        used = 0
        for amount in run:
            expected.append(capped_part(amount, used, None if rooms[j] == NO_CAP else rooms[j]))
            used += amount
            amounts.append(amount)
    got = capped_granted_in_runs(np.array(amounts, dtype=np.int64), np.array(starts, dtype=np.int64),
                                 np.array(rooms[:len(runs)], dtype=np.int64))
    assert got.tolist() == expected
    group = np.repeat(np.arange(len(runs)), [len(run) for run in runs])
    assert run_starts(group).tolist() == starts
