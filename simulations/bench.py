"""`ipfund stress bench`: the engine against a dense numpy reference and the random-number limit.

* engine: :func:`risk.engine.simulate` on a synthetic book (nine sectors, 12 banks, gz-2023).
* dense reference: the textbook simulation, one standard normal per loan per year per scenario
  (``X = sqrt(rho) Z_s + sqrt(1-rho) eps``, default when ``X < Phi^-1(PD)``), in chunks, losses
  summed per scenario; no allocation, so it is a lower bound for any dense engine.
* random-number limit: drawing that many standard normals with the same generator (PCG64).

All three run with the same number of worker processes; rates are loan-scenario-years per second.
"""

from __future__ import annotations

import datetime as dt
import math
import multiprocessing
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np
from scipy import special

from fund.adapters.machine import machine_info
from risk.engine import DEFAULT_BATCH, prepare, simulate
from risk.portfolio import FundPosition, default_cap_base
from risk.scenario import SECTORS, parse_scenario
from risk.synthetic import synthetic_book


@dataclass(frozen=True)
class Timing:
    """Wall time and rate, and the CPU seconds the work took summed over processes: on a machine
    shared with other work the wall rate falls, the rate per CPU-second much less."""

    name: str
    scenarios: int
    seconds: float
    loan_scenario_years_per_second: float
    cpu_seconds: float
    loan_scenario_years_per_cpu_second: float


@dataclass(frozen=True)
class BenchResult:
    machine: dict
    inputs: dict
    engine: Timing
    dense_reference: Timing
    random_number_limit: Timing
    peak_memory_mb: dict
    mean_defaults_per_scenario: float
    targets: dict

    def to_dict(self) -> dict:
        return asdict(self)


def _dense_chunk(args) -> float:
    """CPU seconds of one chunk of the dense reference."""
    started = time.process_time()
    seed, scenarios, sector, threshold, exposure, rho = args
    rng = np.random.Generator(np.random.PCG64(seed))
    n_loans, horizon = threshold.size, exposure.shape[0]
    total = np.zeros(scenarios)
    alive = np.ones((scenarios, n_loans), dtype=bool)
    for k in range(horizon):
        z = rng.standard_normal((scenarios, len(SECTORS)))
        x = math.sqrt(rho) * z[:, sector] + math.sqrt(1 - rho) * rng.standard_normal((scenarios, n_loans))
        default = (x < threshold) & alive
        alive &= ~default
        total += default @ exposure[k].astype(np.float64)
    assert np.isfinite(total).all()
    return time.process_time() - started


def _normals_chunk(args) -> float:
    """CPU seconds to draw ``count`` standard normals."""
    started = time.process_time()
    seed, count, block = args
    rng = np.random.Generator(np.random.PCG64(seed))
    acc = 0.0
    while count > 0:
        n = min(block, count)
        acc += float(rng.standard_normal(n)[0])
        count -= n
    assert math.isfinite(acc)
    return time.process_time() - started


def _pool_map(func, tasks, workers: int):
    if workers == 1:
        return [func(t) for t in tasks]
    context = multiprocessing.get_context("forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return list(pool.map(func, tasks))


def run_bench(*, n_loans: int = 10_000, horizon: int = 5, n_scenarios: int = 100_000, reference_scenarios: int = 10_000,
              workers: int = 2, seed: int = 1, batch: int = DEFAULT_BATCH, progress=None) -> BenchResult:
    as_of = dt.date(2026, 1, 1)
    book = synthetic_book(n_loans, seed=seed, as_of=as_of)
    scenario = parse_scenario({"name": "bench", "horizon_years": horizon})
    fund = FundPosition(cash_fen=10**13, deferred_fen=0, appropriation_fen=(5_000_000_000,) * horizon)
    prep, _ = prepare(book, scenario, default_cap_base(book), fund, as_of=as_of, horizon=horizon)
    units = n_loans * horizon

    started = time.perf_counter()
    sim = simulate(prep, n_scenarios=n_scenarios, seed=seed, batch=batch, workers=workers, progress=progress)
    engine_seconds = time.perf_counter() - started

    ref_block = max(1, min(reference_scenarios, 8_000_000 // max(n_loans, 1)))
    ref_sizes = [ref_block] * (reference_scenarios // ref_block) + ([reference_scenarios % ref_block] if reference_scenarios % ref_block else [])
    seeds = np.random.SeedSequence(seed + 1).spawn(len(ref_sizes))
    tasks = [(s, size, prep.sector.astype(np.int64), prep.threshold, prep.ead, prep.rho) for s, size in zip(seeds, ref_sizes)]
    started = time.perf_counter()
    dense_cpu = sum(_pool_map(_dense_chunk, tasks, workers))
    dense_seconds = time.perf_counter() - started

    draws = reference_scenarios * units
    per_task = math.ceil(draws / (workers * 4))
    seeds = np.random.SeedSequence(seed + 2).spawn(workers * 4)
    started = time.perf_counter()
    normals_cpu = sum(_pool_map(_normals_chunk, [(s, per_task, 8_000_000) for s in seeds], workers))
    normals_seconds = time.perf_counter() - started

    main_peak, worker_peak = sim.peak_rss_mb
    peak = {
        "main_process_after_references": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "main_process_engine": main_peak,
        "largest_engine_worker": worker_peak,
        "engine_total_upper_bound": main_peak + (workers if workers > 1 else 0) * worker_peak,
    }
    rate = n_scenarios * units / engine_seconds
    return BenchResult(
        machine=machine_info("numpy"),
        inputs={"loans": n_loans, "horizon_years": horizon, "scenarios": n_scenarios, "workers": workers,
                "batch": batch, "seed": seed, "reference_scenarios": reference_scenarios,
                "scenario": "baseline parameters (rho 0.15, beta 0.5, Gaussian)", "groups": prep.n_groups},
        engine=Timing("engine", n_scenarios, engine_seconds, rate, sim.cpu_seconds,
                      n_scenarios * units / max(sim.cpu_seconds, 1e-9)),
        dense_reference=Timing("dense numpy reference", reference_scenarios, dense_seconds,
                               reference_scenarios * units / dense_seconds, dense_cpu,
                               reference_scenarios * units / max(dense_cpu, 1e-9)),
        random_number_limit=Timing("standard normals (PCG64)", reference_scenarios, normals_seconds,
                                   reference_scenarios * units / normals_seconds, normals_cpu,
                                   workers * 4 * per_task / max(normals_cpu, 1e-9)),
        peak_memory_mb=peak,
        mean_defaults_per_scenario=float(sim.n_defaults.mean()),
        targets={"rate_at_least": 1e8, "rate_met": rate >= 1e8, "memory_mb_below": 1536,
                 "memory_met": peak["engine_total_upper_bound"] < 1536},
    )
