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
import os
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np
from scipy import special

from fund.adapters.machine import machine_info
from risk.engine import DEFAULT_BATCH, prepare, simulate
from risk.stress_stats import Z95
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
    importance_sampling: dict | None = None
    #: the engine with numpy's form of its integer passes (numba installed only)
    engine_numpy_form: dict | None = None
    large_book: dict | None = None
    #: what this machine's numpy takes for the engine's largest single step (sorting a year's default
    #: keys) against a standard normal: the engine's ratio to the random-number limit moves with it
    sort_probe: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _kernels() -> str:
    """Which form of the engine's integer passes ran: numba's (risk.compiled) or numpy's."""
    from risk import compiled, engine

    if engine.USE_COMPILED:
        return f"numba {compiled.numba.__version__} (risk.compiled)"
    return "numpy only (numba, the 'fast' extra, not installed)"


def _numpy_form(prep, sim, units: int, n_scenarios: int, seed: int, batch: int) -> dict | None:
    """The engine with numpy's form of its integer passes, in this process, on the first
    ``n_scenarios`` of the run (the same chunks and seeds): its rate, and whether every figure of
    those scenarios is the same as the compiled run's. None when numba is not installed."""
    from risk import engine

    if not engine.USE_COMPILED:
        return None
    engine.USE_COMPILED = False
    try:
        plain = simulate(prep, n_scenarios=n_scenarios, seed=seed, batch=batch, workers=1)
    finally:
        engine.USE_COMPILED = True
    same = all(np.array_equal(getattr(plain, name)[:n_scenarios], getattr(sim, name)[:n_scenarios])
               for name in ("total_loss", "fund_payout", "bank_share", "recoveries", "fund_recovered", "n_defaults",
                            "payout_by_year", "net_by_year", "cap_hit", "suspended"))
    timing = Timing("engine, numpy form", n_scenarios, plain.seconds, n_scenarios * units / max(plain.seconds, 1e-9),
                    plain.cpu_seconds, n_scenarios * units / max(plain.cpu_seconds, 1e-9))
    return {"timing": asdict(timing), "same_figures_as_compiled": same}


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


def sort_probe(n: int = 500_000, repeats: int = 7) -> dict:
    """CPU nanoseconds per key for numpy to sort ``n`` random int32 keys (a chunk-year's defaults in
    the bench) and per standard normal drawn, each the median of ``repeats``. numpy's AVX-512 sort is
    a known slow path on AMD's Zen 4 (its compress-store instructions are microcoded), where the
    engine's sort costs several times what it does on other machines."""
    rng = np.random.Generator(np.random.PCG64(12345))
    keys = rng.integers(0, 2**31 - 1, n, dtype=np.int32)
    sort_ns, normal_ns = [], []
    for _ in range(repeats):
        work = keys.copy()
        started = time.process_time()
        work.sort()
        sort_ns.append((time.process_time() - started) * 1e9 / n)
        started = time.process_time()
        rng.standard_normal(n)
        normal_ns.append((time.process_time() - started) * 1e9 / n)
    return {"keys": n, "sort_ns_per_key": float(np.median(sort_ns)),
            "standard_normal_ns": float(np.median(normal_ns))}


