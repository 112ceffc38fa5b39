"""docs/rules.md section 8, M6b and our extension: a shift of the global factor per simulated year.

Year k's factor is drawn from N(mu_k, 1) and each scenario carries the likelihood ratio
prod_k exp(-mu_k G_k + mu_k^2 / 2). One number (M6b's single shift) runs exactly as before: a list
of equal numbers gives the same figures as that number. The M7 oracle over two years (a loan that
defaults in year 1 cannot default in year 2, so given the factors each loan defaults with probability
1 - (1 - p(z1)) (1 - p(z2))) checks that the weighted tail under a shift that differs by year is the
exact mixture's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from functools import lru_cache

import numpy as np
import pytest
from scipy import integrate, special

from fund.errors import DomainError
from risk.engine import oracle_book, prepare, run_chunk, simulate
from risk.importance import (
    choose_shift_details, choose_year_shifts_details, is_shifted, largest_shift, normal_shift, year_shifts,
)
from risk.portfolio import FundPosition, default_cap_base
from risk.scenario import ScenarioError, parse_scenario
from risk.stress_result import summarise
from risk.stress_stats import measures, normalised_weights, weighted_measures
from tests.test_stress_oracle import assert_weighted_tail_matches, exact_var_es

N, PD, RHO, PRINCIPAL = 200, 0.02, 0.15, 100_000_001
SHIFT = (-1.0, -0.5)


def two_year_oracle():
    """The M7 book over two years, global loading 1 (the sector factor is G), ample cash."""
    book = oracle_book(N, principal_fen=PRINCIPAL, pd=PD)
    scenario = parse_scenario({"name": "oracle-2", "horizon_years": 2, "asset_correlation": RHO, "global_loading": 1.0})
    fund = FundPosition(cash_fen=2 * N * PRINCIPAL, deferred_fen=0, appropriation_fen=(0, 0))
    prep, _ = prepare(book, scenario, default_cap_base(book), fund, as_of=dt.date(2026, 1, 1))
    return prep


@lru_cache(maxsize=None)
def two_year_pmf(n: int, pd: float, rho: float) -> np.ndarray:
    """P(k defaults over two years) = double integral of Binom(k; n, 1 - (1 - p(z1))(1 - p(z2)))
    phi(z1) phi(z2), by Simpson's rule in each factor (negligible beyond |z| = 8)."""
    z = np.linspace(-8.0, 8.0, 641)
    p = special.ndtr((special.ndtri(pd) - math.sqrt(rho) * z) / math.sqrt(1 - rho))
    phi = np.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)
    k = np.arange(n + 1)[:, None]
    log_choose = special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)
    inner = np.empty((n + 1, z.size))
    for i, p1 in enumerate(p):
        q = 1.0 - (1.0 - p1) * (1.0 - p)                       # over z2
        pmf = np.exp(log_choose + special.xlogy(k, q) + special.xlog1py(n - k, -q)) * phi
        inner[:, i] = integrate.simpson(pmf, x=z, axis=1)
    return integrate.simpson(inner * phi, x=z, axis=1)


@pytest.fixture(scope="module")
def prepared():
    return two_year_oracle()


@pytest.fixture(scope="module")
def by_year_run(prepared):
    return simulate(dataclasses.replace(prepared, shift=SHIFT), n_scenarios=12_000, seed=5)


def test_the_shift_helpers():
    assert year_shifts(-0.3, 2) == (-0.3, -0.3) and year_shifts((-0.3, 0.0), 2) == (-0.3, 0.0)
    with pytest.raises(ValueError, match="2 years"):
        year_shifts((-0.3,), 2)
    assert normal_shift([-0.3, -0.3]) == -0.3 and isinstance(normal_shift([-0.3, -0.3]), float)
    assert normal_shift((0.0, -0.0)) == 0.0 and not is_shifted((0.0, 0.0)) and is_shifted((0.0, -0.1))


def test_weights_are_the_product_over_years_and_each_year_has_its_own_mean(prepared):
    factors = np.empty((20_000, 2))
    chunk = run_chunk(dataclasses.replace(prepared, shift=SHIFT), np.random.SeedSequence(11), 20_000, factors=factors)
    mu = np.array(SHIFT)
    expected = (-mu * factors + 0.5 * mu * mu).sum(axis=1)
    assert np.allclose(chunk.log_weight, expected, rtol=0, atol=1e-12)
    # each year's factor is N(mu_k, 1): its sample mean within 4 standard errors, its sd about 1
    assert np.all(np.abs(factors.mean(axis=0) - mu) < 4 / math.sqrt(20_000))
    assert np.all(np.abs(factors.std(axis=0) - 1) < 0.03)
    # and the weights average 1 under the shifted law (E_q[p/q] = 1)
    assert abs(np.exp(chunk.log_weight).mean() - 1) < 0.1


