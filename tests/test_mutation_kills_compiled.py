"""Kill tests for risk/compiled.py (issue 17, mutation target ``compiled``).

Each test states a kernel's documented contract on a small input: its docstring's rule worked by
hand, or its numpy form in risk/engine.py (the engine's figures are the same integers either way).
They pass compiled (numba) and as plain Python (``NUMBA_DISABLE_JIT=1``, how the mutation target
runs them)."""

from __future__ import annotations

import types

import numpy as np
import pytest

import risk.engine as engine
from risk import compiled

if not compiled.AVAILABLE:
    pytest.skip("numba (the 'fast' extra) is not installed", allow_module_level=True)

import numba  # noqa: E402  (numba is installed: the module is skipped otherwise)

from tests.test_engine_compiled import suspending_prep  # noqa: E402

INT64_MAX = np.iinfo(np.int64).max
KERNELS = ("place_hits", "mark_dead_ranges", "new_defaults", "year_rows", "recovery_sums")


def _flagged(dead: np.ndarray, n_loans: int) -> list[tuple[int, int]]:
    """The (scenario, slot) pairs whose bit is set in a dead bitmap (bit ``s & 63`` of word ``s >> 6``)."""
    return [(b, s) for b in range(dead.shape[0]) for s in range(n_loans) if int(dead[b, s >> 6]) >> (s & 63) & 1]


# --- _njit: how the kernels are compiled -------------------------------------------------------


def test_each_kernel_is_compiled_by_numba_with_its_cache(monkeypatch):
    """With numba, a kernel is numba's ``njit`` of the function, with ``cache=True`` (the compiled
    kernels are kept under risk/__pycache__ and loaded from there, simulations/README.md: a worker
    loads them in 0.56 CPU s instead of compiling them in 2.4) and ``nogil=True`` (``_njit``'s
    docstring: threads of one Dask worker run the kernels at once)."""
    asked = []

    def njit(**options):
        asked.append(options)
        return lambda function: ("compiled", function)

    monkeypatch.setattr(compiled, "numba", types.SimpleNamespace(njit=njit))
    monkeypatch.setattr(compiled, "AVAILABLE", True)

    def kernel():
        return None

    assert compiled._njit(kernel) == ("compiled", kernel)
    assert len(asked) == 1 and asked[0].get("cache") is True
    assert asked[0].get("nogil") is True  # a Dask worker's threads run chunks side by side (its docstring)


def test_without_numba_a_kernel_is_the_plain_function(monkeypatch):
    """Without numba (``AVAILABLE`` False, the optional extra not installed) nothing is compiled:
    the function itself is returned, and numba is never asked for."""
    monkeypatch.setattr(compiled, "numba", None)
    monkeypatch.setattr(compiled, "AVAILABLE", False)

    def kernel():
        return None

    assert compiled._njit(kernel) is kernel


# --- warm_up: compiles each kernel for the argument types a chunk passes ------------------------


def _record_argument_types(monkeypatch) -> dict[str, set]:
    """Wrap each kernel so that its calls' argument types (numba's ``typeof``: what numba compiles
    a kernel for) are recorded."""
    seen: dict[str, set] = {name: set() for name in KERNELS}
    for name in KERNELS:
        kernel = getattr(compiled, name)

        def recording(*args, _kernel=kernel, _name=name):
            seen[_name].add(tuple(str(numba.typeof(a)) for a in args))
            return _kernel(*args)

        monkeypatch.setattr(compiled, name, recording)
    return seen


