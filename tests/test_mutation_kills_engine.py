"""Kill tests for the mutation target ``engine`` (risk/engine.py; issue 17, session 6).

Each test states what the engine must do from docs/rules.md section 8 (rule M), section 4 (rule A),
the module's or a function's docstring, a hand-computed small book, or an independent oracle (the
numpy form against the compiled form of a pass, the claim-by-claim rules of risk.allocation): never
the engine's own figures pasted as expected values. All run without a database, in well under a
second or two each.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import threading

import numpy as np
import pytest

import risk.engine as engine
from fund.domain.policy import IP_KINDS, shipped_policy
from risk import compiled
from risk.allocation import UNLIMITED
from risk.engine import oracle_book, oracle_prepared, prepare, run_chunk, simulate, simulate_oracle_book
from risk.portfolio import CapBase, FundPosition, default_cap_base, make_book
from risk.scenario import SECTORS, parse_scenario

AS_OF = dt.date(2026, 1, 1)
FORMS = [False, True] if compiled.AVAILABLE else [False]


def tiny_book(n: int, *, pd=0.5, principal=1_000_000, covered=None, outstanding=None, scheme="55",
              policy="gz-2020", bank=None, banks=("bank-1",), sector="other", maturity=dt.date(2036, 1, 1),
              amortization=False, ip_value=0, ip_kind=None, insurer_limit=UNLIMITED):
    """``n`` loans of one policy; every column may be one value or a list of ``n``."""

    def col(value):
        return list(value) if isinstance(value, (list, tuple)) else [value] * n

    kinds = [IP_KINDS.index(k) if k else -1 for k in col(ip_kind)]
    cols = {
        "loan_id": [f"L{i}" for i in range(n)], "bank": col(0 if bank is None else bank),
        "sector": [SECTORS.index(s) for s in col(sector)], "policy": [0] * n, "scheme": col(scheme),
        "pd": [math.nan if p is None else p for p in col(pd)], "principal_fen": col(principal),
        "covered_fen": col(principal if covered is None else covered),
        "outstanding_fen": col(principal if outstanding is None else outstanding),
        "maturity_date": col(maturity), "amortization": col(amortization), "ip_value_fen": col(ip_value),
        "ip_kind": kinds, "insurer_limit_fen": col(insurer_limit),
    }
    return make_book(cols, tuple(banks), (shipped_policy(policy),))


def prep_of(book, *, horizon=1, cash=10**12, deferred=0, appropriation=None, cap_base=None, **scenario):
    doc = {"name": "kill", "horizon_years": horizon, **scenario}
    fund = FundPosition(cash_fen=cash, deferred_fen=deferred,
                        appropriation_fen=tuple(appropriation) if appropriation else (0,) * horizon)
    base = default_cap_base(book) if cap_base is None else cap_base
    prep, _ = prepare(book, parse_scenario(doc), base, fund, as_of=AS_OF)
    return prep


def chunk_of(prep, n_scenarios, *, seed=1, use_compiled=None, monkeypatch=None, trace=None):
    if use_compiled is not None:
        monkeypatch.setattr(engine, "USE_COMPILED", use_compiled)
    return run_chunk(prep, np.random.SeedSequence(seed), n_scenarios, trace=trace)


# --------------------------------------------------------------------------------------------------
# the dead loans: a loan defaults at most once over the horizon (M2, the module docstring)


def test_merge_sorted_joins_two_sorted_arrays_also_for_a_single_new_key():
    """``_merge_sorted``: two sorted arrays as one sorted array, whatever the size of the second."""
    a = np.array([1, 5, 9], np.int64)
    assert engine._merge_sorted(a, np.array([3], np.int64)).tolist() == [1, 3, 5, 9]
    assert engine._merge_sorted(a, np.array([0, 7], np.int64)).tolist() == [0, 1, 5, 7, 9]
    assert engine._merge_sorted(a, np.zeros(0, np.int64)).tolist() == [1, 5, 9]
    assert engine._merge_sorted(np.zeros(0, np.int64), np.array([4], np.int64)).tolist() == [4]


@pytest.mark.parametrize("use_compiled", FORMS)
def test_one_loan_of_pd_one_defaults_once_when_dead_loans_are_sorted_keys(use_compiled, monkeypatch):
    """One scenario, one loan of PD 1 over three years, the dead loans kept as sorted keys (the form
    for large chunks): the loan defaults in year 1 and never again (a single new default a year is
    the case a merge must not drop)."""
    monkeypatch.setattr(engine, "DEAD_FLAG_LIMIT", 0)
    prep = prep_of(tiny_book(1, pd=1.0), horizon=3)
    chunk = chunk_of(prep, 1, use_compiled=use_compiled, monkeypatch=monkeypatch)
    assert chunk.n_defaults.tolist() == [1]
    assert chunk.payout_by_year.tolist() == [[500_000, 0, 0]]
    assert chunk.defaults_by_loan.tolist() == [1]


def test_flag_buffer_is_false_flags_kept_per_thread():
    """``_flag_buffer(size)``: ``size`` False flags (bool), in a buffer kept per thread between
    chunks (the same memory for a size that fits, cleared), a new one for a larger size. Run in a
    fresh thread, so that no buffer is kept yet."""
    seen: dict = {}

    def work():
        first = engine._flag_buffer(100)
        seen["first"] = (first.dtype, first.shape, bool(first.any()))
        first[:] = True
        again = engine._flag_buffer(100)
        seen["again"] = (again.dtype, again.shape, bool(again.any()), np.shares_memory(first, again))
        again[:] = True
        smaller = engine._flag_buffer(40)
        seen["smaller"] = (smaller.shape, bool(smaller.any()), np.shares_memory(first, smaller))
        larger = engine._flag_buffer(300)
        seen["larger"] = (larger.dtype, larger.shape, bool(larger.any()))
        seen["kept"] = np.shares_memory(larger, engine._flag_buffer(300))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert seen["first"] == (np.dtype(bool), (100,), False)
    assert seen["again"] == (np.dtype(bool), (100,), False, True)
    assert seen["smaller"] == ((40,), False, True)
    assert seen["larger"] == (np.dtype(bool), (300,), False)
    assert seen["kept"]


# --------------------------------------------------------------------------------------------------
# the M7 oracle book and its run (tests and examples rely on what their docstrings say)


def test_oracle_book_is_equal_bullet_loans_fully_covered_without_ip_one_sector():
    """``oracle_book``: n equal bullet loans, C = principal, no IP value (no asset: kind -1),
    gz-2020 scheme 55, one sector; PD None means the sector's default (NaN)."""
    book = oracle_book(3, principal_fen=7_000_000, sector="rail_transit")
    assert book.size == 3
    assert not book.straight_line.any()
    assert book.principal_fen.tolist() == book.covered_fen.tolist() == book.outstanding_fen.tolist() == [7_000_000] * 3
    assert book.ip_value_fen.tolist() == [0] * 3 and book.ip_kind.tolist() == [-1] * 3
    assert book.policies[0].id == "gz-2020" and set(book.scheme) == {"55"}
    assert book.sector.tolist() == [SECTORS.index("rail_transit")] * 3
    assert np.isnan(book.pd).all()
    assert oracle_book(2, pd=0.03).pd.tolist() == [0.03, 0.03]