def test_a_list_of_equal_numbers_gives_exactly_the_figures_of_that_number(prepared):
    one = simulate(dataclasses.replace(prepared, shift=-0.7), n_scenarios=3000, seed=2, batch=1000)
    listed = simulate(dataclasses.replace(prepared, shift=(-0.7, -0.7)), n_scenarios=3000, seed=2, batch=1000)
    for name in ("fund_payout", "total_loss", "n_defaults", "log_weight", "net_by_year", "payout_by_bank"):
        assert np.array_equal(getattr(one, name), getattr(listed, name)), name
    a = summarise(one, scenario_name="x", bank_names=("bank-1",), inputs=None).to_dict()
    b = summarise(listed, scenario_name="x", bank_names=("bank-1",), inputs=None).to_dict()
    a.pop("timing"), b.pop("timing")
    assert a == b and a["sampling"]["shift"] == -0.7


def test_the_two_year_exact_law_is_a_law():
    pmf = two_year_pmf(N, PD, RHO)
    assert abs(pmf.sum() - 1) < 1e-8
    # the expected defaults: n (1 - (1 - PD)^2)
    assert abs((np.arange(N + 1) * pmf).sum() - N * (1 - (1 - PD) ** 2)) < 1e-6


def test_under_a_shift_per_year_the_oracle_tail_matches_the_exact_mixture(by_year_run):
    assert_weighted_tail_matches(two_year_pmf(N, PD, RHO), by_year_run, PRINCIPAL)
    result = summarise(by_year_run, scenario_name="x", bank_names=("bank-1",), inputs=None).to_dict()
    assert result["sampling"] == {"method": "importance", "shift": list(SHIFT), "scale": 1.0,
                                  "effective_scenarios": result["sampling"]["effective_scenarios"]}


def test_weights_of_the_years_swapped_miss_the_exact_mixture(prepared):
    # the same draws weighted as if the shifts were the other way round: the check above is not vacuous
    _, exact_es = exact_var_es(two_year_pmf(N, PD, RHO), 0.999)
    factors = np.empty((12_000, 2))
    chunk = run_chunk(dataclasses.replace(prepared, shift=SHIFT), np.random.SeedSequence(7), 12_000, factors=factors)
    swapped = np.array(SHIFT[::-1])
    wrong = (-swapped * factors + 0.5 * swapped * swapped).sum(axis=1)
    es = weighted_measures(chunk.n_defaults, normalised_weights(wrong)).es["0.999"]
    assert not es.low <= exact_es <= es.high, (exact_es, es)
    right = weighted_measures(chunk.n_defaults, normalised_weights(chunk.log_weight)).es["0.999"]
    assert right.low <= exact_es <= right.high, (exact_es, right)


def test_crude_and_per_year_weighted_estimates_agree_within_their_intervals(prepared, by_year_run):
    crude = measures(simulate(prepared, n_scenarios=30_000, seed=6).fund_payout)
    weighted = weighted_measures(by_year_run.fund_payout, normalised_weights(by_year_run.log_weight))
    for level in ("0.99", "0.999"):
        a, b = crude.es[level], weighted.es[level]
        assert a.low <= b.high and b.low <= a.high, (level, a, b)


def test_the_per_year_chooser_is_bounded_and_on_one_year_is_the_single_chooser():
    from risk.engine import oracle_prepared

    prep = oracle_prepared(n_loans=500, pd=0.02, rho=0.15, global_loading=1.0)
    single = choose_shift_details(prep, seed=1, pilot_scenarios=1000)
    by_year = choose_year_shifts_details(prep, seed=1, pilot_scenarios=1000)
    assert by_year.shift == single.shift == -1.51 and by_year.reason is None


def test_the_per_year_chooser_keeps_a_tenth_of_the_sample_effective(prepared):
    choice = choose_year_shifts_details(prepared, seed=3, pilot_scenarios=1000)
    mu = np.array(year_shifts(choice.shift, 2))
    assert choice.reason is None and (mu < 0).all()
    assert float(np.dot(mu, mu)) <= -math.log(0.1) + 1e-9
    assert np.abs(mu).max() <= math.sqrt(-math.log(0.1))
    assert choose_year_shifts_details(prepared, seed=3, pilot_scenarios=1000) == choice
    assert largest_shift(2) == pytest.approx(math.sqrt(math.log(10) / 2))


def test_the_per_year_chooser_says_why_there_is_no_shift():
    from risk.engine import oracle_prepared

    nothing = choose_year_shifts_details(oracle_prepared(n_loans=10, pd=1e-9, rho=0.15, global_loading=1.0),
                                         seed=1, pilot_scenarios=500)
    assert nothing.shift == 0.0 and "pays nothing" in nothing.reason
    flat = choose_year_shifts_details(oracle_prepared(n_loans=500, pd=0.02, rho=0.15, global_loading=0.0),
                                      seed=1, pilot_scenarios=2000)
    assert flat.shift == 0.0 and "no shift" in flat.reason, flat