def test_warm_up_compiles_every_kernel_for_the_argument_types_a_chunk_passes(monkeypatch):
    """warm_up's contract: a worker calls it when it starts "so its first chunk does not wait" for
    the compilation. numba compiles a kernel once per tuple of argument types, so warm_up must call
    every kernel, without error, with the very types a chunk passes (int64 index arrays, float64
    draws, a uint64 bitmap, Python ints and bools), checked on a chunk that calls all five."""
    seen = _record_argument_types(monkeypatch)
    assert compiled.warm_up() is None
    warmed = {name: set(calls) for name, calls in seen.items()}
    assert all(warmed[name] for name in KERNELS), warmed
    for calls in seen.values():
        calls.clear()
    monkeypatch.setattr(engine, "USE_COMPILED", True)
    engine.run_chunk(suspending_prep(), np.random.SeedSequence(1), 200)
    for name in KERNELS:
        assert seen[name], name                       # the chunk called it
        assert seen[name] <= warmed[name], (name, seen[name] - warmed[name])


# --- place_hits --------------------------------------------------------------------------------


def _place_hits_numpy(count, row_n, row_start, u, year_loans, thin, row_sure):
    """The numpy form of place_hits (risk.engine._draw_hits without risk.compiled), on a copy of ``u``
    (which the kernel's docstring leaves as it is without ``thin``: the numpy code never reads it again)."""
    given, u = u, u.copy()
    rep = np.repeat(np.arange(count.size), count)
    u *= row_n[rep]
    pos = u.astype(np.intp)
    if thin:
        u -= pos
    slot = year_loans[pos + row_start[rep]]
    if not thin:
        return slot, np.zeros(0, np.intp), np.zeros(0, np.intp), given
    unsure = np.flatnonzero(u >= row_sure[rep])
    return slot, unsure, rep[unsure], u


def test_place_hits_by_hand_a_fraction_exactly_at_row_sure_is_unsure():
    """Rows of 4 and 2 loans (year_loans 10..13 and 20, 21), hits 2, 0 and 2: hit 0 at x = 0.25
    (loan 10, fraction 0.25 < 0.5: sure), hit 1 at x = 3.5 (loan 13, fraction 0.5, exactly row 0's
    row_sure: "at least" it, so listed), hit 2 at x = 1.5 (loan 21, 0.5 < 0.75: sure), hit 3 at
    x = 1.875 (loan 21, 0.875 >= 0.75: listed). Without thin, ``u`` is left alone and none listed."""
    count = np.array([2, 0, 2], np.intp)
    row_n = np.array([4.0, 3.0, 2.0])
    row_start = np.array([0, 0, 4], np.int64)
    year_loans = np.array([10, 11, 12, 13, 20, 21], np.intp)
    row_sure = np.array([0.5, 0.1, 0.75])
    draws = np.array([0.0625, 0.875, 0.75, 0.9375])
    u = draws.copy()
    slot, unsure_hit, unsure_row = compiled.place_hits(count, row_n, row_start, u, year_loans, True, row_sure)
    assert slot.tolist() == [10, 13, 21, 21]
    assert u.tolist() == [0.25, 0.5, 0.5, 0.875]
    assert unsure_hit.tolist() == [1, 3] and unsure_row.tolist() == [0, 2]
    u = draws.copy()
    slot, unsure_hit, unsure_row = compiled.place_hits(count, row_n, row_start, u, year_loans, False, np.zeros(0))
    assert slot.tolist() == [10, 13, 21, 21] and u.tolist() == draws.tolist()
    assert unsure_hit.size == 0 and unsure_row.size == 0


@pytest.mark.parametrize("thin", [True, False])
def test_place_hits_gives_the_numpy_forms_slots_fractions_and_unsure_hits(thin):
    """Random rows (some without hits), compared exactly with the numpy form: the same float
    operations in the same order, so the same loans, fractions and unsure hits."""
    rng = np.random.default_rng(17)
    for _ in range(20):
        rows = int(rng.integers(1, 8))
        row_n = rng.integers(1, 40, rows).astype(np.float64)
        row_start = np.concatenate(([0], np.cumsum(row_n[:-1]))).astype(np.int64)
        year_loans = rng.permutation(int(row_n.sum()) + 5).astype(np.intp)
        count = rng.integers(0, 6, rows).astype(np.intp)
        u = rng.random(int(count.sum()))
        row_sure = rng.choice([0.0, 0.3, 0.5, 1.0], rows) if thin else np.zeros(0)
        expected = _place_hits_numpy(count, row_n, row_start, u, year_loans, thin, row_sure)
        got_u = u.copy()
        got = compiled.place_hits(count, row_n, row_start, got_u, year_loans, thin, row_sure)
        for a, b in zip((*got, got_u), expected):
            np.testing.assert_array_equal(a, b)


