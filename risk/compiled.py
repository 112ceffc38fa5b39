"""Compiled forms of the stress engine's integer passes (numba, the optional extra ``ipfund[fast]``).

:mod:`risk.engine` draws every random number and takes every ``ndtr``, ``log1p`` and ``exp`` with
numpy and scipy whether numba is installed or not; where it is, these kernels do the bookkeeping
between the draws, which in numpy is a dozen passes over every hit and one sort of all a year's keys:

* :func:`place_hits`: each hit's loan and the fractional part that thinning reads, and which hits
  need their own ``lambda_i`` (the same float operations, in the same order, as the numpy code);
* :func:`new_defaults`: the year's default keys ``scenario * N + slot`` in order, each once, without
  the loans already dead (a bitmap of the loans hit, scenario by scenario, instead of one sort of
  all the keys: numpy's sort of int32 keys is several times slower on some CPUs, AMD's Zen 4 among
  them), with thinning's drop test and the dead loans checked and marked 64 to a word
  (:func:`dead_bitmap`, :func:`mark_dead_ranges` for B2's uncovered loans);
* :func:`year_rows`: a year's rows in one pass: each default's scenario, slot, loss and raw claim,
  the sums per (scenario, cap group), per scenario and per slot;
* :func:`recovery_sums`: M3's recoveries and A5's fund parts, summed per scenario (where a product
  could pass int64 the engine takes numpy's exact form instead).

The engine's figures are the same integers with or without them (tests/test_engine_compiled.py runs
chunks both ways). Without numba, :data:`AVAILABLE` is False and the engine keeps its numpy code.

>>> import numpy as np
>>> from risk import compiled
>>> if compiled.AVAILABLE:
...     none, no_floats = np.zeros(0, np.intp), np.zeros(0)
...     keys = compiled.new_defaults(np.array([0, 1]), np.array([2, 1]), np.array([3, 1, 0]),
...                                  none, none, no_floats, no_floats, no_floats, none, 4, 2,
...                                  compiled.dead_bitmap(2, 4), False, False)
... else:
...     keys = np.array([1, 3, 4])
>>> keys.tolist()
[1, 3, 4]
"""

from __future__ import annotations

import numpy as np

try:
    import numba
except ImportError:  # the optional extra is not installed: the engine keeps its numpy code
    numba = None

AVAILABLE = numba is not None


def _njit(function):
    """numba's compiled form, kept in numba's cache (loaded, not compiled, by later processes) and
    without the GIL (a Dask worker with several threads runs chunks side by side); without numba,
    the function itself."""
    return numba.njit(cache=True, nogil=True)(function) if AVAILABLE else function


def place_hits(count, row_n, row_start, u, year_loans, thin, row_sure):
    """Hit ``h`` of row ``r`` (``count[r]`` hits each, rows in order) falls at ``x = u[h] * row_n[r]``
    on its group's line: on loan ``year_loans[row_start[r] + floor(x)]``. With ``thin``, ``u[h]``
    becomes the fractional part ``x - floor(x)`` (in place), and the hits whose fractional part is
    at least their row's ``row_sure`` are listed (index, row) for the caller to thin.

    Returns ``(slot, unsure_hit, unsure_row)``."""
    total = u.size
    slot = np.empty(total, np.intp)
    unsure_hit = np.empty(total if thin else 0, np.intp)
    unsure_row = np.empty(total if thin else 0, np.intp)
    n_unsure = 0
    h = 0
    for r in range(count.size):
        n, start = row_n[r], row_start[r]
        sure = row_sure[r] if thin else 1.0
        for _ in range(count[r]):
            x = u[h] * n
            whole = np.intp(x)             # floor: x >= 0
            slot[h] = year_loans[start + whole]
            if thin:
                fraction = x - whole
                u[h] = fraction
                if fraction >= sure:
                    unsure_hit[n_unsure] = h
                    unsure_row[n_unsure] = r
                    n_unsure += 1
            h += 1
    return slot, unsure_hit[:n_unsure], unsure_row[:n_unsure]


#: the lowest set bit of a word ``w`` is bit ``_BIT_OF[((w & -w) * _DE_BRUIJN) >> 58]`` (a de Bruijn
#: sequence: the top 6 bits of its product with each power of two differ)
_DE_BRUIJN = np.uint64(0x03F79D71B4CB0A89)
_BIT_OF = np.zeros(64, np.intp)
for _bit in range(64):
    _BIT_OF[(((1 << _bit) * int(_DE_BRUIJN)) % 2**64) >> 58] = _bit


def dead_bitmap(n_scenarios: int, n_loans: int) -> np.ndarray:
    """No loan dead yet: one bit per (scenario, slot), a row of 64-bit words per scenario."""
    return np.zeros((n_scenarios, (n_loans + 63) >> 6), np.uint64)