def test_the_scenario_key_takes_one_number_or_one_per_year():
    one = parse_scenario({"name": "x", "sampling": {"method": "importance", "shift": -0.4}})
    assert one.sampling.shift == -0.4 and isinstance(one.sampling.shift, float)
    listed = parse_scenario({"name": "x", "horizon_years": 3, "sampling": {"method": "importance",
                                                                          "shift": [-0.6, -0.3, 0]}})
    assert listed.sampling.shift == (-0.6, -0.3, 0.0)
    assert parse_scenario(listed.to_dict()).sampling == listed.sampling
    assert listed.to_dict()["sampling"]["shift"] == [-0.6, -0.3, 0.0]
    for bad, match in (([-0.6, -0.3], r"one number per year of the horizon \(3\), got 2"),
                       ([-0.6, 8.1, 0], r"sampling.shift\[1\]' must be <= 8"),   # a list may go either way
                       ([-0.6, "x", 0], r"sampling.shift\[1\]' must be a finite number"),
                       ([-9, 0, 0], r"sampling.shift\[0\]' must be >= -8"),
                       ("-0.5", r"sampling.shift' must be a finite number")):
        with pytest.raises(ScenarioError, match=match):
            parse_scenario({"name": "x", "horizon_years": 3, "sampling": {"shift": bad}})


def _run(scenario_doc: dict, **request):
    from fund.services import stress as service

    book = oracle_book(50, principal_fen=PRINCIPAL, pd=request.pop("pd", PD))
    inputs = service.RunInputs(book=book, cap_base=default_cap_base(book), ledger=None, active_policies=None,
                               new_lending_default_fen=0)
    req = service.StressRequest(scenario=parse_scenario(scenario_doc), n_scenarios=400, seed=1,
                                as_of=dt.date(2026, 1, 1), fund_cash_fen=10**13, new_lending_fen=0, **request)
    return service.run_engine(req, inputs)


def test_a_run_takes_the_scenario_shift_per_year_and_refuses_a_list_of_another_length():
    doc = {"name": "x", "horizon_years": 2, "global_loading": 1.0,
           "sampling": {"method": "importance", "shift": [-0.5, -0.2]}}
    outcome = _run(doc)
    assert outcome.sim.shift == (-0.5, -0.2) and outcome.result.to_dict()["sampling"]["shift"] == [-0.5, -0.2]
    assert _run({**doc, "sampling": {"method": "importance", "shift": [-0.5, -0.5]}}).sim.shift == -0.5
    with pytest.raises(DomainError, match="sampling.shift: a shift per year must give 3 years, got 2"):
        _run(doc, horizon=3)


def test_a_run_notes_why_the_chooser_took_no_shift():
    outcome = _run({"name": "x", "horizon_years": 1, "sampling": {"method": "importance"}}, pd=1e-9)
    assert outcome.sim.shift == 0.0 and outcome.result.to_dict()["sampling"]["method"] == "crude"
    assert any("no shift was taken (the fund pays nothing in the pilot run)" in n and "crude Monte Carlo" in n
               for n in outcome.result.notes), outcome.result.notes


def test_the_bench_measures_a_sampler_by_pooled_runs_and_their_spread(prepared):
    from simulations.bench import _es999, _measure_sampler, _needed

    m = _measure_sampler(prepared, SHIFT, seeds=[1, 2, 3], scenarios=2000, workers=1)
    assert [r["seed"] for r in m["runs"]] == [1, 2, 3] and m["pooled"]["scenarios"] == 6000
    one = simulate(dataclasses.replace(prepared, shift=SHIFT), n_scenarios=2000, seed=2)
    e = _es999(one.fund_payout, one.log_weight)
    assert m["runs"][1]["es_fen"] == e.value and m["runs"][1]["scenarios_needed"] == _needed(e, 2000)
    # the half-width falls as 1/sqrt(n): at the need it is the target
    assert _needed(e, 2000) == math.ceil(2000 * (e.half_width / e.value / 0.02) ** 2)
    values = np.array([r["es_fen"] for r in m["runs"]])
    spread = 2000 * (1.959963984540054 * values.std(ddof=1) / (0.02 * values.mean())) ** 2
    assert m["scenarios_needed_from_spread"] == math.ceil(spread)
    crude = _measure_sampler(prepared, 0.0, seeds=[4], scenarios=2000, workers=1)
    assert crude["runs"][0]["effective_scenarios"] == 2000.0 and crude["scenarios_needed_from_spread"] is None