# --- dead_bitmap and mark_dead_ranges ----------------------------------------------------------


@pytest.mark.parametrize("n_loans,words", [(1, 1), (63, 1), (64, 1), (65, 2), (128, 2), (129, 3)])
def test_dead_bitmap_is_one_bit_per_loan_in_64_bit_words(n_loans, words):
    """A row of ceil(N / 64) uint64 words per scenario, all clear (one bit per (scenario, slot))."""
    dead = compiled.dead_bitmap(3, n_loans)
    assert dead.shape == (3, words) and dead.dtype == np.uint64 and not dead.any()


def test_the_bitmap_of_loans_0_63_64_and_127_of_two_scenarios():
    """Loans 0, 63, 64 and 127 (the first and last bits of both words) in scenario 0, and 63 and 64
    in scenario 1, marked one by one: word 0 of scenario 0 is bits 0 and 63, word 1 bits 0 and 63.
    new_defaults finds hits on them in order, once each, leaves them out as dead, and marks them."""
    dead = compiled.dead_bitmap(2, 128)
    compiled.mark_dead_ranges(dead, np.array([0, 0, 0, 0, 1, 1]), np.array([0, 63, 64, 127, 63, 64]),
                              np.ones(6, np.intp))
    assert dead.tolist() == [[1 | 1 << 63, 1 | 1 << 63], [1 << 63, 1]]
    none, no_floats = np.zeros(0, np.intp), np.zeros(0)
    slot = np.array([127, 0, 64, 63, 127, 64, 63, 0, 127], np.intp)
    args = (np.array([0, 1], np.intp), np.array([5, 4], np.intp), slot, none, none, no_floats, no_floats,
            no_floats, none, 128, 2)
    fresh = compiled.dead_bitmap(2, 128)
    keys = compiled.new_defaults(*args, fresh, False, True)
    assert keys.tolist() == [0, 63, 64, 127, 128 + 0, 128 + 63, 128 + 64, 128 + 127]
    assert _flagged(fresh, 128) == [(b, s) for b in range(2) for s in (0, 63, 64, 127)]
    keys = compiled.new_defaults(*args, dead, True, False)
    assert keys.tolist() == [128 + 0, 128 + 127]      # 0, 63, 64, 127 of scenario 0, 63 of 1: dead


def test_mark_dead_ranges_an_empty_range_flags_nothing_even_on_a_word_boundary():
    """B2 marks each suspended group's later new loans; a group with none has length 0 (and is
    still passed when another group has some): ``start .. start - 1`` is empty wherever it starts,
    also at a word's first slot (0, 64, 128). The non-empty ranges beside them are flagged exactly."""
    dead = compiled.dead_bitmap(2, 200)
    scenario = np.array([0, 0, 1, 1, 0, 1], np.intp)
    start = np.array([0, 64, 128, 70, 190, 0], np.intp)
    length = np.array([0, 0, 0, 3, 10, 0], np.intp)
    compiled.mark_dead_ranges(dead, scenario, start, length)
    assert _flagged(dead, 200) == [(0, s) for s in range(190, 200)] + [(1, 70), (1, 71), (1, 72)]


# --- recovery_sums: where the fund's parts are left to the caller ------------------------------