def mark_dead_ranges(dead, scenario, start, length):
    """Flag as dead, in scenario ``scenario[i]``, the slots ``start[i] .. start[i] + length[i] - 1``
    (whole words at once where the range covers them)."""
    ones = ~np.uint64(0)
    for i in range(scenario.size):
        if length[i] <= 0:
            continue
        row = dead[scenario[i]]
        first, last = start[i], start[i] + length[i] - 1
        first_word, last_word = first >> 6, last >> 6
        # the bits from ``first``'s on in its word, and those up to ``last``'s in its word
        head = ones << np.uint64(first & 63)
        tail = ones >> np.uint64(63 - (last & 63))
        if first_word == last_word:
            row[first_word] |= head & tail
        else:
            row[first_word] |= head
            for word in range(first_word + 1, last_word):
                row[word] = ones
            row[last_word] |= tail


def new_defaults(row_scenario, count, slot, unsure_hit, unsure_row, lam_i, u, row_lam, dense_keys, n_loans,
                 n_scenarios, dead, check_dead, mark_dead):
    """The year's defaults as sorted keys ``scenario * n_loans + slot``, each once.

    ``row_scenario[r]`` is the scenario of row ``r`` (rows in scenario order), whose ``count[r]``
    hits are ``slot[...]`` in row order. Thinning drops hit ``unsure_hit[j]`` (in increasing
    order; of row ``unsure_row[j]``) when ``u[h] * row_lam[row] >= lam_i[j]``, the numpy code's
    test. ``dense_keys`` are the keys the dense path drew, in scenario order. ``dead`` is a
    :func:`dead_bitmap`: with ``check_dead`` the loans flagged there (dead before the year) are left
    out, with ``mark_dead`` the keys returned are flagged there.

    A scenario's hits are set as bits of one bitmap of its ``n_loans`` slots, which is then read
    word by word: the keys come out in order and each once, without a sort, and a word of the dead
    bitmap checks and marks 64 loans at once (the hit bitmap is cleared as it is read; only the
    words between the lowest and the highest hit are read)."""
    out = np.empty(slot.size + dense_keys.size, np.intp)
    bitmap = np.zeros((n_loans + 63) >> 6, np.uint64)
    one, six, low_bits, shift = np.uint64(1), np.uint64(6), np.uint64(63), np.uint64(58)
    o = 0
    h = 0
    r = 0
    d = 0
    x = 0
    n_rows = count.size
    for b in range(n_scenarios):
        base = b * n_loans
        lowest, highest = bitmap.size, -1
        while r < n_rows and row_scenario[r] == b:
            for _ in range(count[r]):
                keep = True
                if x < unsure_hit.size and unsure_hit[x] == h:
                    keep = u[h] * row_lam[unsure_row[x]] < lam_i[x]
                    x += 1
                if keep:
                    s = np.uint64(slot[h])
                    word = np.intp(s >> six)
                    bitmap[word] |= one << (s & low_bits)
                    lowest = min(lowest, word)
                    highest = max(highest, word)
                h += 1
            r += 1
        limit = base + n_loans
        while d < dense_keys.size and dense_keys[d] < limit:
            s = np.uint64(dense_keys[d] - base)
            word = np.intp(s >> six)
            bitmap[word] |= one << (s & low_bits)
            lowest = min(lowest, word)
            highest = max(highest, word)
            d += 1
        for word in range(lowest, highest + 1):
            w = bitmap[word]
            if w == 0:
                continue
            bitmap[word] = 0
            if check_dead:
                w &= ~dead[b, word]
            if mark_dead:
                dead[b, word] |= w
            first_key = base + (word << 6)
            while w != 0:
                lowest_bit = w & (~w + one)
                out[o] = first_key + _BIT_OF[np.intp((lowest_bit * _DE_BRUIJN) >> shift)]
                o += 1
                w ^= lowest_bit
    return out[:o]