def run_bench(*, n_loans: int = 10_000, horizon: int = 5, n_scenarios: int = 100_000, reference_scenarios: int = 10_000,
              workers: int = 2, seed: int = 1, batch: int = DEFAULT_BATCH, progress=None,
              importance: bool = True, large_book_loans: int = 100_000, new_lending_fen: int = 0) -> BenchResult:
    as_of = dt.date(2026, 1, 1)
    book = synthetic_book(n_loans, seed=seed, as_of=as_of)
    scenario = parse_scenario({"name": "bench", "horizon_years": horizon})
    fund = FundPosition(cash_fen=10**13, deferred_fen=0, appropriation_fen=(5_000_000_000,) * horizon)
    prep, _ = prepare(book, scenario, default_cap_base(book), fund, as_of=as_of, horizon=horizon,
                      new_lending_fen=new_lending_fen, seed=seed)
    # new lending (M1b) adds loans that live part of the horizon: count the years they can default
    units = int((prep.ead > 0).sum()) if new_lending_fen else n_loans * horizon

    started = time.perf_counter()
    sim = simulate(prep, n_scenarios=n_scenarios, seed=seed, batch=batch, workers=workers, progress=progress)
    engine_seconds = time.perf_counter() - started
    # whole chunks of the run (the same sizes and seeds, so the same figures)
    numpy_scenarios = n_scenarios if n_scenarios <= batch else max(batch, min(n_scenarios, 2 * reference_scenarios) // batch * batch)
    numpy_form = _numpy_form(prep, sim, units, numpy_scenarios, seed, batch)

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
        machine={**machine_info("numpy"), "compiled_kernels": _kernels()},
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
                 "memory_met": peak["engine_total_upper_bound"] < 1536,
                 "cpu_rate_vs_random_number_limit": (n_scenarios * units / max(sim.cpu_seconds, 1e-9))
                 / (workers * 4 * per_task / max(normals_cpu, 1e-9)),
                 "cpu_rate_vs_random_number_limit_at_least": 5.0},
        sort_probe=sort_probe(),
        engine_numpy_form=numpy_form,
        importance_sampling=importance_sampling_bench(seed=seed) if importance else None,
        large_book=large_book_bench(large_book_loans, seed=seed, workers=workers) if large_book_loans else None,
    )


TARGET_RELATIVE_HALF_WIDTH = 0.02


def _demo_recession_inputs(seed: int):
    """The demo book (full scale) in a scratch SQLite database, and the recession scenario."""
    import tempfile

    from fund.adapters.db import make_engine, make_session_factory, upgrade
    from fund.services import stress as service
    from fund.services.demo import load_demo
    from simulations.library import resolve_scenario

    folder = tempfile.mkdtemp(prefix="ipfund-bench-")
    engine = make_engine(f"sqlite:///{folder}/demo.sqlite3")
    upgrade(engine)
    db = make_session_factory(engine)
    load_demo(db, seed=1)
    request = service.StressRequest(scenario=resolve_scenario("recession"), n_scenarios=1, seed=seed)
    request, inputs = service._resolve_inputs(db, request)
    engine.dispose()
    return service, request, inputs


#: issue 15's goal: weighted sampling needs at least this many times fewer scenarios than crude
IMPORTANCE_GOAL_FEWER_BY = 10.0


def _es999(x: np.ndarray, log_weight: np.ndarray | None):
    from risk.stress_stats import measures, normalised_weights, weighted_measures

    if log_weight is None:
        return measures(x, levels=("0.999",)).es["0.999"]
    return weighted_measures(x, normalised_weights(log_weight), levels=("0.999",)).es["0.999"]


def _needed(estimate, n: int) -> int:
    """Scenarios for a 2% relative half-width: the half-width falls as 1/sqrt(n)."""
    return math.ceil(n * (estimate.half_width / estimate.value / TARGET_RELATIVE_HALF_WIDTH) ** 2)


def _measure_sampler(prep, shift, *, seeds: list[int], scenarios: int, workers: int, scale=1.0) -> dict:
    """``len(seeds)`` runs of ``scenarios`` at ``shift``: each run's ES and need, the runs pooled
    (one sample of all scenarios: its ES, interval and need) and the need from the runs' spread."""
    import dataclasses as dc

    from risk.importance import is_weighted
    from risk.stress_stats import effective_sample_size, normalised_weights

    weighted = is_weighted(shift, scale)
    runs, xs, lws = [], [], []
    started, cpu = time.perf_counter(), 0.0
    for s in seeds:
        sim = simulate(dc.replace(prep, shift=shift, scale=scale), n_scenarios=scenarios, seed=s, workers=workers)
        cpu += sim.cpu_seconds
        e = _es999(sim.fund_payout, sim.log_weight if weighted else None)
        runs.append({"seed": s, "es_fen": e.value, "ci95": [e.low, e.high], "relative_half_width": e.half_width / e.value,
                     "scenarios_needed": _needed(e, scenarios),
                     "effective_scenarios": effective_sample_size(normalised_weights(sim.log_weight)) if weighted
                     else float(scenarios)})
        xs.append(sim.fund_payout)
        lws.append(sim.log_weight)
    pooled_n = scenarios * len(seeds)
    pooled = _es999(np.concatenate(xs), np.concatenate(lws) if weighted else None)
    values = np.array([r["es_fen"] for r in runs])
    spread = None
    if len(runs) > 1:
        sd = float(values.std(ddof=1))
        spread = math.ceil(scenarios * (Z95 * sd / (TARGET_RELATIVE_HALF_WIDTH * float(values.mean()))) ** 2)
    return {"shift": shift, "scale": scale, "runs": runs, "scenarios_per_run": scenarios,
            "pooled": {"scenarios": pooled_n, "es_fen": pooled.value, "ci95": [pooled.low, pooled.high],
                       "relative_half_width": pooled.half_width / pooled.value,
                       "scenarios_needed": _needed(pooled, pooled_n)},
            "scenarios_needed_from_spread": spread,
            "seconds": time.perf_counter() - started, "cpu_seconds": cpu}