def _one_recovery(recovery: int, approved: int):
    """One recovered default of loss ``recovery`` whose liquidation value is exactly its loss."""
    return compiled.recovery_sums(np.array([1.0]), np.array([0], np.intp), np.array([0], np.intp),
                                  np.array([0], np.intp), np.array([float(recovery)]),
                                  np.array([recovery], np.int64), np.array([approved], np.int64), 1)


def test_recovery_sums_a_largest_product_of_exactly_int64_max_or_less_fits():
    """recovery 2**40 - 1 and approved 2**23: the product is 2**63 - 2**23 <= int64's largest
    (2**40 - 1 is int64max // 2**23 exactly), so the part is computed: floor(R * s / R) = s."""
    recovery, fund_part, recovered, fits = _one_recovery(2**40 - 1, 2**23)
    assert fits and recovery.tolist() == [2**40 - 1] and recovered.tolist() == [2**40 - 1]
    assert fund_part.tolist() == [2**23]


def test_recovery_sums_a_product_one_past_int64_is_left_to_the_caller():
    """recovery 2**40 and approved 2**23: the product is 2**63, past int64 (a float division
    would take it for int64max / 2**23 = 2**40 and let it wrap): ``fits`` is False."""
    recovery, fund_part, recovered, fits = _one_recovery(2**40, 2**23)
    assert not fits and recovery.tolist() == [2**40] and recovered.tolist() == [2**40]


def test_recovery_sums_with_no_fund_share_every_product_fits():
    """Recoveries but a fund share of 0 everywhere (a policy the fund does not cover): every product
    is 0, so ``fits`` and the fund's parts are 0."""
    recovery, fund_part, recovered, fits = compiled.recovery_sums(
        np.array([0.5, 1.0]), np.array([0, 1], np.intp), np.array([0, 1], np.intp), np.array([0, 1], np.intp),
        np.array([800.0, 900.0]), np.array([1000, 700], np.int64), np.zeros(2, np.int64), 2)
    assert fits and recovery.tolist() == [400, 700] and recovered.tolist() == [400, 700]
    assert fund_part.tolist() == [0, 0]


# --- the kernels against their numpy forms, on random small inputs -----------------------------


def _new_defaults_numpy(row_scenario, count, slot, unsure_hit, unsure_row, lam_i, u, row_lam, dense_keys,
                        n_loans, flags, check_dead, mark_dead):
    """The numpy form (risk.engine.run_chunk without risk.compiled): every hit's key ``scenario * N +
    slot``, thinning's drops (``u[h] * row_lam[row] >= lam_i``) out, the dense keys in, sorted, each
    once, without the keys flagged dead (``check_dead``), which are then flagged (``mark_dead``)."""
    rep = np.repeat(np.arange(count.size), count)
    keys = row_scenario[rep] * n_loans + slot
    drop = unsure_hit[u[unsure_hit] * row_lam[unsure_row] >= lam_i]
    keys = np.unique(np.concatenate([np.delete(keys, drop), dense_keys])).astype(np.intp)
    if check_dead:
        keys = keys[~flags[keys]]
    if mark_dead:
        flags[keys] = True
    return keys


