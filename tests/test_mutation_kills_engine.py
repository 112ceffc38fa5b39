"""Kill tests for the mutation target ``engine`` (risk/engine.py; issue 17, session 6).

Each test states what the engine must do from docs/rules.md section 8 (rule M), section 4 (rule A),
the module's or a function's docstring, a hand-computed small book, or an independent oracle (the
numpy form against the compiled form of a pass, the claim-by-claim rules of risk.allocation): never
the engine's own figures pasted as expected values. All run without a database, in well under a
second or two each.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import math
import multiprocessing
import os
import threading
import time

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


@pytest.mark.skipif(not compiled.AVAILABLE, reason="the placeholder bitmap is only passed to the compiled kernels")
def test_a_chunk_keeping_dead_loans_as_sorted_keys_marks_no_bitmap(monkeypatch):
    """A chunk too large for flags keeps its dead loans as sorted keys only: the compiled draws are
    given the empty placeholder bitmap (``_NO_BITS``) with neither ``check_dead`` nor ``mark_dead``,
    so nothing is ever written to it (marking there would write past a one-word array). Two loans
    of PD 1 over two years, one scenario: the keys stay below 64, so a wrong mark lands in the
    placeholder's one word (a fresh one, patched in for the test) instead of corrupting memory."""
    monkeypatch.setattr(engine, "DEAD_FLAG_LIMIT", 0)
    placeholder = np.zeros((1, 1), np.uint64)
    monkeypatch.setattr(engine, "_NO_BITS", placeholder)
    prep = prep_of(tiny_book(2, pd=1.0), horizon=2)
    chunk = chunk_of(prep, 1, use_compiled=True, monkeypatch=monkeypatch)
    assert chunk.n_defaults.tolist() == [2] and chunk.defaults_by_loan.tolist() == [1, 1]
    assert placeholder.tolist() == [[0]]


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


def test_the_oracle_functions_defaults_name_one_m7_book():
    """``oracle_prepared`` is one year of *the* M7 oracle book (``oracle_book``'s docstring), and
    ``simulate_oracle_book`` simulates ``oracle_prepared`` with the same defaults: so the three
    functions' default principals are one and the same, and the book left at its defaults is the one
    ``oracle_prepared`` prepares when it is left at its own."""
    import inspect

    defaults = {f.__name__: inspect.signature(f).parameters["principal_fen"].default
                for f in (oracle_book, oracle_prepared, simulate_oracle_book)}
    assert len(set(defaults.values())) == 1, defaults
    prep = oracle_prepared(n_loans=3, pd=0.1, rho=0.2)
    assert prep.ead.tolist() == [oracle_book(3, pd=0.1).outstanding_fen.tolist()]
    assert prep.net0 == int(oracle_book(3, pd=0.1).principal_fen.sum())


def test_simulate_oracle_book_is_simulate_of_oracle_prepared_with_the_same_arguments():
    """``simulate_oracle_book`` simulates :func:`oracle_prepared` with the arguments it is given and
    the same defaults, and passes ``batch`` and ``workers`` to :func:`simulate`."""
    def same(a, b):
        for name in engine._PER_SCENARIO + engine._SUMMED:
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        assert (a.batch, a.workers, a.n_scenarios) == (b.batch, b.workers, b.n_scenarios)

    run = simulate_oracle_book(n_loans=20, pd=0.05, rho=0.2, n_scenarios=200, seed=4, copula="t")
    same(run, simulate(oracle_prepared(n_loans=20, pd=0.05, rho=0.2, copula="t"), n_scenarios=200, seed=4))
    assert run.fund_payout.sum() > 0
    given = simulate_oracle_book(n_loans=20, pd=0.05, rho=0.2, n_scenarios=200, seed=4, copula="t", nu=9.0,
                                 batch=100, workers=2, principal_fen=3_000_001)
    prep = oracle_prepared(n_loans=20, pd=0.05, rho=0.2, copula="t", nu=9.0, principal_fen=3_000_001)
    same(given, simulate(prep, n_scenarios=200, seed=4, batch=100, workers=2))
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


def _same_figures(a, b):
    for name in engine._PER_SCENARIO + engine._SUMMED:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.fixture(scope="module")
def small_prep():
    """Two banks' worth of loans with defaults in most scenarios, two years: cheap chunks."""
    book = tiny_book(12, pd=[0.05, 0.2, 0.4] * 4, principal=[1_000_001 + 1000 * i for i in range(12)],
                     bank=[0, 1] * 6, banks=("bank-1", "bank-2"),
                     sector=["other", "rail_transit", "other", "biomedicine_health"] * 3)
    return prep_of(book, horizon=2, cash=5_000_000, appropriation=(0, 1_000_000))


def test_simulate_refuses_bad_counts_in_one_line_and_accepts_the_bounds(small_prep, monkeypatch):
    """``simulate``: n_scenarios in 1..10^8, batch in 1..10^6, workers in 1..256, seed >= 0, each an
    integer (not a bool); anything else is refused with a message naming the bound and the value.
    (The bounds themselves are accepted: the run gets as far as planning its chunks.)"""
    class Planned(Exception):
        pass

    def planned(n_scenarios, batch):
        raise Planned((n_scenarios, batch))

    cases = [
        ({"n_scenarios": 0}, r"n_scenarios must be an integer in 1\.\.10\^8, got 0"),
        ({"n_scenarios": 10**8 + 1}, r"n_scenarios must be an integer in 1\.\.10\^8, got 100000001"),
        ({"n_scenarios": True}, r"n_scenarios .* got True"), ({"n_scenarios": 2.0}, r"n_scenarios .* got 2\.0"),
        ({"batch": 0}, r"batch must be an integer in 1\.\.10\^6, got 0"),
        ({"batch": 10**6 + 1}, r"batch must be an integer in 1\.\.10\^6, got 1000001"),
        ({"batch": True}, r"batch .* got True"), ({"batch": 5.0}, r"batch .* got 5\.0"),
        ({"workers": 0}, r"workers must be an integer in 1\.\.256, got 0"),
        ({"workers": 257}, r"workers must be an integer in 1\.\.256, got 257"),
        ({"workers": True}, r"workers .* got True"), ({"workers": 2.0}, r"workers .* got 2\.0"),
        ({"seed": -1}, r"seed must be an integer >= 0, got -1"), ({"seed": True}, r"seed .* got True"),
        ({"seed": 1.0}, r"seed .* got 1\.0"),
    ]
    # planning stands in for the run: a count wrongly accepted (10^8 + 1) fails at once, not after
    # simulating it
    monkeypatch.setattr(engine, "chunk_plan", planned)
    for change, message in cases:
        args = {"n_scenarios": 10, "seed": 1, "batch": 10, "workers": 1, **change}
        with pytest.raises(ValueError, match=message):
            simulate(small_prep, **args)
    for change in ({"n_scenarios": 1}, {"n_scenarios": 10**8}, {"batch": 1}, {"batch": 10**6}, {"workers": 1},
                   {"workers": 256}, {"seed": 0}):
        args = {"n_scenarios": 10, "seed": 1, "batch": 10, "workers": 1, **change}
        with pytest.raises(Planned):
            simulate(small_prep, **args)


