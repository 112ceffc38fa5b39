"""The engine's default draws (issue 15): Poisson hits per (scenario, group), thinned where PDs
differ, one uniform per loan where a group's probability is high. Given the factor, a group's
defaults must be Binomial(n, p) exactly; the two ways of dropping earlier defaults (a flag array
for small chunks, sorted keys for large ones) must give the same figures."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest
from scipy import stats

import risk.engine as engine
from risk.engine import oracle_prepared, simulate
from risk.portfolio import FundPosition, default_cap_base
from risk.scenario import parse_scenario
from risk.synthetic import synthetic_book


@pytest.mark.parametrize("n_loans, pd", [(200, 0.05), (12, 0.1), (40, 0.3)])
def test_defaults_given_the_factor_are_binomial(n_loans, pd):
    """rho = 0: the factor does not move p, so each scenario's defaults are Binomial(n, PD);
    (12, 0.1): most scenarios have no hit at all; (40, 0.3) draws one uniform per loan."""
    prep = oracle_prepared(n_loans=n_loans, pd=pd, rho=0.0)
    scenarios = 40_000
    d = simulate(prep, n_scenarios=scenarios, seed=11, batch=4096).n_defaults
    k = np.arange(n_loans + 1)
    expected = stats.binom.pmf(k, n_loans, pd) * scenarios
    observed = np.bincount(d, minlength=n_loans + 1)
    big = expected >= 5
    cells_obs = np.append(observed[big], observed[~big].sum())
    cells_exp = np.append(expected[big], expected[~big].sum())
    keep = cells_exp > 0
    chi2 = float((((cells_obs - cells_exp) ** 2)[keep] / cells_exp[keep]).sum())
    assert stats.chi2.sf(chi2, int(keep.sum()) - 1) > 1e-4, chi2
    se = np.sqrt(n_loans * pd * (1 - pd) / scenarios)
    assert abs(d.mean() - n_loans * pd) < 5 * se


def test_thinned_groups_keep_each_loans_pd_with_new_lending():
    """Bank PDs in buckets (thinning) and new loans entering each year: every loan-year defaults
    with its PD, so the expected count is sum over loans of PD (1 - PD)^j over its alive years j
    (no bank line, so B2 never drops a default)."""
    as_of = dt.date(2026, 1, 1)
    book = synthetic_book(400, seed=5, as_of=as_of)
    scenario = parse_scenario({"name": "d", "horizon_years": 4, "pd_multiplier": 2.0})
    fund = FundPosition(cash_fen=10**12, deferred_fen=0, appropriation_fen=(0,) * 4)
    prep, _ = engine.prepare(book, scenario, default_cap_base(book), fund, as_of=as_of,
                             new_lending_fen=20_000_000_000, seed=2)
    prep = dataclasses.replace(prep, line=None, base=None, start_year=None)
    assert prep.group_mixed.any() and prep.n_loans > book.size
    pd = stats.norm.cdf(prep.threshold)
    alive = prep.ead > 0
    years = alive.sum(axis=0)
    expected = float(sum((p * (1 - p) ** np.arange(y)).sum() for p, y in zip(pd, years) if y))
    sim = simulate(prep, n_scenarios=20_000, seed=3, batch=2048)
    d = sim.n_defaults
    assert abs(d.mean() - expected) < 5 * d.std() / np.sqrt(d.size), (d.mean(), expected)


@pytest.mark.parametrize("copula", ["gaussian", "t"])
def test_flag_array_and_sorted_keys_give_the_same_figures(copula, monkeypatch):
    as_of = dt.date(2026, 1, 1)
    book = synthetic_book(300, seed=2, as_of=as_of)
    scenario = parse_scenario({"name": "x", "horizon_years": 4, "copula": copula, "pd_multiplier": 4.0})
    fund = FundPosition(cash_fen=10**11, deferred_fen=0, appropriation_fen=(5_000_000_000,) * 4)
    prep, _ = engine.prepare(book, scenario, default_cap_base(book), fund, as_of=as_of,
                             new_lending_fen=20_000_000_000, seed=3)
    flags = simulate(prep, n_scenarios=1500, seed=5, batch=500)
    monkeypatch.setattr(engine, "DEAD_FLAG_LIMIT", 10)
    keys = simulate(prep, n_scenarios=1500, seed=5, batch=500)
    for name in engine._PER_SCENARIO + engine._SUMMED:
        np.testing.assert_array_equal(getattr(flags, name), getattr(keys, name), err_msg=name)
    assert flags.n_defaults.sum() > 0