def _random_year(rng, n_loans, n_scenarios):
    """Rows of hits in scenario order (some scenarios without any, some with several rows, repeated
    slots), unsure hits with their thinning draws, and dense keys in scenario order (not sorted
    within a scenario, as the dense path draws them group by group)."""
    n_rows = int(rng.integers(0, 3 * n_scenarios + 1))
    row_scenario = np.sort(rng.integers(0, n_scenarios, n_rows)).astype(np.intp)
    count = rng.integers(0, 6, n_rows).astype(np.intp)
    slot = rng.integers(0, n_loans, int(count.sum())).astype(np.intp)
    rep = np.repeat(np.arange(n_rows), count)
    unsure_hit = np.flatnonzero(rng.random(slot.size) < 0.5).astype(np.intp)
    unsure_row = rep[unsure_hit].astype(np.intp)
    lam_i = rng.random(unsure_hit.size) * 0.3
    u = rng.random(slot.size)
    row_lam = 0.05 + rng.random(n_rows) * 0.3
    dense = rng.integers(0, n_loans * n_scenarios, int(rng.integers(0, 12)))
    dense = dense[np.argsort(dense // n_loans, kind="stable")].astype(np.intp)
    return row_scenario, count, slot, unsure_hit, unsure_row, lam_i, u, row_lam, dense


@pytest.mark.parametrize("n_loans", [1, 5, 63, 64, 65, 130, 200])
def test_new_defaults_gives_the_numpy_forms_keys_and_dead_flags(n_loans):
    """Random years (repeated hits, thinning, dense keys, loans dead before) compared exactly with
    the numpy form, for each combination of ``check_dead`` and ``mark_dead``: the same keys, and the
    same loans flagged dead afterwards."""
    rng = np.random.default_rng(n_loans)
    for _ in range(12):
        n_scenarios = int(rng.integers(1, 5))
        year = _random_year(rng, n_loans, n_scenarios)
        before = rng.random(n_scenarios * n_loans) < 0.2
        for check_dead in (False, True):
            for mark_dead in (False, True):
                dead = compiled.dead_bitmap(n_scenarios, n_loans)
                flagged = np.flatnonzero(before)
                compiled.mark_dead_ranges(dead, (flagged // n_loans).astype(np.intp),
                                          (flagged % n_loans).astype(np.intp), np.ones(flagged.size, np.intp))
                flags = before.copy()
                expected = _new_defaults_numpy(*year, n_loans, flags, check_dead, mark_dead)
                keys = compiled.new_defaults(*year, n_loans, n_scenarios, dead, check_dead, mark_dead)
                np.testing.assert_array_equal(keys, expected)
                after = [b * n_loans + s for b, s in _flagged(dead, n_loans)]
                assert after == np.flatnonzero(flags).tolist()


@pytest.mark.parametrize("with_parts", [False, True])
def test_year_rows_gives_the_numpy_forms_rows_runs_and_sums(with_parts):
    """Random sorted keys (scenarios without defaults among them, a cap group's runs in successive
    scenarios) compared exactly, output by output, with risk.engine._year_rows; B2's base and the
    insurer's and appraiser's parts given or empty (not summed)."""
    rng = np.random.default_rng(3 if with_parts else 4)
    for _ in range(25):
        n_loans, n_scenarios, n_groups = int(rng.integers(1, 12)), int(rng.integers(1, 6)), int(rng.integers(1, 4))
        keys = np.flatnonzero(rng.random(n_loans * n_scenarios) < rng.choice([0.0, 0.3, 0.9])).astype(np.intp)
        cap_group = np.sort(rng.integers(0, n_groups, n_loans)).astype(np.intp)
        loss_of, raw_of = rng.integers(0, 10**9, n_loans), rng.integers(0, 10**9, n_loans)
        parts = [rng.integers(0, 10**8, n_loans) if with_parts else np.zeros(0, np.int64) for _ in range(3)]
        args = (keys, n_loans, n_scenarios, cap_group, n_groups, loss_of, raw_of, *parts)
        _assert_same_year_rows(args)


def _assert_same_year_rows(args):
    got, expected = compiled.year_rows(*args), engine._year_rows(*args)
    assert len(got) == len(expected) == 14
    for index, (a, b) in enumerate(zip(got, expected)):
        np.testing.assert_array_equal(a, b, err_msg=str(index))
        assert a.dtype == b.dtype, index          # the sums are int64, the indices intp


def test_year_rows_of_a_one_loan_book():
    """One loan (its parts arrays of size 1 are given, so summed) defaulting in scenarios 0 and 2 of
    3: two runs of its cap group, each scenario's sums its own exposure and parts, the loan's count 2."""
    one = lambda v: np.array([v], np.int64)  # noqa: E731
    args = (np.array([0, 2], np.intp), 1, 3, np.zeros(1, np.intp), 1, one(700), one(300), one(50), one(40), one(9))
    (scenario, slot, loss, raw, starts, run_scenario, run_group, raw_run, base_run, n_by_scenario, loss_by_scenario,
     insurer, appraiser, count_by_slot) = compiled.year_rows(*args)
    assert scenario.tolist() == [0, 2] and slot.tolist() == [0, 0] and loss.tolist() == [700, 700]
    assert raw.tolist() == [300, 300] and starts.tolist() == [0, 1] and run_scenario.tolist() == [0, 2]
    assert run_group.tolist() == [0, 0] and raw_run.tolist() == [300, 300] and base_run.tolist() == [50, 50]
    assert n_by_scenario.tolist() == [1, 0, 1] and loss_by_scenario.tolist() == [700, 0, 700]
    assert insurer.tolist() == [40, 0, 40] and appraiser.tolist() == [9, 0, 9] and count_by_slot.tolist() == [2]
    _assert_same_year_rows(args)


def test_recovery_sums_gives_the_numpy_forms_recoveries_and_parts():
    """Random recovered rows (values above and below the loss, scenarios without recoveries)
    compared exactly with the numpy form: ``floor(min(value * base, loss))``, the fund's part
    ``floor(recovery * approved / loss)``, both summed per scenario."""
    rng = np.random.default_rng(9)
    for _ in range(25):
        n_scenarios, n_loans, n_defaults = int(rng.integers(1, 5)), int(rng.integers(1, 8)), int(rng.integers(0, 15))
        r_scenario = np.sort(rng.integers(0, n_scenarios, n_defaults)).astype(np.intp)
        loss = rng.integers(1, 10**9, n_defaults + 3)
        approved = (loss * rng.random(loss.size)).astype(np.int64)
        rows = np.sort(rng.choice(loss.size, n_defaults, replace=False)).astype(np.intp)
        r_slot = rng.integers(0, n_loans, n_defaults).astype(np.intp)
        liquidation_base = rng.random(n_loans) * 2e9
        value = rng.lognormal(-0.5, 1.0, n_defaults)
        recovery, fund_part, recovered, fits = compiled.recovery_sums(value, rows, r_slot, r_scenario,
                                                                      liquidation_base, loss, approved, n_scenarios)
        expected = np.minimum(value * liquidation_base[r_slot], loss[rows]).astype(np.int64)
        part = expected * approved[rows] // loss[rows]
        assert fits
        np.testing.assert_array_equal(recovery, expected)
        np.testing.assert_array_equal(fund_part, np.bincount(r_scenario, part, n_scenarios).astype(np.int64))
        np.testing.assert_array_equal(recovered, np.bincount(r_scenario, expected, n_scenarios).astype(np.int64))


@pytest.mark.parametrize("n_loans", [64, 70])
def test_new_defaults_a_dense_key_on_the_next_scenarios_first_slot_belongs_to_that_scenario(n_loans):
    """The dense key ``1 * N + 0`` (slot 0 of scenario 1, the first key past scenario 0's) is
    scenario 1's: with no hits at all in scenario 0 it is returned once beside scenario 1's sparse
    hit on the same slot, marked dead in scenario 1's row only; and, dead there, left out."""
    none, no_floats = np.zeros(0, np.intp), np.zeros(0)
    args = (np.array([1], np.intp), np.array([1], np.intp), np.array([0], np.intp), none, none, no_floats,
            no_floats, no_floats, np.array([n_loans], np.intp), n_loans, 2)
    dead = compiled.dead_bitmap(2, n_loans)
    assert compiled.new_defaults(*args, dead, True, True).tolist() == [n_loans]
    assert _flagged(dead, n_loans) == [(1, 0)]
    assert compiled.new_defaults(*args, dead, True, False).tolist() == []
