"""Exact integer kernels that the rules' vectorised forms share (docs/rules.md section 0: "exact at any
size"): ``floor(a * b / d)`` row by row, and the capped running sum (amounts taken in order until a
group's room is used up). Rule A (``risk.allocation``: A2's base, A5's parts, A3 in order) and rule S
(``fund.domain.subsidy``: S2's amount, S3 in order) call these; nothing else restates them.

Every function gives the same integers as its scalar form over Python ints; int64 is a speed-up,
never a limit: rows whose intermediate product could pass 2^63 are computed exactly (split in int64
where the operands allow it, else with Python integers), never wrapped.

>>> mul_div_floor([10**12, 7], [10**12 - 1, 3], [10**12, 2]).tolist()
[999999999999, 10]
>>> capped_running_sum([400, 450, 300, 70], [0, 0, 0, 1], [1000, None]).granted.tolist()
[400, 450, 150, 70]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

INT64_MAX = int(np.iinfo(np.int64).max)

# Exact a*b//d for 0 <= a, b, d < 2**40 (10**12 < 2**40) in int64: a = hi*2**22 + lo, then
# hi*b < 2**58, r*2**22 < 2**62 and lo*b < 2**62, so no step passes 2**63.
_SPLIT_BITS = 22
_LOW_MASK = (1 << _SPLIT_BITS) - 1
SPLIT_OPERAND_LIMIT = 1 << 40


# ---------------------------------------------------------------------------------------------
# floor(a * b / d)
# ---------------------------------------------------------------------------------------------


def floor_mul_div(a: int, b: int, d: int) -> int:
    """The scalar form: ``floor(a * b / d)`` with Python integers (exact at any size).

    >>> floor_mul_div(10**12, 10**12 - 1, 10**12)
    999999999999
    """
    if d <= 0:
        raise ValueError("the divisor must be positive")
    return (a * b) // d


def _int64_or_none(values: object) -> np.ndarray | None:
    """``values`` as an int64 array, or None when some value does not fit int64."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "iu":
        if values.dtype == np.uint64 and values.size and int(values.max()) > np.iinfo(np.int64).max:
            return None  # an array cast does not raise: it would wrap
        return values.astype(np.int64, copy=False)
    try:
        array = np.asarray(values, dtype=np.int64)
    except OverflowError:
        return None
    return array


def mul_div_floor(a: object, b: object, d: object) -> np.ndarray:
    """``floor(a * b / d)`` row by row, exactly, as int64 (the results must fit int64).

    ``a``, ``b``, ``d`` broadcast together; ``a, b >= 0`` and ``d > 0``; any of them may hold
    Python integers beyond int64. Rows whose product fits int64 take the plain path; the others
    the split multiply when every operand is below 2^40 (the rules' single amounts are at most 10^12),
    else Python integers.

    >>> mul_div_floor([10**12], [2**70], [2**71]).tolist()
    [500000000000]
    """
    a64, b64, d64 = _int64_or_none(a), _int64_or_none(b), _int64_or_none(d)
    if a64 is None or b64 is None or d64 is None:
        return _python_rows(np.asarray(a, dtype=object), np.asarray(b, dtype=object), np.asarray(d, dtype=object))
    a64, b64, d64 = np.broadcast_arrays(a64, b64, d64)
    if a64.size == 0:
        return np.zeros(a64.shape, dtype=np.int64)
    if int(d64.min()) <= 0:
        raise ValueError("the divisors must be positive")
    may_overflow = a64 > INT64_MAX // np.maximum(b64, 1)
    if not may_overflow.any():
        return a64 * b64 // d64
    out = np.empty(a64.shape, dtype=np.int64)
    fits = ~may_overflow
    out[fits] = a64[fits] * b64[fits] // d64[fits]
    big_a, big_b, big_d = a64[may_overflow], b64[may_overflow], d64[may_overflow]
    splittable = (big_a < SPLIT_OPERAND_LIMIT) & (big_b < SPLIT_OPERAND_LIMIT) & (big_d < SPLIT_OPERAND_LIMIT)
    split = np.empty(big_a.shape, dtype=np.int64)
    if splittable.any():
        sa, sb, sd = big_a[splittable], big_b[splittable], big_d[splittable]
        quotient, remainder = np.divmod((sa >> _SPLIT_BITS) * sb, sd)
        split[splittable] = (quotient << _SPLIT_BITS) + ((remainder << _SPLIT_BITS) + (sa & _LOW_MASK) * sb) // sd
    if not splittable.all():
        rest = ~splittable
        split[rest] = _python_rows(big_a[rest].astype(object), big_b[rest].astype(object), big_d[rest].astype(object))
    out[may_overflow] = split
    return out