def year_rows(keys, n_loans, n_scenarios, cap_group, n_cap_groups, loss_of, raw_of, base_of, insurer_of,
              appraiser_of):
    """One pass over the year's sorted default keys ``scenario * n_loans + slot``.

    Per default: its scenario, slot, exposure ``loss_of[slot]`` and fund share ``raw_of[slot]``.
    Per run of one (scenario, cap group): its first row, scenario and group, and the sums of the
    fund shares and of B2's ``base_of`` (empty: not summed). Per scenario: the defaults' number and
    the sums of the exposures and of ``insurer_of`` and ``appraiser_of`` (empty: not summed). Per
    slot: the number of defaults. Sums are int64 (each fits, as in the numpy code)."""
    K = keys.size
    scenario = np.empty(K, np.intp)
    slot = np.empty(K, np.intp)
    loss = np.empty(K, np.int64)
    raw = np.empty(K, np.int64)
    starts = np.empty(K, np.intp)
    run_scenario = np.empty(K, np.intp)
    run_group = np.empty(K, np.intp)
    raw_run = np.empty(K, np.int64)
    base_run = np.zeros(K if base_of.size else 0, np.int64)
    n_by_scenario = np.zeros(n_scenarios, np.int64)
    loss_by_scenario = np.zeros(n_scenarios, np.int64)
    insurer_by_scenario = np.zeros(n_scenarios if insurer_of.size else 0, np.int64)
    appraiser_by_scenario = np.zeros(n_scenarios if appraiser_of.size else 0, np.int64)
    count_by_slot = np.zeros(n_loans, np.int64)
    with_base, with_insurer, with_appraiser = base_of.size > 0, insurer_of.size > 0, appraiser_of.size > 0
    runs = 0
    previous_cell = -1
    b = 0
    base = 0           # b * n_loans: the keys are sorted, so the scenario only goes up (no division)
    for i in range(K):
        while keys[i] >= base + n_loans:
            b += 1
            base += n_loans
        s = keys[i] - base
        g = cap_group[s]
        cell = b * n_cap_groups + g
        if cell != previous_cell:
            previous_cell = cell
            starts[runs] = i
            run_scenario[runs] = b
            run_group[runs] = g
            raw_run[runs] = 0
            runs += 1
        scenario[i] = b
        slot[i] = s
        exposure, share = loss_of[s], raw_of[s]
        loss[i] = exposure
        raw[i] = share
        raw_run[runs - 1] += share
        if with_base:
            base_run[runs - 1] += base_of[s]
        n_by_scenario[b] += 1
        loss_by_scenario[b] += exposure
        if with_insurer:
            insurer_by_scenario[b] += insurer_of[s]
        if with_appraiser:
            appraiser_by_scenario[b] += appraiser_of[s]
        count_by_slot[s] += 1
    return (scenario, slot, loss, raw, starts[:runs], run_scenario[:runs], run_group[:runs], raw_run[:runs],
            base_run[:runs], n_by_scenario, loss_by_scenario, insurer_by_scenario, appraiser_by_scenario,
            count_by_slot)


def recovery_sums(value, rows, r_slot, r_scenario, liquidation_base, loss, approved, n_scenarios):
    """M3 and A5 for the year's recovered defaults, given ``value = exp(sigma Y - sigma^2 / 2)`` per
    row: each recovery ``floor(min(value * liquidation_base[slot], loss))`` and the fund's part of
    it ``floor(recovery * approved / loss)``, the parts and the recoveries summed per scenario
    (``r_scenario`` in order). The same float and integer operations as the numpy code.

    Returns ``(recovery, fund_part_by_scenario, recovery_by_scenario, fits)``; where some product
    ``recovery * approved`` could pass int64 (``fits`` False) the parts are left to the caller."""
    n = rows.size
    recovery = np.empty(n, np.int64)
    largest_recovery, largest_share = 0, 0
    for j in range(n):
        v = value[j] * liquidation_base[r_slot[j]]
        exposure = loss[rows[j]]
        if v > exposure:
            v = np.float64(exposure)
        recovery[j] = np.int64(v)               # floor: v >= 0
        largest_recovery = max(largest_recovery, recovery[j])
        largest_share = max(largest_share, approved[rows[j]])
    fund_part = np.zeros(n_scenarios, np.int64)
    recovered = np.zeros(n_scenarios, np.int64)
    fits = largest_share == 0 or largest_recovery <= np.iinfo(np.int64).max // largest_share
    for j in range(n):
        b = r_scenario[j]
        recovered[b] += recovery[j]
        if fits:
            fund_part[b] += recovery[j] * approved[rows[j]] // loss[rows[j]]
    return recovery, fund_part, recovered, fits


# Compiled here rather than decorated: mutmut leaves decorated functions alone, and the mutation
# command's ``compiled`` target runs these as Python (NUMBA_DISABLE_JIT=1) to mutate them.
place_hits, mark_dead_ranges, new_defaults, year_rows, recovery_sums = (
    _njit(kernel) for kernel in (place_hits, mark_dead_ranges, new_defaults, year_rows, recovery_sums))


def warm_up() -> None:
    """Compile the kernels (or load them from numba's cache) now, on tiny inputs: a worker process
    does it when it starts, so its first chunk does not wait for it."""
    if not AVAILABLE:
        return
    none, no_floats = np.zeros(0, np.intp), np.zeros(0)
    one = np.ones(1, np.intp)
    place_hits(one, np.ones(1), np.zeros(1, np.int64), np.zeros(1), np.zeros(1, np.intp), True, np.ones(1))
    bits = dead_bitmap(1, 1)
    mark_dead_ranges(bits, none, none, none)
    new_defaults(none, none, none, none, none, no_floats, no_floats, no_floats, none, 1, 1, bits, True, True)
    empty = np.zeros(0, np.int64)
    year_rows(none, 1, 1, np.zeros(1, np.intp), 1, empty, empty, empty, empty, empty)
    recovery_sums(no_floats, none, none, none, no_floats, empty, empty, 1)