def test_oracle_prepared_is_one_year_of_the_book_with_ample_cash():
    """``oracle_prepared``: one year of the oracle book (each exposure the principal given), cash for
    every loan's whole principal, global loading 0 unless given."""
    prep = oracle_prepared(n_loans=4, pd=0.1, rho=0.2, principal_fen=7_000_001)
    assert prep.horizon == 1 and prep.ead.tolist() == [[7_000_001] * 4]
    assert prep.fund_raw.tolist() == [[3_500_000] * 4]
    assert prep.net0 == 4 * 7_000_001
    assert prep.beta == 0.0
    assert oracle_prepared(n_loans=4, pd=0.1, rho=0.2, global_loading=1.0).beta == 1.0


def test_simulate_oracle_book_is_simulate_of_oracle_prepared_with_the_same_arguments():
    """``simulate_oracle_book`` simulates :func:`oracle_prepared` with the arguments it is given and
    the same defaults, and passes ``batch`` and ``workers`` to :func:`simulate`."""
    def same(a, b):
        for name in engine._PER_SCENARIO + engine._SUMMED:
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        assert (a.batch, a.workers, a.n_scenarios) == (b.batch, b.workers, b.n_scenarios)

    run = simulate_oracle_book(n_loans=30, pd=0.05, rho=0.2, n_scenarios=300, seed=4, copula="t")
    same(run, simulate(oracle_prepared(n_loans=30, pd=0.05, rho=0.2, copula="t"), n_scenarios=300, seed=4))
    assert run.fund_payout.sum() > 0
    given = simulate_oracle_book(n_loans=30, pd=0.05, rho=0.2, n_scenarios=300, seed=4, copula="t", nu=9.0,
                                 batch=100, workers=2, principal_fen=3_000_001)
    prep = oracle_prepared(n_loans=30, pd=0.05, rho=0.2, copula="t", nu=9.0, principal_fen=3_000_001)
    same(given, simulate(prep, n_scenarios=300, seed=4, batch=100, workers=2))
    assert given.workers == 2 and given.batch == 100
    assert (given.fund_payout % (3_000_001 // 2) == 0).all()


# --------------------------------------------------------------------------------------------------
# simulate: where the chunks run


def test_one_worker_a_single_chunk_or_a_small_run_stays_in_this_process(monkeypatch):
    """``simulate``: with one worker, with a single chunk, or with fewer than ``small_run``
    loan-scenario-years, no worker process is started (the figures would be the same: M6)."""
    def no_pool(*args, **kwargs):
        raise AssertionError("a worker pool was started")

    monkeypatch.setattr(engine, "ProcessPoolExecutor", no_pool)
    prep = oracle_prepared(n_loans=10, pd=0.1, rho=0.2)
    simulate(prep, n_scenarios=40, seed=1, batch=10, workers=1, small_run=0)     # one worker
    simulate(prep, n_scenarios=10, seed=1, batch=10, workers=2, small_run=0)     # one chunk
    simulate(prep, n_scenarios=40, seed=1, batch=10, workers=2, small_run=401)   # 400 < small_run
    with pytest.raises(AssertionError, match="worker pool"):
        simulate(prep, n_scenarios=40, seed=1, batch=10, workers=2, small_run=400)