def test_chunk_plan_is_full_batches_and_the_rest():
    """``chunk_plan``: chunks of ``batch`` each, the last one what is left (none when nothing is)."""
    assert engine.chunk_plan(250, 100) == [100, 100, 50]
    assert engine.chunk_plan(200, 100) == [100, 100]
    assert engine.chunk_plan(7, 100) == [7]
    assert engine.chunk_plan(3, 1) == [1, 1, 1]


def test_simulate_joins_the_chunks_of_the_spawned_seeds_in_order(small_prep):
    """M6 and ``simulate``'s docstring: chunk j runs ``run_chunk`` on the j-th child of
    ``SeedSequence(seed)``, sizes by ``chunk_plan``; per-scenario figures are the chunks' joined in
    chunk order and the summed figures the chunks' sums; the run records its inputs."""
    run = simulate(small_prep, n_scenarios=250, seed=9, batch=100)
    children = np.random.SeedSequence(9).spawn(3)
    chunks = [run_chunk(small_prep, child, size) for child, size in zip(children, (100, 100, 50))]
    for name in engine._PER_SCENARIO:
        np.testing.assert_array_equal(getattr(run, name), np.concatenate([getattr(c, name) for c in chunks]),
                                      err_msg=name)
    for name in engine._SUMMED:
        np.testing.assert_array_equal(getattr(run, name), sum(getattr(c, name) for c in chunks), err_msg=name)
    assert all(c.n_defaults.sum() > 0 for c in chunks)
    assert (run.n_scenarios, run.seed, run.batch, run.horizon, run.net0, run.workers) == (250, 9, 100, 2, 5_000_000, 1)
    assert (run.shift, run.scale) == (small_prep.shift, small_prep.scale)
    assert run.total_loss.shape == (250,) and run.payout_by_year.shape == (250, 2)


def test_simulate_reports_progress_cpu_and_its_own_time(small_prep, monkeypatch):
    """``progress(done, total)`` after each chunk with scenario counts; ``cpu_seconds`` the chunks'
    CPU seconds summed; ``seconds`` the run's wall time; the main process's peak memory."""
    timed = engine._timed_chunk
    monkeypatch.setattr(engine, "_timed_chunk", lambda prep, seed, size: (timed(prep, seed, size)[0], size / 4))
    calls = []
    started = time.perf_counter()
    run = simulate(small_prep, n_scenarios=250, seed=9, batch=100, progress=lambda done, total: calls.append((done, total)))
    wall = time.perf_counter() - started
    assert calls == [(100, 250), (200, 250), (250, 250)]
    assert run.cpu_seconds == 62.5
    assert 0 < run.seconds <= wall
    assert run.peak_rss_mb[0] > 0 and run.peak_rss_mb[1] == 0.0


class _InProcessPool:
    """A stand-in for ``ProcessPoolExecutor`` that records how it was made, runs its initializer
    once (as each worker would) and each task when submitted, in this process."""

    made: list = []

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        _InProcessPool.made.append(self)
        kwargs["initializer"](*kwargs["initargs"])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def submit(self, fn, *args):
        future = concurrent.futures.Future()
        future.set_result(fn(*args))
        return future


def test_worker_processes_get_the_prepared_inputs_once_and_their_chunks_come_back_in_order(small_prep, monkeypatch):
    """The pool path of ``simulate`` (worker processes, here run in this process): the pool has
    ``min(workers, chunks)`` workers started by forkserver where the platform has it (else spawn:
    never forked from this process), each initialised with the prepared inputs; chunk j is
    ``_worker_chunk(j, j-th seed, its size)``; the figures are those of the run in this process (M6),
    progress is reported per chunk, CPU seconds are summed and the workers' peak memory is the
    largest one reported."""
    monkeypatch.setattr(engine, "_WORKER_PREP", None)
    monkeypatch.setattr(engine, "ProcessPoolExecutor", _InProcessPool)
    monkeypatch.setattr(_InProcessPool, "made", [])
    here = simulate(small_prep, n_scenarios=250, seed=9, batch=100)
    peaks = iter([10.0, 30.0, 20.0, 5.0])          # three workers' chunks, then the main process
    monkeypatch.setattr(engine, "_peak_rss_mb", lambda: next(peaks))
    timed = engine._timed_chunk
    monkeypatch.setattr(engine, "_timed_chunk", lambda prep, seed, size: (timed(prep, seed, size)[0], size / 4))
    calls = []
    pooled = simulate(small_prep, n_scenarios=250, seed=9, batch=100, workers=3, small_run=0,
                      progress=lambda done, total: calls.append((done, total)))
    _same_figures(here, pooled)
    (pool,) = _InProcessPool.made
    assert pool.kwargs["max_workers"] == 3 and pool.kwargs["initargs"] == (small_prep,)
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    assert pool.kwargs["mp_context"].get_start_method() == method
    assert engine._WORKER_PREP is small_prep
    done = [d for d, _ in calls]
    assert {t for _, t in calls} == {250} and done[-1] == 250     # in the order the chunks finish
    assert sorted(np.diff([0, *done]).tolist()) == [50, 100, 100]
    assert pooled.cpu_seconds == 62.5 and pooled.peak_rss_mb == (5.0, 30.0) and pooled.workers == 3
    monkeypatch.setattr(engine, "_peak_rss_mb", lambda: 1.0)
    simulate(small_prep, n_scenarios=250, seed=9, batch=100, workers=8, small_run=0)
    assert _InProcessPool.made[-1].kwargs["max_workers"] == 3      # no more workers than chunks


def test_an_executor_runs_the_chunks_where_it_likes_and_the_figures_are_the_same(small_prep, monkeypatch):
    """``simulate(executor=...)``: the executor is given the prepared inputs, the seeds and the sizes
    and yields ``(index, chunk, peak, cpu)`` in any order (here the last chunk first, each through
    ``_worker_chunk_with`` as a remote worker runs it); the figures are the in-process run's, progress
    counts the scenarios done in the order chunks arrive, CPU seconds add up and the peak is the
    largest worker's."""
    class Backwards:
        def run_chunks(self, prep, seeds, sizes):
            assert prep is small_prep and sizes == [100, 100, 50] and len(seeds) == 3
            for j, peak in zip((2, 1, 0), (7.0, 9.0, 8.0)):
                index, chunk, _, cpu = engine._worker_chunk_with(prep, j, seeds[j], sizes[j])
                assert index == j and chunk.total_loss.shape == (sizes[j],) and cpu >= 0
                yield index, chunk, peak, 0.5 * (j + 1)

    here = simulate(small_prep, n_scenarios=250, seed=9, batch=100)
    calls = []
    remote = simulate(small_prep, n_scenarios=250, seed=9, batch=100, executor=Backwards(),
                      progress=lambda done, total: calls.append((done, total)))
    _same_figures(here, remote)
    assert calls == [(50, 250), (150, 250), (250, 250)]
    assert remote.cpu_seconds == 3.0 and remote.peak_rss_mb[1] == 9.0