def importance_sampling_bench(*, seed: int = 1, crude_scenarios: int = 50_000, crude_runs: int = 4,
                              weighted_scenarios: int = 10_000, weighted_runs: int = 4, verify_limit: int = 60_000,
                              workers: int = 2) -> dict:
    """M6b on the demo book's recession scenario: scenarios needed for a 2% relative 95% half-width
    of the fund payout's 99.9% ES, crude against importance sampling (the half-width falls as
    1/sqrt(n): ``n_needed = n (h / 0.02)^2``), the variance reduction factor, and a weighted run at
    the scenarios it needs to check the width is reached.

    The crude reference pools ``crude_runs`` runs of ``crude_scenarios`` (seeds ``seed + 100 + j``):
    its need is the pooled sample's (about ``crude_runs * crude_scenarios / 1000`` scenarios beyond
    the quantile, where one 20,000-scenario run holds about 20 and its need moves by half from seed
    to seed); each run's own need is listed beside it. Each sampler (the automatic single shift,
    ``choose_shift_details``, and the per-year one of our extension, ``choose_year_shifts_details``)
    runs ``weighted_runs`` times on seeds ``seed + 200 + j``: its need is the pooled runs' and, as a
    check on the weighted interval itself (which heavy weights make too narrow), the need from the
    runs' spread; the larger of the two counts. The pilots' scenarios are stated, not counted.
    A third sampler, a shift and a spread per year (``choose_spread_details``), is what runs use:
    ``importance`` (the headline, read by the CLI) is its;
    ``warnings`` says in words when no shift was found or the goal is not met."""
    from risk.importance import (
        choose_shift_details, choose_spread_details, choose_year_shifts_details, is_weighted, sampling_text,
    )

    service, request, inputs = _demo_recession_inputs(seed)
    scenario = request.scenario
    fund = service.fund_position(request, inputs.book, ledger=inputs.ledger, active_policies=inputs.active_policies)
    volume, _ = service.new_lending_volume(request, inputs)
    prep, engine_inputs = prepare(inputs.book, scenario, inputs.cap_base, fund, as_of=request.as_of,
                                  horizon=request.horizon, policies=inputs.active_policies, new_lending_fen=volume,
                                  seed=request.seed)
    load_before = list(os.getloadavg())
    choices = {}
    for name, chooser in (("single", choose_shift_details), ("by_year", choose_year_shifts_details),
                          ("spread", choose_spread_details)):
        started = time.perf_counter()
        choice = chooser(prep, seed=request.seed)
        choices[name] = (choice, time.perf_counter() - started)

    crude = _measure_sampler(prep, 0.0, seeds=[seed + 100 + j for j in range(crude_runs)], scenarios=crude_scenarios,
                             workers=workers)
    needed_crude = crude["pooled"]["scenarios_needed"]
    samplers = {}
    for name, (choice, choice_seconds) in choices.items():
        m = _measure_sampler(prep, choice.shift, seeds=[seed + 200 + j for j in range(weighted_runs)],
                             scenarios=weighted_scenarios, workers=workers, scale=choice.scale) \
            if is_weighted(choice.shift, choice.scale) else None
        entry = {"shift": choice.shift, "scale": choice.scale, "shift_text": sampling_text(choice.shift, choice.scale),
                 "pilot_shifts": list(choice.path),
                 "bound": choice.bound, "reason": choice.reason, "choice_seconds": choice_seconds,
                 "pilot_scenarios": 2000 * len(choice.path)}
        if m is not None:
            need = max(m["pooled"]["scenarios_needed"], m["scenarios_needed_from_spread"] or 0)
            entry.update(measured=m, scenarios_needed=need, scenarios_fewer_by=needed_crude / max(need, 1),
                         intervals_overlap=crude["pooled"]["ci95"][0] <= m["pooled"]["ci95"][1]
                         and m["pooled"]["ci95"][0] <= crude["pooled"]["ci95"][1])
        samplers[name] = entry

    # the headline is the sampler runs use (a shift and a spread per year), else the first that found a law
    headline = next((samplers[name] for name in ("spread", "single", "by_year")
                     if "scenarios_needed" in samplers[name]), samplers["spread"])
    check = None
    warnings = []
    if "scenarios_needed" in headline:
        # the needed count is itself an estimate: the check runs 15% above it
        check_scenarios = math.ceil(1.15 * headline["scenarios_needed"])
        if check_scenarios <= verify_limit:
            import dataclasses as dc

            sim = simulate(dc.replace(prep, shift=headline["shift"], scale=headline["scale"]),
                           n_scenarios=check_scenarios, seed=seed + 300,
                           workers=workers)
            e = _es999(sim.fund_payout, sim.log_weight)
            check = {"scenarios": check_scenarios, "seed": seed + 300, "es_fen": e.value,
                     "relative_half_width": e.half_width / e.value, "seconds": sim.seconds,
                     "met": e.half_width / e.value <= TARGET_RELATIVE_HALF_WIDTH}
        else:
            warnings.append(f"the width was not checked: a run at {check_scenarios:,} scenarios is over the "
                            f"limit of {verify_limit:,}")
    comparisons = []
    for name, entry in samplers.items():
        label = {"single": "single shift", "by_year": "shift per year", "spread": "shift and spread per year"}[name]
        # the headline's shortfall is a warning; the other samplers are there to compare with
        said = warnings if entry is headline else comparisons
        if entry["reason"]:
            said.append(f"{label}: no importance-sampling shift found ({entry['reason']})")
        elif entry["scenarios_fewer_by"] < IMPORTANCE_GOAL_FEWER_BY:
            said.append(f"goal not met with the {label} ({entry['shift_text']}): weighted sampling needs "
                        f"{entry['scenarios_fewer_by']:.1f}x fewer scenarios than crude for a "
                        f"{TARGET_RELATIVE_HALF_WIDTH:.0%} relative half-width (goal: at least "
                        f"{IMPORTANCE_GOAL_FEWER_BY:.0f}x)")
        elif entry is not headline:
            said.append(f"the {label} ({entry['shift_text']}) needs {entry['scenarios_fewer_by']:.1f}x fewer "
                        f"scenarios than crude")
    if check is not None and not check["met"]:
        warnings.append(f"the check run at {check['scenarios']:,} scenarios gave a relative half-width of "
                        f"{check['relative_half_width']:.2%}, over {TARGET_RELATIVE_HALF_WIDTH:.0%}")
    best = max((e.get("scenarios_fewer_by", 0.0) for e in samplers.values()), default=0.0)
    pooled_c = crude["pooled"]
    h = headline.get("measured", {}).get("pooled") if "measured" in headline else None
    return {
        "book": f"demo book (seed 1) as of {request.as_of.isoformat()}, {inputs.book.size} live covered loans, "
                f"new lending {engine_inputs.new_lending_fen} fen a year",
        "scenario": "recession", "figure": "fund_payout_fen ES 0.999",
        "target_relative_half_width": TARGET_RELATIVE_HALF_WIDTH,
        "machine": {**machine_info(), "load_average_before": load_before, "load_average_after": list(os.getloadavg())},
        "shift_choice": {k: headline[k] for k in ("shift", "scale", "pilot_shifts", "bound", "reason")}
                        | {"seconds": headline["choice_seconds"]},
        "crude_reference": crude,
        "crude": {"scenarios": pooled_c["scenarios"], "runs": crude_runs, "es_fen": pooled_c["es_fen"],
                  "ci95": pooled_c["ci95"], "relative_half_width": pooled_c["relative_half_width"],
                  "seconds": crude["seconds"], "scenarios_needed": needed_crude,
                  "scenarios_needed_by_run": [r["scenarios_needed"] for r in crude["runs"]],
                  "scenarios_needed_from_spread": crude["scenarios_needed_from_spread"]},
        "importance": {"scenarios": 0, "runs": 0, "shift": 0.0, "effective_scenarios": 0.0, "es_fen": None,
                       "ci95": [None, None], "relative_half_width": None, "seconds": 0.0,
                       "scenarios_needed": needed_crude} if h is None else {
            "scenarios": h["scenarios"], "runs": weighted_runs, "shift": headline["shift"], "scale": headline["scale"],
            "effective_scenarios": sum(r["effective_scenarios"] for r in headline["measured"]["runs"]),
            "es_fen": h["es_fen"], "ci95": h["ci95"], "relative_half_width": h["relative_half_width"],
            "seconds": headline["measured"]["seconds"], "scenarios_needed": headline["scenarios_needed"]},
        "samplers": samplers,
        "variance_reduction": headline.get("scenarios_fewer_by", 1.0),
        "scenarios_fewer_by": headline.get("scenarios_fewer_by", 1.0),
        "best_scenarios_fewer_by": best,
        "goal_fewer_by_at_least": IMPORTANCE_GOAL_FEWER_BY,
        "goal_met": headline.get("scenarios_fewer_by", 0.0) >= IMPORTANCE_GOAL_FEWER_BY and bool(check and check["met"]),
        "intervals_overlap": headline.get("intervals_overlap", True),
        "check_at_scenarios_needed": check,
        "warnings": warnings,
        "comparisons": comparisons,
    }