def _python_rows(a: np.ndarray, b: np.ndarray, d: np.ndarray) -> np.ndarray:
    a, b, d = np.broadcast_arrays(a, b, d)
    out = np.empty(a.shape, dtype=np.int64)
    flat = out.reshape(-1)
    for k, (x, y, z) in enumerate(zip(a.reshape(-1).tolist(), b.reshape(-1).tolist(), d.reshape(-1).tolist())):
        flat[k] = floor_mul_div(int(x), int(y), int(z))  # OverflowError if the result does not fit int64
    return out


# ---------------------------------------------------------------------------------------------
# the capped running sum
# ---------------------------------------------------------------------------------------------


def capped_part(amount: int, used_before: int, room: int | None) -> int:
    """The scalar form: what of ``amount`` fits in a room of which ``used_before`` is taken
    (``None``: no cap), ``min(amount, max(0, room - used_before))``.

    >>> capped_part(300, 850, 1000), capped_part(300, 850, None)
    (150, 300)
    """
    if room is None:
        return amount
    return min(amount, max(0, room - used_before))


@dataclass(frozen=True)
class CappedSum:
    """Per row, in the given order: ``granted`` what the row gets, ``upto`` its group's amounts
    up to and including the row, and ``over`` whether ``upto`` passes the group's room (the row
    was cut, or an earlier one was)."""

    granted: np.ndarray
    upto: np.ndarray
    over: np.ndarray


#: In an int64 array of rooms, a negative room means "no cap".
NO_CAP = -1
_SUM_LIMIT = 2**62


def _room_array(room: Sequence[int | None] | np.ndarray) -> np.ndarray | None:
    """Rooms as int64 with :data:`NO_CAP` for ``None``; None when some room reaches 2^62."""
    if isinstance(room, np.ndarray) and room.dtype.kind in "iu" and room.dtype != np.uint64:
        array = room.astype(np.int64, copy=False)
    else:
        values = room.tolist() if isinstance(room, np.ndarray) else list(room)
        if any(r is not None and r >= _SUM_LIMIT for r in values):
            return None
        array = np.array([NO_CAP if r is None else r for r in values], dtype=np.int64)
    if array.size and int(array.max()) >= _SUM_LIMIT:
        return None
    return array


def _sums_fit(values: np.ndarray) -> bool:
    if values.size == 0 or int(values.max()) * values.size < _SUM_LIMIT:
        return True
    return sum(values.tolist()) < _SUM_LIMIT