def test_timed_chunk_is_run_chunk_and_the_cpu_seconds_it_took(small_prep):
    """``_timed_chunk``: the chunk ``run_chunk`` gives for the seed and size, and the CPU seconds
    it took (between zero and the process time measured around the call)."""
    seed = np.random.SeedSequence(3)
    before = time.process_time()
    chunk, cpu = engine._timed_chunk(small_prep, seed, 60)
    spent = time.process_time() - before
    assert 0 <= cpu <= spent
    for name in engine._PER_SCENARIO:
        np.testing.assert_array_equal(getattr(chunk, name), getattr(run_chunk(small_prep, seed, 60), name))


def test_peak_rss_is_this_process_peak_resident_memory_in_mb():
    """``_peak_rss_mb``: this process's peak resident set in MB (Linux reports it in KB; compared
    with /proc/self/status's VmHWM, another reading of the same figure)."""
    def hwm_mb():
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024

    if not os.path.exists("/proc/self/status"):
        pytest.skip("needs Linux's /proc")
    low = hwm_mb()
    peak = engine._peak_rss_mb()
    high = hwm_mb()
    # the kernel's two counters may differ by a few hundred KB (per-thread RSS counting)
    assert 0.98 * low - 1 <= peak <= 1.02 * high + 1


# --------------------------------------------------------------------------------------------------
# prepare: a hand-computed book (M1, M2, M3, A2, A3, B2)