def large_book_bench(n_loans: int = 100_000, *, seed: int = 1, n_scenarios: int = 2_000, horizon: int = 5,
                     workers: int = 2) -> dict:
    """How time and memory grow with the book: a synthetic book of ``n_loans`` loans."""
    as_of = dt.date(2026, 1, 1)
    started = time.perf_counter()
    book = synthetic_book(n_loans, seed=seed, as_of=as_of)
    scenario = parse_scenario({"name": "bench", "horizon_years": horizon})
    fund = FundPosition(cash_fen=10**13, deferred_fen=0, appropriation_fen=(5_000_000_000,) * horizon)
    prep, _ = prepare(book, scenario, default_cap_base(book), fund, as_of=as_of, horizon=horizon)
    prepare_seconds = time.perf_counter() - started
    # a chunk's memory grows with its defaults (batch x defaults per scenario): a larger book takes
    # a smaller batch for the same memory
    batch = max(64, DEFAULT_BATCH * 10_000 // n_loans)
    started = time.perf_counter()
    sim = simulate(prep, n_scenarios=n_scenarios, seed=seed, workers=workers, batch=batch)
    seconds = time.perf_counter() - started
    units = n_loans * horizon * n_scenarios
    main_peak, worker_peak = sim.peak_rss_mb
    return {"loans": n_loans, "horizon_years": horizon, "scenarios": n_scenarios, "workers": workers, "batch": batch,
            "prepare_seconds": prepare_seconds, "seconds": seconds, "cpu_seconds": sim.cpu_seconds,
            "loan_scenario_years_per_second": units / seconds,
            "loan_scenario_years_per_cpu_second": units / max(sim.cpu_seconds, 1e-9),
            "mean_defaults_per_scenario": float(sim.n_defaults.mean()),
            "peak_memory_mb": {"main_process": main_peak, "largest_worker": worker_peak,
                               "total_upper_bound": main_peak + (workers if workers > 1 else 0) * worker_peak}}