def capped_running_sum(amounts: object, group: object, room: Sequence[int | None] | np.ndarray) -> CappedSum:
    """Rows taken in order, each group's running total capped at its room: row ``i`` gets
    ``min(upto_i, room) - min(upto_i - amount_i, room)``, that is :func:`capped_part` row by row.
    ``room[g]`` is group ``g``'s room: ``None`` (or, in an int64 array, :data:`NO_CAP`) for no cap.
    ``amounts >= 0``; ``group`` numbers the rows' groups ``0..len(room) - 1``. int64 when the
    running sums and rooms fit it, else Python integers (``granted`` and ``upto`` then hold Python
    ints).

    >>> r = capped_running_sum([5, 5, 5], [0, 0, 0], [12])
    >>> r.granted.tolist(), r.over.tolist()
    ([5, 5, 2], [False, False, True])
    """
    groups = np.asarray(group, dtype=np.int64)
    values = _int64_or_none(amounts)
    rooms = _room_array(room)
    if values is None or rooms is None or not _sums_fit(values):
        amount_list = [int(a) for a in (amounts.tolist() if isinstance(amounts, np.ndarray) else amounts)]
        room_list = room.tolist() if isinstance(room, np.ndarray) else list(room)
        if isinstance(room, np.ndarray):
            room_list = [None if r < 0 else r for r in room_list]
        return _capped_running_sum_python(amount_list, groups.tolist(), room_list)
    n = values.size
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return CappedSum(empty, empty.copy(), np.zeros(0, dtype=bool))
    order = np.argsort(groups, kind="stable")  # group by group, the given order kept within a group
    a, g = values[order], groups[order]
    starts = run_starts(g)
    has_cap = rooms >= 0
    granted_sorted = capped_granted_in_runs(a, starts, rooms[g[starts]])
    running = np.cumsum(a)
    first_of_run = np.zeros(n, dtype=np.int64)
    first_of_run[starts] = 1
    upto_sorted = running - np.where(starts > 0, running[starts - 1], 0)[np.cumsum(first_of_run) - 1]
    over_sorted = has_cap[g] & (upto_sorted > np.where(has_cap, rooms, INT64_MAX)[g])
    granted, upto, over = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64), np.empty(n, dtype=bool)
    granted[order], upto[order], over[order] = granted_sorted, upto_sorted, over_sorted
    return CappedSum(granted, upto, over)


def run_starts(group: np.ndarray) -> np.ndarray:
    """Where each run of equal values of ``group`` starts (the first row is one).

    >>> run_starts(np.array([3, 3, 5, 5, 5, 9])).tolist()
    [0, 2, 5]
    """
    if group.size == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.concatenate(([True], group[1:] != group[:-1])))


def capped_granted_in_runs(amounts: np.ndarray, starts: np.ndarray, run_room: np.ndarray) -> np.ndarray:
    """The granted amounts of :func:`capped_running_sum` for rows already in their groups: int64
    ``amounts`` whose groups each stand in one contiguous run, run ``j`` starting at row
    ``starts[j]`` (``starts[0] == 0``, increasing) with room ``run_room[j]`` (:data:`NO_CAP`:
    none). The same integers, without a sort or a check: the caller vouches for the layout and for
    each run's sum fitting int64 (sums across runs may pass 2^63: the running sum wraps, and the
    difference of two wrapped sums within one run is still exact). Only the runs whose total passes
    their room are worked through; the others are granted in full. :func:`capped_running_sum` calls
    it after its sort, the stress engine on rows already sorted by (scenario, cap group).

    >>> capped_granted_in_runs(np.array([5, 5, 5, 9]), np.array([0, 3]), np.array([12, NO_CAP])).tolist()
    [5, 5, 2, 9]
    """
    n = amounts.size
    granted = amounts.copy()
    if n == 0:
        return granted
    running = np.empty(n, dtype=np.int64)
    with np.errstate(over="ignore"):
        np.cumsum(amounts, out=running)
        before_run = np.where(starts > 0, running[starts - 1], 0)
        totals = running[np.append(starts[1:], n) - 1] - before_run
        binding = (run_room >= 0) & (totals > run_room)
        if not binding.any():
            return granted
        first_of_run = np.zeros(n, dtype=np.int64)
        first_of_run[starts] = 1
        run_of_row = np.cumsum(first_of_run) - 1  # np.repeat is slow for many short runs
        rows = np.flatnonzero(binding[run_of_row])
        run = run_of_row[rows]
        upto = running[rows] - before_run[run]
    cap = run_room[run]
    granted[rows] = np.minimum(upto, cap) - np.minimum(upto - amounts[rows], cap)
    return granted


def _capped_running_sum_python(amounts: list[int], groups: list[int], rooms: list[int | None]) -> CappedSum:
    used = [0] * len(rooms)
    granted, upto, over = [], [], []
    for amount, g in zip(amounts, groups):
        give = capped_part(amount, used[g], rooms[g])
        used_before = used[g]
        used[g] = used_before + amount
        granted.append(give)
        upto.append(used[g])
        over.append(rooms[g] is not None and used[g] > rooms[g])
    return CappedSum(np.array(granted, dtype=object), np.array(upto, dtype=object), np.array(over, dtype=bool))