def _a2(loss, covered, principal, ratios, limit=None):
    """A2 as docs/rules.md section 4 words it: base = floor(L C / principal), share_p = floor(base
    ratio_p / 10000), the insurer's share cut to its limit, the bank the residual."""
    base = loss * covered // principal
    shares = {p: base * ratios.get(p, 0) // 10_000 for p in ("fund", "insurer", "appraiser")}
    if limit is not None:
        shares["insurer"] = min(shares["insurer"], limit)
    return base, shares


def hand_book():
    """Four loans of two banks under gz-2023 (cap 500 bp, scheme 50, B2 line 300 bp) and gz-2020
    (no cap; schemes 5311 and 541), as of 2026-01-01:

    0: bank A, gz-2023 "50", principal 1,000,000, C 600,001, outstanding 900,000, bullet to 2028-06-30
       (years 1-3), PD 2%, "other", an invention patent worth 400,000;
    1: bank B, gz-2020 "5311", 2,000,000 all covered and outstanding, straight line to 2028-01-01
       (2,000,000 at the start of year 1, 1,000,000 of year 2, 0 in year 3), the sector's PD
       (rail transit), insurer limit 100,000;
    2: bank A, gz-2023 "50", 500,000, bullet to 2027-01-01 (year 1 only), PD 30%, "other", a
       trademark worth 100,000;
    3: bank B, gz-2020 "541", principal 3,000,001, C 1,000,000, outstanding 2,999,999, PD 0."""
    gz23, gz20 = shipped_policy("gz-2023"), shipped_policy("gz-2020")
    cols = {
        "loan_id": ["a", "b", "c", "d"], "bank": [0, 1, 0, 1],
        "sector": [SECTORS.index(s) for s in ("other", "rail_transit", "other", "other")],
        "policy": [0, 1, 0, 1], "scheme": ["50", "5311", "50", "541"], "pd": [0.02, math.nan, 0.3, 0.0],
        "principal_fen": [1_000_000, 2_000_000, 500_000, 3_000_001],
        "covered_fen": [600_001, 2_000_000, 500_000, 1_000_000],
        "outstanding_fen": [900_000, 2_000_000, 500_000, 2_999_999],
        "maturity_date": [dt.date(2028, 6, 30), dt.date(2028, 1, 1), dt.date(2027, 1, 1), dt.date(2035, 1, 1)],
        "amortization": [False, True, False, False], "ip_value_fen": [400_000, 0, 100_000, 0],
        "ip_kind": [IP_KINDS.index("invention_patent"), -1, IP_KINDS.index("trademark"), -1],
        "insurer_limit_fen": [UNLIMITED, 100_000, UNLIMITED, UNLIMITED],
    }
    return make_book(cols, ("A", "B"), (gz23, gz20))


HAND_SCENARIO = {"name": "hand", "horizon_years": 3, "pd_multiplier": 2.0, "sector_pd_multiplier": {"rail_transit": 1.5},
                 "asset_correlation": 0.19, "global_loading": 0.3,
                 "collateral": {"value_multiplier": 1.5, "liquidation_haircut": 0.2, "invalidation_multiplier": 2.0,
                                "volatility": 0.7, "global_loading": 0.4, "recovery_lag_years": 2}}
HAND_BASE = [CapBase("A", "gz-2023", 10_000_000, 123_456, b2_losses_fen=7), CapBase("B", "gz-2020", 5_000_000, 0)]


def hand_prepare(**changes):
    doc = {**HAND_SCENARIO, **changes}
    fund = FundPosition(cash_fen=0, deferred_fen=5_000, appropriation_fen=(11, 22, 33))
    return prepare(hand_book(), parse_scenario(doc), HAND_BASE, fund, as_of=AS_OF)


def test_prepare_computes_the_hand_book_exposures_and_a2_split():
    """M3's exposure per year (bullet, straight line, matured) and A2's split of it per loan and
    year through the pooled scheme ratios and the insurer's limit (section 4), by hand."""
    prep, _ = hand_prepare()
    ead = [[900_000, 2_000_000, 500_000, 2_999_999],
           [900_000, 1_000_000, 0, 2_999_999],       # straight line: 365 of 730 days left
           [900_000, 0, 0, 2_999_999]]               # loan 1 matures on the first day of year 3
    assert prep.ead.tolist() == ead
    schemes = [{"fund": 5000, "bank": 5000}, {"fund": 5000, "insurer": 3000, "appraiser": 1000, "bank": 1000},
               {"fund": 5000, "bank": 5000}, {"fund": 5000, "insurer": 4000, "bank": 1000}]
    covered, principal = [600_001, 2_000_000, 500_000, 1_000_000], [1_000_000, 2_000_000, 500_000, 3_000_001]
    limits = [None, 100_000, None, None]
    for k in range(3):
        for i in range(4):
            base, shares = _a2(ead[k][i], covered[i], principal[i], schemes[i], limits[i]) if ead[k][i] else (0, {})
            assert prep.fund_raw[k, i] == shares.get("fund", 0), (k, i)
            assert prep.insurer[k, i] == shares.get("insurer", 0), (k, i)
            assert prep.appraiser[k, i] == shares.get("appraiser", 0), (k, i)
            assert prep.base[k, i] == base, (k, i)
    # spot values: 900,000 x 600,001 / 1,000,000 = 540,000.9 -> 540,000, half to the fund; the
    # insurer's 30% of 2,000,000 cut to its 100,000 limit
    assert (prep.fund_raw[0, 0], prep.base[0, 0], prep.insurer[0, 1], prep.appraiser[0, 1]) == (270_000, 540_000, 100_000, 200_000)
    assert prep.fund_raw[0, 3] == 999_999 // 2 and prep.insurer[0, 3] == 999_999 * 4 // 10


def test_prepare_computes_the_hand_book_caps_lines_fund_and_collateral():
    """A3's room per (bank, policy) and year (the cap used counts in year 1 only; no cap: UNLIMITED),
    B2's line and reading on the run date, M1's appropriations (year 1's in today's cash; the
    scenario's replaces the others), the net position, M3's liquidation base and invalidation
    probability, M2's thresholds and the copula's parameters, by hand."""
    from scipy import special

    prep, inputs = hand_prepare()
    assert prep.cap_group.tolist() == [0, 1, 0, 1] and prep.n_cap_groups == 2
    # gz-2023: floor(10,000,000 x 500 / 10,000) = 500,000, less 123,456 used in year 1
    assert prep.room.tolist() == [[376_544, UNLIMITED], [500_000, UNLIMITED], [500_000, UNLIMITED]]
    assert prep.line.tolist() == [[300_000, UNLIMITED]] * 3             # 300 bp of 10,000,000
    assert prep.b2_start.tolist() == [7, 0] and prep.suspended_start.tolist() == [False, False]
    assert prep.start_year.tolist() == [-1] * 4                         # today's loans
    assert prep.appropriation.tolist() == [0, 22, 33] and prep.net0 == -5_000
    assert hand_prepare(fund={"annual_appropriation_fen": 44})[0].appropriation.tolist() == [0, 44, 44]
    np.testing.assert_allclose(prep.liquidation_base, [400_000 * 1.5 * 0.8, 0, 100_000 * 1.5 * 0.8, 0])
    np.testing.assert_allclose(prep.invalidation, [0.05 * 2, 0, 0.02 * 2, 0])   # 500 bp and 200 bp, doubled
    pd = [0.02 * 2, 0.01 * 2 * 1.5, 0.3 * 2, 0.0]                      # rail transit's default PD 1%
    np.testing.assert_allclose(prep.threshold, special.ndtri(pd))
    assert (prep.copula, prep.nu, prep.rho, prep.beta) == ("gaussian", 4.0, 0.19, 0.3)
    assert (prep.sigma, prep.beta_v, prep.lag) == (0.7, 0.4, 2)
    assert prep.bank.tolist() == [0, 1, 0, 1] and prep.sector.tolist() == [8, 4, 8, 8]
    assert (prep.n_loans, prep.horizon) == (4, 3)
    assert inputs.b2_on_run_date == ({"bank": "A", "policy": "gz-2023", "losses_fen": 7, "suspended": False},)


def test_prepare_groups_the_hand_book_loans_and_lists_them_by_year_in_slot_order():
    """M2's groups: loans with PD > 0 that can default, by sector (in SECTORS' order), PDs more than
    PD_BUCKET_RATIO apart in groups of their own; slots sorted by cap group, portfolio order within;
    each year's list holds the slots of the group's loans alive in it."""
    prep, _ = hand_prepare()
    # rail transit (loan 1) comes before "other" (loan 0 at 4%, loan 2 at 60%: 15 times apart)
    assert prep.group_sector.tolist() == [SECTORS.index("rail_transit"), SECTORS.index("other"), SECTORS.index("other")]
    assert prep.loan_group.tolist() == [1, 0, 2, -1]
    assert prep.group_alive.tolist() == [[1, 1, 0], [1, 1, 1], [1, 0, 0]]
    assert prep.group_mixed.tolist() == [False, False, False]
    np.testing.assert_allclose(prep.group_threshold, prep.threshold[[1, 0, 2]])
    np.testing.assert_allclose(prep.group_low_threshold, prep.threshold[[1, 0, 2]])
    assert prep.slot_loan.tolist() == [0, 2, 1, 3]                      # cap group 0 (loans 0, 2), then 1
    # slots: loan 1 is slot 2, loan 0 slot 0, loan 2 slot 1
    assert prep.year_loans.tolist() == [2, 0, 1, 2, 0, 0]
    assert prep.year_start.tolist() == [[0, 1, 2], [3, 4, 5], [5, 5, 6]]
    np.testing.assert_allclose(prep.slot_threshold, prep.threshold[[0, 2, 1, 3]] / math.sqrt(1 - 0.19))
    assert prep.slot_sector.tolist() == [8, 8, 4, 8]


def test_prepare_records_its_inputs():
    """``Inputs``, what a run was given (for the record): the as-of date, the horizon, today's loans,
    banks and policies, the fund position and appropriations, the scenario and the assumptions."""
    from risk.scenario import load_stress_assumptions
    from risk.valuation import load_assumptions

    _, inputs = hand_prepare()
    assert (inputs.as_of, inputs.horizon_years, inputs.n_loans, inputs.n_banks) == ("2026-01-01", 3, 4, 2)
    assert inputs.policies == ("gz-2023", "gz-2020")
    assert (inputs.fund_cash_fen, inputs.fund_deferred_fen, inputs.appropriation_fen) == (0, 5_000, (0, 22, 33))
    assert inputs.scenario == parse_scenario(HAND_SCENARIO).to_dict()
    assumptions = load_stress_assumptions()
    assert inputs.sector_pd_assumptions == assumptions.id and inputs.sector_pd == dict(assumptions.sector_pd)
    assert inputs.invalidation_probability_bp == dict(load_assumptions().invalidation_probability_bp)
    assert (inputs.new_lending_fen, inputs.new_loans_by_year, inputs.new_covered_by_year_fen) == (0, (0, 0, 0), (0, 0, 0))


def test_prepare_refuses_what_it_cannot_run_in_one_line():
    """``prepare``'s refusals, each with its message: a horizon outside 1..30 years (the argument
    wins over the scenario's), an empty book, a book too large for exact int64 sums per scenario
    (10^12 fen a loan, a quarter of int64's range), too few appropriation years, a negative new
    lending volume, an invalidation probability pushed past 1 (a hair above 1 is rounding: cut to
    1), a (bank, policy) of today's book without its cap base."""
    book = hand_book()
    scenario = parse_scenario(HAND_SCENARIO)
    fund = FundPosition(cash_fen=0, deferred_fen=0, appropriation_fen=(0,) * 30)

    def run(**kwargs):
        args = {"book": book, "scenario": scenario, "cap_base": HAND_BASE, "fund": fund, "as_of": AS_OF, **kwargs}
        return prepare(args.pop("book"), args.pop("scenario"), args.pop("cap_base"), args.pop("fund"), **args)

    for horizon in (0, 31):
        with pytest.raises(ValueError, match=f"^horizon must be 1..30 years, got {horizon}$"):
            run(horizon=horizon)
    assert run(horizon=1)[0].horizon == 1 and run(horizon=30)[0].horizon == 30 and run()[0].horizon == 3
    with pytest.raises(ValueError, match="^the book has no loans$"):
        run(book=oracle_book(0))
    # 2,305,843 loans of up to 10^12 fen sum below (2^63 - 1) // 4; one more does not
    too_many = dataclasses.replace(book, loan_id=("x",) * 2_305_844)
    with pytest.raises(ValueError, match="^too many loans for exact int64 sums per scenario$"):
        run(book=too_many)
    short = FundPosition(cash_fen=0, deferred_fen=0, appropriation_fen=(0, 0))
    with pytest.raises(ValueError, match=r"^fund.appropriation_fen must give 3 years, got 2$"):
        run(book=dataclasses.replace(book, loan_id=("x",) * 2_305_843), fund=short)   # past the size check
    assert run(fund=FundPosition(cash_fen=0, deferred_fen=0, appropriation_fen=(0, 0, 0)))[0].horizon == 3
    with pytest.raises(ValueError, match="^new lending volume must be >= 0$"):
        run(new_lending_fen=-1)
    assert run(new_lending_fen=0)[0].n_loans == 4
    doc = HAND_SCENARIO
    with pytest.raises(ValueError, match="^collateral.invalidation_multiplier times an invalidation probability passes 1$"):
        run(scenario=parse_scenario({**doc, "collateral": {"invalidation_multiplier": 21.0}}))     # 5% x 21
    exactly = run(scenario=parse_scenario({**doc, "collateral": {"invalidation_multiplier": 20.0}}))[0]
    assert exactly.invalidation.max() == 1.0
    hair = run(scenario=parse_scenario({**doc, "collateral": {"invalidation_multiplier": 20.00000000001}}))[0]
    assert hair.invalidation.max() == 1.0 and hair.invalidation[2] == pytest.approx(0.4)
    with pytest.raises(ValueError, match="^no cap base for bank 'B' and policy 'gz-2020'$"):
        run(cap_base=HAND_BASE[:1])


def test_room_stays_far_from_int64_overflow():
    """A cap room past int64 is kept at (2^63 - 1) // 2 (the engine adds rooms and claims)."""
    book = tiny_book(2, pd=0.1)                       # gz-2020 (no B2 line), with a 500 bp cap below
    prep = prep_of(book, horizon=2, cap_base=[CapBase("bank-1", "gz-2020", 10**21, 0)],
                   policy_override={"bank_annual_cap_bp": 500})
    assert prep.room.tolist() == [[(2**63 - 1) // 2]] * 2
    assert prep_of(book, horizon=2, cap_base=[CapBase("bank-1", "gz-2020", 10**9, 7)],
                   policy_override={"bank_annual_cap_bp": 500}).room.tolist() == [[5 * 10**7 - 7], [5 * 10**7]]


# --------------------------------------------------------------------------------------------------
# run_chunk: the hand book with every loan defaulting in year 1 (PD 1), figures by hand


SURE_COLLATERAL = {"value_multiplier": 1.0, "liquidation_haircut": 0.5, "invalidation_multiplier": 0.0,
                   "volatility": 0.0, "recovery_lag_years": 1}


def sure_prepare(**changes):
    """The hand book with PD 1 for every loan and collateral worth exactly half its IP value."""
    book = dataclasses.replace(hand_book(), pd=np.ones(4))
    doc = {**HAND_SCENARIO, "collateral": SURE_COLLATERAL, **changes}
    fund = FundPosition(cash_fen=0, deferred_fen=5_000, appropriation_fen=(11, 22, 33))
    return prepare(book, parse_scenario(doc), HAND_BASE, fund, as_of=AS_OF)[0]


@pytest.mark.parametrize("use_compiled", FORMS)
@pytest.mark.parametrize("dead_as", ["flags", "sorted keys"])
def test_every_loan_defaulting_in_year_one_gives_the_hand_figures(use_compiled, dead_as, monkeypatch):
    """Every loan defaults in year 1 and never again, in every scenario (PD 1). By hand:

    * A2 (year 1 exposures): loan 0 fund 270,000 (base 540,000); loan 1 fund 1,000,000, insurer
      100,000 (its limit), appraiser 200,000; loan 2 fund 250,000; loan 3 fund 499,999, insurer 399,999.
    * A3, in portfolio order: bank A's gz-2023 room in year 1 is 500,000 - 123,456 = 376,544, so
      loan 0 gets 270,000 and loan 2 the 106,544 left (the cap binds); gz-2020 has no cap.
      Fund 1,876,543; loss 6,399,999; bank the residual 3,823,457.
    * B2: bank A's covered losses 7 + 540,000 + 500,000 pass its 300,000 line in year 1: suspended.
    * M3 recoveries a year later: min(EAD, IP x 1 x 0.5) = 200,000 (loan 0) and 50,000 (loan 2);
      A5's fund parts floor(200,000 x 270,000 / 900,000) = 60,000 and floor(50,000 x 106,544 /
      500,000) = 10,654.
    * A4 as the net position: -5,000 - 1,876,543 = -1,881,543 at the end of year 1; + 22 + 70,654
      in year 2; + 33 in year 3."""
    if dead_as == "sorted keys":
        monkeypatch.setattr(engine, "DEAD_FLAG_LIMIT", 0)
    prep = sure_prepare()
    B = 3
    trace: list = []
    chunk = chunk_of(prep, B, use_compiled=use_compiled, monkeypatch=monkeypatch, trace=trace)
    assert chunk.total_loss.tolist() == [6_399_999] * B
    assert chunk.fund_payout.tolist() == [1_876_543] * B
    assert chunk.insurer_share.tolist() == [499_999] * B and chunk.appraiser_share.tolist() == [200_000] * B
    assert chunk.bank_share.tolist() == [3_823_457] * B
    assert chunk.n_defaults.tolist() == [4] * B and chunk.defaults_by_loan.tolist() == [B] * 4
    assert chunk.payout_by_year.tolist() == [[1_876_543, 0, 0]] * B
    assert chunk.cap_hit.tolist() == [True] * B and chunk.suspended.tolist() == [True] * B
    assert chunk.recoveries.tolist() == [250_000] * B and chunk.fund_recovered.tolist() == [70_654] * B
    assert chunk.net_by_year.tolist() == [[-1_881_543, -1_810_867, -1_810_834]] * B
    assert chunk.payout_by_bank.tolist() == [B * 376_544, B * 1_499_999]
    assert chunk.loss_by_bank.tolist() == [B * 1_400_000, B * 4_999_999]
    other, rail = SECTORS.index("other"), SECTORS.index("rail_transit")
    expected_sectors = np.zeros((3, len(SECTORS)))
    expected_sectors[:, other] = (B * (376_544 + 499_999), B * (900_000 + 500_000 + 2_999_999), B * 3)
    expected_sectors[:, rail] = (B * 1_000_000, B * 2_000_000, B)
    assert chunk.payout_by_sector.tolist() == expected_sectors[0].tolist()
    assert chunk.loss_by_sector.tolist() == expected_sectors[1].tolist()
    assert chunk.defaults_by_sector.tolist() == expected_sectors[2].tolist()
    assert chunk.log_weight.tolist() == [0.0] * B
    # the trace: year 1's defaults in approval order (scenario, then cap group, then portfolio order)
    first = trace[0]
    assert first["year"] == 0 and first["arrive"] == 1
    assert first["scenario"].tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]
    assert first["loan"].tolist() == [0, 2, 1, 3] * B
    assert first["recovered"].tolist() == [200_000, 50_000, 0, 0] * B
    assert len(trace) == 1                       # no defaults in years 2 and 3: nothing traced


# --------------------------------------------------------------------------------------------------
# run_chunk: M6b's weights and the by-bank and by-sector sums


def _by_scenario_from_trace(prep, trace, n_scenarios):
    """Per scenario and bank / sector: the fund's A2 share, the loss and the defaults, from the
    trace (no A3 cap binds in these books: gz-2020 has none)."""
    n_banks = int(prep.bank.max()) + 1
    pay_bank, loss_bank = np.zeros((n_scenarios, n_banks)), np.zeros((n_scenarios, n_banks))
    pay_sector, loss_sector = np.zeros((n_scenarios, len(SECTORS))), np.zeros((n_scenarios, len(SECTORS)))
    count_sector = np.zeros((n_scenarios, len(SECTORS)))
    for year in trace:
        k, b, loan = year["year"], year["scenario"], year["loan"]
        np.add.at(pay_bank, (b, prep.bank[loan]), prep.fund_raw[k, loan])
        np.add.at(loss_bank, (b, prep.bank[loan]), prep.ead[k, loan])
        np.add.at(pay_sector, (b, prep.sector[loan]), prep.fund_raw[k, loan])
        np.add.at(loss_sector, (b, prep.sector[loan]), prep.ead[k, loan])
        np.add.at(count_sector, (b, prep.sector[loan]), 1)
    return pay_bank, loss_bank, pay_sector, loss_sector, count_sector


@pytest.mark.parametrize("use_compiled", FORMS)
def test_crude_sums_by_bank_and_sector_are_the_defaults_shares(small_prep, use_compiled, monkeypatch):
    """Crude sampling: the expected-payout tables (M5, by bank and by sector) are plain sums over the
    chunk of each default's fund share and loss, by the defaulted loan's bank and sector."""
    trace: list = []
    chunk = chunk_of(small_prep, 300, seed=5, use_compiled=use_compiled, monkeypatch=monkeypatch, trace=trace)
    pay_bank, loss_bank, pay_sector, loss_sector, count_sector = _by_scenario_from_trace(small_prep, trace, 300)
    assert chunk.payout_by_bank.tolist() == pay_bank.sum(axis=0).tolist()
    assert chunk.loss_by_bank.tolist() == loss_bank.sum(axis=0).tolist()
    assert chunk.payout_by_sector.tolist() == pay_sector.sum(axis=0).tolist()
    assert chunk.loss_by_sector.tolist() == loss_sector.sum(axis=0).tolist()
    assert chunk.defaults_by_sector.tolist() == count_sector.sum(axis=0).tolist()
    assert (chunk.fund_payout == pay_bank.sum(axis=1)).all() and (chunk.total_loss == loss_bank.sum(axis=1)).all()
    assert len({*small_prep.bank.tolist()}) == 2 and (pay_bank > 0).any(axis=0).all()
    # gz-2020 has neither an A3 cap nor a B2 line
    assert not chunk.cap_hit.any() and not chunk.suspended.any()


@pytest.mark.parametrize("use_compiled", FORMS)
def test_weighted_tables_use_the_claims_after_the_a3_cut(use_compiled, monkeypatch):
    """Under importance sampling the by-bank and by-sector tables weight each scenario's figures
    by its likelihood ratio, the fund's payout counted after A3's cut: in the PD 1 hand book every
    scenario pays bank A 376,544 (its room) and bank B 1,499,999."""
    prep = dataclasses.replace(sure_prepare(), shift=(-1.0, 0.0, 0.5), scale=(1.0, 1.3, 1.0))
    chunk = chunk_of(prep, 5, use_compiled=use_compiled, monkeypatch=monkeypatch)
    w = np.exp(chunk.log_weight)
    assert len(set(chunk.log_weight.tolist())) == 5
    np.testing.assert_allclose(chunk.payout_by_bank, w.sum() * np.array([376_544, 1_499_999]), rtol=1e-12)
    np.testing.assert_allclose(chunk.loss_by_bank, w.sum() * np.array([1_400_000, 4_999_999]), rtol=1e-12)
    other, rail = SECTORS.index("other"), SECTORS.index("rail_transit")
    np.testing.assert_allclose(chunk.payout_by_sector[[other, rail]], w.sum() * np.array([876_543, 1_000_000]), rtol=1e-12)
    np.testing.assert_allclose(chunk.loss_by_sector[[other, rail]], w.sum() * np.array([4_399_999, 2_000_000]), rtol=1e-12)
    np.testing.assert_allclose(chunk.defaults_by_sector[[other, rail]], w.sum() * np.array([3, 1]), rtol=1e-12)
    assert chunk.fund_payout.tolist() == [1_876_543] * 5        # the figures themselves are not weighted


@pytest.mark.parametrize("use_compiled", FORMS)
def test_importance_weights_are_m6b_likelihood_ratios_of_the_drawn_factors(small_prep, use_compiled, monkeypatch):
    """M6b and its extensions (docs/rules.md section 8): year k's global factor is drawn from
    N(mu_k, s_k^2) and each scenario carries w = prod_k s_k exp(-G_k^2 / 2 + Z_k^2 / 2), Z_k =
    (G_k - mu_k) / s_k (with s_k = 1: exp(-mu_k G_k + mu_k^2 / 2)); the by-bank and by-sector tables
    are then sums weighted by w. The drawn factors (``factors``) have the sampling law's mean and
    spread."""
    prep = dataclasses.replace(small_prep, shift=(-1.5, 0.5), scale=(1.0, 1.6))
    n = 3000
    factors = np.zeros((n, 2))
    trace: list = []
    chunk = chunk_of(prep, n, seed=8, use_compiled=use_compiled, monkeypatch=monkeypatch, trace=trace)
    run_chunk(prep, np.random.SeedSequence(8), n, factors=factors)
    g1, g2 = factors[:, 0], factors[:, 1]
    z2 = (g2 - 0.5) / 1.6
    expected = (-(-1.5) * g1 + 1.5**2 / 2) + (math.log(1.6) - g2**2 / 2 + z2**2 / 2)
    np.testing.assert_allclose(chunk.log_weight, expected, rtol=1e-9, atol=1e-9)
    assert abs(g1.mean() + 1.5) < 5 / math.sqrt(n) and abs(g2.mean() - 0.5) < 5 * 1.6 / math.sqrt(n)
    assert abs(g1.std() - 1.0) < 0.05 and abs(g2.std() - 1.6) < 0.08
    w = np.exp(chunk.log_weight)
    pay_bank, loss_bank, pay_sector, loss_sector, count_sector = _by_scenario_from_trace(prep, trace, n)
    np.testing.assert_allclose(chunk.payout_by_bank, w @ pay_bank, rtol=1e-9)
    np.testing.assert_allclose(chunk.loss_by_bank, w @ loss_bank, rtol=1e-9)
    np.testing.assert_allclose(chunk.payout_by_sector, w @ pay_sector, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(chunk.loss_by_sector, w @ loss_sector, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(chunk.defaults_by_sector, w @ count_sector, rtol=1e-9, atol=1e-9)
    # one shift for every year, no spread: the rule's own M6b weight
    single = dataclasses.replace(small_prep, shift=-1.0)
    run_chunk(single, np.random.SeedSequence(8), 500, factors=(f := np.zeros((500, 2))))
    np.testing.assert_allclose(run_chunk(single, np.random.SeedSequence(8), 500).log_weight,
                               (f + 0.5).sum(axis=1), rtol=1e-9, atol=1e-9)   # -mu G + mu^2 / 2, mu = -1


# --------------------------------------------------------------------------------------------------
# run_chunk: B2 in the simulation (docs/rules.md section 12), with M1b's new loans and PD 1


def b2_prepare(line_bp, cap_base=HAND_BASE):
    """The hand book with PD 1, three years of new lending (new loans copy PD 1, so each defaults in
    the year it is drawn unless it is not covered) and the line ``line_bp`` for every policy."""
    book = dataclasses.replace(hand_book(), pd=np.ones(4))
    doc = {**HAND_SCENARIO, "collateral": SURE_COLLATERAL, "policy_override": {"bank_suspension_line_bp": line_bp}}
    fund = FundPosition(cash_fen=0, deferred_fen=5_000, appropriation_fen=(11, 22, 33))
    prep, _ = prepare(book, parse_scenario(doc), cap_base, fund, as_of=AS_OF, new_lending_fen=3_000_000, seed=4)
    return prep


def b2_expected_defaults(prep, suspended_in):
    """B2's consequence with PD 1: a loan defaults in the year it can first default (its entry year,
    if it has exposure then) unless it is a new loan of a (bank, policy) suspended before it was
    drawn: drawn in a year after the suspension's (a loan drawn at the start of the suspension's
    year is covered: it was drawn before the approval that suspended the bank). Today's loans
    keep their cover. ``suspended_in[g]``: the year group g is suspended in (-1: on the run date)."""
    count = 0
    for i in range(prep.n_loans):
        entry = max(int(prep.start_year[i]), 0)
        if prep.ead[entry, i] == 0:
            continue
        if prep.start_year[i] < 0 or entry <= suspended_in[int(prep.cap_group[i])]:
            count += 1
    return count


@pytest.mark.parametrize("use_compiled", FORMS)
@pytest.mark.parametrize("dead_as", ["flags", "sorted keys"])
def test_a_suspended_banks_later_new_loans_are_not_claims(use_compiled, dead_as, monkeypatch):
    """With a line of 1 bp every (bank, policy) passes its line at its first default and is
    suspended in that year: its new loans drawn in later years are not covered, so they never
    default as claims; with a line of 100% (never passed) every loan defaults once. In every
    scenario alike (PD 1)."""
    if dead_as == "sorted keys":
        monkeypatch.setattr(engine, "DEAD_FLAG_LIMIT", 0)
    strict, open_line = b2_prepare(1), b2_prepare(10_000)
    assert (strict.start_year >= 1).sum() >= 2          # new loans drawn after year 1: some get uncovered
    first = {}
    for i in range(strict.n_loans):
        entry = max(int(strict.start_year[i]), 0)
        if strict.ead[entry, i] > 0:
            g = int(strict.cap_group[i])
            first[g] = min(first.get(g, entry), entry)
    suspended_in = [first.get(g, strict.horizon) for g in range(strict.n_cap_groups)]
    never = [strict.horizon] * strict.n_cap_groups
    a = chunk_of(strict, 4, use_compiled=use_compiled, monkeypatch=monkeypatch)
    b = chunk_of(open_line, 4, use_compiled=use_compiled, monkeypatch=monkeypatch)
    assert a.n_defaults.tolist() == [b2_expected_defaults(strict, suspended_in)] * 4
    assert b.n_defaults.tolist() == [b2_expected_defaults(open_line, never)] * 4
    assert a.n_defaults[0] < b.n_defaults[0]
    assert a.suspended.all() and not b.suspended.any()
    # today's loans keep their cover: year 1 is the same under both lines
    assert a.payout_by_year[:, 0].tolist() == b.payout_by_year[:, 0].tolist()


@pytest.mark.parametrize("use_compiled", FORMS)
@pytest.mark.parametrize("dead_as", ["flags", "sorted keys"])
def test_a_bank_suspended_on_the_run_date_covers_none_of_its_new_loans(use_compiled, dead_as, monkeypatch):
    """A (bank, policy) suspended on the run date (its cap base says so) covers none of its new
    loans, not even those drawn in year 1; its today's loans keep their cover; a suspension that
    was there on the run date is not counted as one during the horizon (``suspended``)."""
    if dead_as == "sorted keys":
        monkeypatch.setattr(engine, "DEAD_FLAG_LIMIT", 0)
    base = [dataclasses.replace(HAND_BASE[0], suspended=True), HAND_BASE[1]]
    prep = b2_prepare(10_000, cap_base=base)
    assert prep.suspended_start.tolist()[:2] == [True, False]
    assert ((prep.cap_group == 0) & (prep.start_year == 0)).any()      # a new loan of bank A in year 1
    suspended_in = [-1] + [prep.horizon] * (prep.n_cap_groups - 1)
    chunk = chunk_of(prep, 4, use_compiled=use_compiled, monkeypatch=monkeypatch)
    assert chunk.n_defaults.tolist() == [b2_expected_defaults(prep, suspended_in)] * 4
    assert not chunk.suspended.any()


@pytest.mark.parametrize("use_compiled", FORMS)
def test_the_b2_count_starts_at_the_run_dates_reading_and_must_exceed_the_line(use_compiled, monkeypatch):
    """B2's count starts at each (bank, policy)'s approved covered losses on the run date; a bank is
    suspended when the count *exceeds* its line (reaching it exactly does not suspend). Bank A's
    year-1 claims bring it to exactly its line from a reading one fen lower than needed to pass it:
    not suspended in year 1, so its new loans of year 2 stay covered; one fen more and they do not."""
    prep = b2_prepare(10_000)
    g0 = prep.cap_group == 0
    entry0 = g0 & (prep.ead[0] > 0) & (prep.start_year <= 0)
    year1_base = int(prep.base[0, entry0].sum())
    line = int(prep.line[0, 0])
    counts = {}
    for reading in (line - year1_base, line - year1_base + 1):
        base = [dataclasses.replace(HAND_BASE[0], b2_losses_fen=reading), HAND_BASE[1]]
        p = b2_prepare(10_000, cap_base=base)
        counts[reading - (line - year1_base)] = chunk_of(p, 2, use_compiled=use_compiled, monkeypatch=monkeypatch)
    later_a = int((g0 & (prep.start_year >= 1) & (prep.ead.max(axis=0) > 0)).sum())
    assert later_a >= 1
    assert counts[1].suspended.all()
    assert counts[0].n_defaults[0] - counts[1].n_defaults[0] == later_a


def test_exposure_of_new_loans_starts_in_their_year_and_runs_down_from_their_drawdown():
    """M3 with M1b (``exposure_by_year``'s docstring): before the year a new loan is drawn in its
    exposure is 0; a straight-line loan falls from its outstanding principal at entry,
    ``floor(outstanding x days_left(start_k) / days_left(entry))``; a loan maturing on or before the
    start of a year cannot default in it. As of 2026-01-01, years start on 1 January."""
    book = tiny_book(3, principal=[1_000_000, 700, 5_000], amortization=[True, False, True],
                     maturity=[dt.date(2029, 1, 1), dt.date(2028, 1, 2), dt.date(2026, 12, 31)])
    ead = engine.exposure_by_year(book, AS_OF, 4, np.array([1, 2, 0]))
    # loan 0 enters in year 2 (2027-01-01) with 731 days to run; a year on 366 are left
    assert ead[:, 0].tolist() == [0, 1_000_000, 1_000_000 * 366 // 731, 0]
    assert ead[:, 1].tolist() == [0, 0, 700, 0]          # one day left at the start of year 3
    assert ead[:, 2].tolist() == [5_000, 0, 0, 0]
    # without start years every loan is today's: the straight line runs from the as-of date
    today = engine.exposure_by_year(book, AS_OF, 4)
    assert today[:, 0].tolist() == [1_000_000, 1_000_000 * 731 // 1096, 1_000_000 * 366 // 1096, 0]
    assert today[:, 1].tolist() == [700, 700, 700, 0]


# --------------------------------------------------------------------------------------------------
# plumbing: exact segment sums, the C heap


def test_segment_sums_are_exact_even_where_the_running_sum_wraps():
    """``_segment_sums``: the int64 sum of each ``values[bounds[j]:bounds[j+1]]`` (empty segments
    0), exact when the running sum passes 2^63 as long as each segment's sum fits; no warning."""
    big = 4 * 10**18
    values = np.array([big, big, 1, 2, big, 7], np.int64)
    with np.errstate(over="raise"):
        sums = engine._segment_sums(values, np.array([0, 1, 1, 2, 4, 5, 6]))
    assert sums.tolist() == [big, 0, big, 3, big, 7]
    assert engine._segment_sums(values, np.array([2, 4])).tolist() == [3]
    assert engine._segment_sums(np.zeros(0, np.int64), np.array([0, 0])).tolist() == [0]


def test_keep_heap_raises_glibcs_thresholds_once_and_release_puts_them_back(monkeypatch):
    """``_keep_heap``: once per process, glibc's mmap threshold to its maximum (32 MB) and its trim
    threshold to 1 GB (``mallopt``, M_MMAP_THRESHOLD = -3 and M_TRIM_THRESHOLD = -1 in malloc.h);
    ``_release_heap``: back to glibc's initial 128 KB for both, then ``malloc_trim(0)``; each does
    nothing when the heap is already in the state it leaves."""
    calls = []

    def fake(name):
        return lambda *args: calls.append((name, *args))

    monkeypatch.setattr(engine, "_libc_function", fake)
    monkeypatch.setitem(engine._HEAP, "kept", False)
    engine._keep_heap()
    engine._keep_heap()
    assert calls == [("mallopt", -3, 32 * 2**20), ("mallopt", -1, 2**30)] and engine._HEAP["kept"] is True
    calls.clear()
    engine._release_heap()
    engine._release_heap()
    assert calls == [("mallopt", -3, 128 * 2**10), ("mallopt", -1, 128 * 2**10), ("malloc_trim", 0)]
    assert engine._HEAP["kept"] is False
    monkeypatch.setattr(engine, "_libc_function", lambda name: None)     # not glibc: nothing to call
    engine._keep_heap()
    engine._release_heap()


def test_libc_functions_are_typed_and_a_missing_one_is_none():
    """``_libc_function``: on Linux, glibc's ``mallopt(int, int)`` and ``malloc_trim(size_t)`` as
    ctypes functions returning int; a name the C library lacks gives None."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        assert engine._libc_function("mallopt") is None
        return
    mallopt, trim = engine._libc_function("mallopt"), engine._libc_function("malloc_trim")
    assert mallopt.restype is ctypes.c_int and mallopt.argtypes == [ctypes.c_int, ctypes.c_int]
    assert trim.restype is ctypes.c_int and trim.argtypes == [ctypes.c_size_t]
    assert mallopt(-1, 128 * 2**10) == 1                 # glibc: 1 on success
    assert engine._libc_function("no_such_function_in_libc") is None


def test_slot_arrays_are_the_per_loan_inputs_in_slot_order_with_b2s_ranges():
    """``SlotArrays``: each per-loan input read through ``slot_loan`` (insurer and appraiser shares
    None where no loan has one, ``valued`` None where every loan has IP value); B2's ranges:
    cap group g's slots end at ``group_end[g]`` and its loans drawn in year k or later start at
    ``drawn_from[g, k]`` (today's loans first, then the new ones by year)."""
    prep = b2_prepare(1)
    S = engine.SlotArrays.of(prep)
    s = prep.slot_loan
    assert S.cap_group.tolist() == prep.cap_group[s].tolist()
    for name in ("ead", "fund_raw", "insurer", "appraiser", "base"):
        assert getattr(S, name).tolist() == getattr(prep, name)[:, s].tolist(), name
    assert S.start_year.tolist() == prep.start_year[s].tolist()
    assert S.bank.tolist() == prep.bank[s].tolist() and S.sector.tolist() == prep.sector[s].tolist()
    assert S.liquidation_base.tolist() == prep.liquidation_base[s].tolist()
    assert S.invalidation.tolist() == prep.invalidation[s].tolist()
    assert S.valued.tolist() == (prep.liquidation_base[s] > 0).tolist()
    groups, start = prep.cap_group[s], prep.start_year[s]
    for g in range(prep.n_cap_groups):
        mine = np.flatnonzero(groups == g)
        assert S.group_end[g] == mine.max() + 1
        for k in range(prep.horizon + 1):
            later = mine[start[mine] >= k]
            assert S.drawn_from[g, k] == (later.min() if later.size else mine.max() + 1), (g, k)
            assert (start[mine[mine >= S.drawn_from[g, k]]] >= k).all()
    assert prep.slots is prep.slots                      # made once
    plain = engine.SlotArrays.of(oracle_prepared(n_loans=3, pd=0.1, rho=0.1))
    assert plain.insurer is None and plain.appraiser is None and plain.valued.tolist() == [False] * 3
    assert plain.base is None and plain.start_year is None and plain.group_end is None and plain.drawn_from is None
    valued = engine.SlotArrays.of(prep_of(tiny_book(2, ip_value=10, ip_kind="trademark")))
    assert valued.valued is None


@pytest.mark.skipif(not compiled.AVAILABLE, reason="compares the numpy form with the compiled one")
def test_keys_past_int32_give_the_same_figures_in_both_forms(monkeypatch):
    """A chunk of 43,000 scenarios of 50,000 loans has 2.15 billion (scenario, slot) keys, past
    int32: the numpy form must keep them in int64 and give the compiled form's figures (the
    compiled passes work in intp)."""
    prep = oracle_prepared(n_loans=50_000, pd=2e-5, rho=0.1)
    assert 43_000 * prep.n_loans > 2**31
    runs = [chunk_of(prep, 43_000, seed=3, use_compiled=form, monkeypatch=monkeypatch) for form in (False, True)]
    for field in ("n_defaults", "total_loss", "fund_payout", "defaults_by_loan", "net_by_year"):
        np.testing.assert_array_equal(getattr(runs[0], field), getattr(runs[1], field), err_msg=field)
    assert runs[0].n_defaults.sum() > 10_000


def test_the_oracle_book_is_one_bank_named_as_its_docstring_says():
    """oracle_book_69, _70: the one bank's name is the docstring's ``bank-1``."""
    book = oracle_book(3)
    assert tuple(book.bank_names) == ("bank-1",)
    assert set(np.asarray(book.bank).tolist()) == {0}
