"""The engine's compiled passes (risk.compiled, numba) give the same integers as its numpy code.

Each case runs the same chunks both ways, from the same seed, and compares every figure of every
scenario exactly: thinned groups, the dense path, the t copula, the flag array and the sorted dead
keys, B2's suspension (during the run and on the run date), importance sampling and the trace."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os

import numpy as np
import pytest

import risk.engine as engine
from risk import compiled
from risk.engine import oracle_prepared, prepare, run_chunk
from risk.portfolio import CapBase, FundPosition, default_cap_base
from risk.scenario import parse_scenario
from risk.synthetic import synthetic_book
from tests.test_stress_engine import _replay_book

AS_OF = dt.date(2026, 1, 1)

if not compiled.AVAILABLE:
    if os.environ.get("CI"):
        pytest.fail("numba is not installed: CI installs the 'fast' extra (make install)", pytrace=False)
    pytest.skip("numba (the 'fast' extra) is not installed", allow_module_level=True)


def _chunks(prep, monkeypatch, *, use_compiled: bool, seeds=(11, 12), size=700, trace=None):
    monkeypatch.setattr(engine, "USE_COMPILED", use_compiled)
    return [run_chunk(prep, np.random.SeedSequence(s), size, trace=trace) for s in seeds]


def _assert_same(prep, monkeypatch, **kwargs):
    numpy_runs = _chunks(prep, monkeypatch, use_compiled=False, **kwargs)
    compiled_runs = _chunks(prep, monkeypatch, use_compiled=True, **kwargs)
    for plain, fast in zip(numpy_runs, compiled_runs):
        for field in dataclasses.fields(plain):
            a, b = getattr(plain, field.name), getattr(fast, field.name)
            if a is None:
                assert b is None, field.name
            else:
                np.testing.assert_array_equal(a, b, err_msg=field.name)
    defaults = sum(int(r.n_defaults.sum()) for r in numpy_runs)
    assert defaults > 0
    return numpy_runs


def _synthetic(horizon=4, new_lending_fen=20_000_000_000, **keys):
    book = synthetic_book(400, seed=2, as_of=AS_OF)
    scenario = parse_scenario({"name": "x", "horizon_years": horizon, **keys})
    fund = FundPosition(cash_fen=10**11, deferred_fen=0, appropriation_fen=(5_000_000_000,) * horizon)
    prep, _ = prepare(book, scenario, default_cap_base(book), fund, as_of=AS_OF,
                      new_lending_fen=new_lending_fen, seed=3)
    return prep


@pytest.mark.parametrize("copula", ["gaussian", "t"])
@pytest.mark.parametrize("dead_as", ["flags", "sorted keys"])
def test_thinned_groups_with_new_lending(copula, dead_as, monkeypatch):
    prep = _synthetic(copula=copula, pd_multiplier=3.0)
    assert prep.group_mixed.any()          # some groups thin their hits
    if dead_as == "sorted keys":
        monkeypatch.setattr(engine, "DEAD_FLAG_LIMIT", 10)
    runs = _assert_same(prep, monkeypatch)
    # a loan defaults at most once over the horizon, whichever way the dead loans are kept
    assert all(int(r.defaults_by_loan.max()) <= 2 * 700 for r in runs)


def test_the_dense_path_and_sparse_groups_together(monkeypatch):
    """PD 40%: most (scenario, group) rows pass DENSE_P and draw a uniform per loan; in good
    scenarios the same group takes the sparse path, so one year mixes both kinds of keys."""
    prep = oracle_prepared(n_loans=300, pd=0.4, rho=0.3)
    _assert_same(prep, monkeypatch, seeds=(5, 6, 7))


def suspending_prep():
    """A 4-year book of 400 loans with new lending, thinned groups, IP values (recoveries) and a
    bank suspended on the run date under a 1 bp line (B2's ranges marked dead)."""
    strict = parse_scenario({"name": "x", "horizon_years": 4, "pd_multiplier": 3.0,
                             "policy_override": {"bank_suspension_line_bp": 1}})
    book = synthetic_book(400, seed=2, as_of=AS_OF)
    fund = FundPosition(cash_fen=10**11, deferred_fen=0, appropriation_fen=(5_000_000_000,) * 4)
    base = default_cap_base(book)
    # one bank already past its line on the run date: its new loans are never covered
    base = [dataclasses.replace(base[0], suspended=True)] + list(base[1:])
    assert isinstance(base[0], CapBase)
    prep, _ = prepare(book, strict, base, fund, as_of=AS_OF, new_lending_fen=20_000_000_000, seed=3)
    return prep


def test_b2_suspension_during_the_run_and_on_the_run_date(monkeypatch):
    prep = suspending_prep()
    assert prep.suspended_start is not None and prep.suspended_start.any()
    runs = _assert_same(prep, monkeypatch)
    assert any(r.suspended.any() for r in runs)
    monkeypatch.setattr(engine, "DEAD_FLAG_LIMIT", 10)
    _assert_same(prep, monkeypatch)


@pytest.mark.parametrize("lag", [0, 1])
def test_insurer_and_appraiser_shares_a3_cuts_and_deferrals(lag, monkeypatch):
    """The claim-by-claim replay book: gz-2020's schemes with insurer and appraiser parts and
    insurer limits beside gz-2023's capped scheme, a cut A3 room and a fund short of cash."""
    book = _replay_book()
    scenario = parse_scenario({"name": "replay", "horizon_years": 4, "pd_multiplier": 2.0, "asset_correlation": 0.3,
                               "collateral": {"recovery_lag_years": lag}})
    cap_base = [CapBase(c.bank, c.policy, c.in_pool_lending_fen // 3, c.in_pool_lending_fen // 400)
                for c in default_cap_base(book)]
    fund = FundPosition(cash_fen=0, deferred_fen=123_456_789, appropriation_fen=(0, 8_000_000_001, 0, 12_000_000_003))
    prep, _ = prepare(book, scenario, cap_base, fund, as_of=AS_OF)
    runs = _assert_same(prep, monkeypatch, seeds=(5, 6), size=300)
    assert all(r.insurer_share.sum() > 0 and r.appraiser_share.sum() > 0 and r.cap_hit.any() for r in runs)


def test_importance_sampling_weights_and_figures(monkeypatch):
    prep = dataclasses.replace(_synthetic(pd_multiplier=2.0), shift=(-1.0, -2.0, -0.5, 0.0), scale=1.4)
    runs = _assert_same(prep, monkeypatch)
    assert any(np.any(r.log_weight != 0) for r in runs)


def test_the_trace_is_the_same(monkeypatch):
    prep = _synthetic(horizon=3, pd_multiplier=3.0)
    traces = []
    for use_compiled in (False, True):
        trace: list = []
        _chunks(prep, monkeypatch, use_compiled=use_compiled, seeds=(21,), size=300, trace=trace)
        traces.append(trace)
    assert len(traces[0]) == len(traces[1]) == 3
    for plain, fast in zip(*traces):
        assert plain["year"] == fast["year"] and plain["arrive"] == fast["arrive"]
        for name in ("scenario", "loan", "recovered"):
            np.testing.assert_array_equal(plain[name], fast[name], err_msg=name)


def test_new_defaults_sorts_each_scenario_once_and_skips_the_dead():
    """The kernel alone: two scenarios of 70 slots (two bitmap words), repeated and dropped hits,
    dense keys, dead loans left out and the returned ones marked."""
    n_loans = 70
    row_scenario = np.array([0, 0, 1], np.intp)
    count = np.array([3, 2, 4], np.intp)
    slot = np.array([69, 3, 3, 64, 0, 5, 69, 1, 5], np.intp)
    # thinning looks at hits 1, 4 and 7 (rows 0, 1, 2): keeps hit 1 (0.25 * 2 < 0.6), drops hit 4
    # (slot 0 of scenario 0: 0.5 * 1 >= 0.5) and hit 7 (slot 1 of scenario 1: 0.75 * 4 >= 0.1)
    thinning = (np.array([1, 4, 7], np.intp), np.array([0, 1, 2], np.intp), np.array([0.6, 0.5, 0.1]),
                np.array([0, 0.25, 0, 0, 0.5, 0, 0, 0.75, 0]), np.array([2.0, 1.0, 4.0]))
    dense = np.array([2, 70 + 68], np.intp)
    dead = compiled.dead_bitmap(2, n_loans)
    compiled.mark_dead_ranges(dead, np.array([1]), np.array([5]), np.array([1]))
    keys = compiled.new_defaults(row_scenario, count, slot, *thinning, dense, n_loans, 2, dead, True, True)
    assert keys.tolist() == [2, 3, 64, 69, 70 + 68, 70 + 69]
    flagged = [b * n_loans + s for b in range(2) for s in range(n_loans) if int(dead[b, s >> 6]) >> (s & 63) & 1]
    assert flagged == [2, 3, 64, 69, 70 + 5, 70 + 68, 70 + 69]
    unchecked = compiled.new_defaults(row_scenario, count, slot, *thinning, dense, n_loans, 2, dead, False, False)
    assert unchecked.tolist() == [2, 3, 64, 69, 70 + 5, 70 + 68, 70 + 69]


@pytest.mark.parametrize("start,length", [(0, 1), (3, 5), (60, 10), (63, 1), (64, 64), (5, 190), (0, 200), (130, 0)])
def test_mark_dead_ranges_flags_exactly_the_range(start, length):
    dead = compiled.dead_bitmap(3, 200)
    compiled.mark_dead_ranges(dead, np.array([1]), np.array([start]), np.array([length]))
    flagged = [(b, s) for b in range(3) for s in range(200) if int(dead[b, s >> 6]) >> (s & 63) & 1]
    assert flagged == [(1, s) for s in range(start, start + length)]


def test_recovery_sums_floors_each_part_and_leaves_products_past_int64_to_the_caller():
    value = np.array([0.5, 2.0, 0.25])
    rows = np.array([0, 2, 3], np.intp)
    r_slot = np.array([1, 0, 1], np.intp)
    r_scenario = np.array([0, 0, 1], np.intp)
    liquidation_base = np.array([700.0, 301.0])
    loss = np.array([1000, 0, 1000, 999], np.int64)
    approved = np.array([600, 0, 333, 500], np.int64)
    recovery, fund_part, recovered, fits = compiled.recovery_sums(value, rows, r_slot, r_scenario, liquidation_base,
                                                                  loss, approved, 2)
    # 150.5 -> 150; 1400 capped at the loss 1000; 75.25 -> 75
    assert recovery.tolist() == [150, 1000, 75] and fits
    assert fund_part.tolist() == [150 * 600 // 1000 + 1000 * 333 // 1000, 75 * 500 // 999]
    assert recovered.tolist() == [1150, 75]
    big = np.array([4 * 10**12], np.int64)
    recovery, fund_part, recovered, fits = compiled.recovery_sums(
        np.array([1.0]), np.array([0], np.intp), np.array([0], np.intp), np.array([0], np.intp),
        np.array([4e12]), big, np.array([3 * 10**12], np.int64), 1)
    assert not fits and recovery.tolist() == [4 * 10**12] and recovered.tolist() == [4 * 10**12]


def test_the_bench_checks_the_numpy_form_against_the_compiled_run():
    from risk.engine import simulate
    from simulations.bench import _numpy_form

    prep = _synthetic(pd_multiplier=3.0)
    units = int((prep.ead > 0).sum())
    run = simulate(prep, n_scenarios=900, seed=4, batch=300)
    checked = _numpy_form(prep, run, units, 600, 4, 300)
    assert checked["same_figures_as_compiled"] and checked["timing"]["scenarios"] == 600
    assert checked["timing"]["loan_scenario_years_per_cpu_second"] > 0
    other_seed = simulate(prep, n_scenarios=900, seed=5, batch=300)
    assert not _numpy_form(prep, other_seed, units, 600, 4, 300)["same_figures_as_compiled"]
    assert engine.USE_COMPILED            # put back after the numpy run
