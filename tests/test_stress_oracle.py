"""RULES M7: the engine against the exact finite-portfolio Vasicek law, and the t copula against its
large-portfolio semi-closed form."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pytest
from scipy import integrate, optimize, special, stats

from risk.engine import oracle_prepared, simulate, simulate_oracle_book
from risk.stress_stats import LEVELS, measures

N_LOANS, PD, RHO = 1000, 0.02, 0.15
PRINCIPAL = 100_000_001   # odd, so floor(L/2) differs from L/2


@lru_cache(maxsize=None)
def vasicek_pmf(n: int, pd: float, rho: float) -> np.ndarray:
    """P(k defaults) = integral of Binom(k; n, p(z)) phi(z) dz, p(z) = Phi((Phi^-1(PD) - sqrt(rho) z)/sqrt(1-rho)),
    by Simpson's rule on a fine grid of z (the integrand is smooth and negligible beyond |z| = 9)."""
    z = np.linspace(-9.0, 9.0, 6_001)
    p = special.ndtr((special.ndtri(pd) - math.sqrt(rho) * z) / math.sqrt(1 - rho))
    k = np.arange(n + 1)[:, None]
    log_choose = special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)
    log_pmf = log_choose + special.xlogy(k, p) + special.xlog1py(n - k, -p) - 0.5 * z**2 - 0.5 * math.log(2 * math.pi)
    return integrate.simpson(np.exp(log_pmf), x=z, axis=1)


def exact_var_es(pmf: np.ndarray, a: float) -> tuple[int, float]:
    """VaR_a (smallest k with F(k) >= a) and ES_a = (1/(1-a)) integral_a^1 VaR_u du, in defaults."""
    cdf = np.cumsum(pmf)
    var = int(np.searchsorted(cdf, a))
    k = np.arange(pmf.size)
    tail = float((k[var + 1:] * pmf[var + 1:]).sum()) + var * (cdf[var] - a)
    return var, tail / (1 - a)


def assert_weighted_tail_matches(pmf: np.ndarray, run, principal_fen: int) -> None:
    """A weighted oracle run's tail against the exact law ``pmf``: at 99% and 99.9% the VaR interval
    holds the exact VaR (one default either side), the ES lies within two half-widths of the exact
    ES, and the fund's 99.9% VaR is the defaults' times floor(L / 2) (each default pays that)."""
    from risk.stress_stats import normalised_weights, weighted_measures

    w = normalised_weights(run.log_weight)
    m = weighted_measures(run.n_defaults, w)
    for level in ("0.99", "0.999"):
        exact_var, exact_es = exact_var_es(pmf, float(level))
        var, es = m.var[level], m.es[level]
        assert var.low is not None and var.high is not None
        assert var.low - 1 <= exact_var <= var.high + 1, (level, exact_var, var)
        assert abs(es.value - exact_es) <= 2 * es.half_width, (level, exact_es, es)
    fund = weighted_measures(run.fund_payout, w)
    assert fund.var["0.999"].value == m.var["0.999"].value * (principal_fen // 2)


def test_exact_law_gives_178_defaults_at_999():
    pmf = vasicek_pmf(N_LOANS, PD, RHO)
    assert abs(pmf.sum() - 1) < 1e-9
    assert abs((np.arange(N_LOANS + 1) * pmf).sum() - N_LOANS * PD) < 1e-6
    assert exact_var_es(pmf, 0.999)[0] == 178


@pytest.fixture(scope="module")
def big_run():
    return simulate_oracle_book(n_loans=N_LOANS, pd=PD, rho=RHO, n_scenarios=100_000, seed=20260101,
                                principal_fen=PRINCIPAL)


def test_simulated_var_and_es_agree_with_exact_values(big_run):
    pmf = vasicek_pmf(N_LOANS, PD, RHO)
    m = measures(big_run.total_loss)
    for level in LEVELS:
        exact_var, exact_es = exact_var_es(pmf, float(level))
        var, es = m.var[level], m.es[level]
        # the exact value lies within two interval half-widths of the estimate
        assert abs(var.value - exact_var * PRINCIPAL) <= 2 * var.half_width + PRINCIPAL, level
        assert abs(es.value - exact_es * PRINCIPAL) <= 2 * es.half_width, level
        assert var.low <= var.value <= var.high and es.low <= es.value <= es.high


def test_var99_interval_half_width_under_5_percent_at_100000(big_run):
    var99 = measures(big_run.total_loss).var["0.99"]
    assert var99.half_width < 0.05 * var99.value


def test_fund_pays_floor_half_of_every_default(big_run):
    defaults = big_run.n_defaults
    assert (big_run.total_loss == defaults * PRINCIPAL).all()
    assert (big_run.fund_payout == defaults * (PRINCIPAL // 2)).all()
    assert (big_run.bank_share == defaults * (PRINCIPAL - PRINCIPAL // 2)).all()
    assert (big_run.insurer_share == 0).all() and (big_run.recoveries == 0).all()
    assert not big_run.cap_hit.any() and not big_run.deferred_any_year.any()


def test_intervals_cover_exact_values_in_90_to_99_percent_of_seeds():
    """5000 loans: with 1000 the loss lattice is coarse next to the sampling noise of a few thousand
    scenarios, and ties make the distribution-free VaR interval conservative (about 98.5%).
    3000 scenarios a seed: with fewer, the tail holds so few points that the ES interval undercovers.
    300 seeds: the band is about two binomial standard deviations of a count over 150 seeds, so an
    exact sampler whose VaR interval covers 96 to 97% of the time (the engine's, measured over
    seeds 150..449) failed it by chance a few times in a hundred streams (issue 15's new draws gave
    149 of 150 at 0.95); over 300 the same band is twice as many standard deviations wide."""
    n_loans = 5000
    pmf = vasicek_pmf(n_loans, PD, RHO)
    exact = {level: exact_var_es(pmf, float(level)) for level in ("0.95", "0.99")}
    exact_mean = n_loans * PD
    seeds = 300
    hits: dict[str, int] = {}
    prep = oracle_prepared(n_loans=n_loans, pd=PD, rho=RHO, principal_fen=1)
    for seed in range(seeds):
        sim = simulate(prep, n_scenarios=3000, seed=seed, batch=3000)
        m = measures(sim.total_loss)
        checks = {"mean": (m.mean, exact_mean)}
        for level, (var, es) in exact.items():
            checks[f"var{level}"] = (m.var[level], var)
            checks[f"es{level}"] = (m.es[level], es)
        for name, (estimate, value) in checks.items():
            hits[name] = hits.get(name, 0) + int(estimate.low <= value <= estimate.high)
    for name, count in hits.items():
        assert 0.90 * seeds <= count <= 0.99 * seeds, (name, count)


def test_more_scenarios_shrink_the_intervals():
    small = measures(simulate_oracle_book(n_loans=N_LOANS, pd=PD, rho=RHO, n_scenarios=2_000, seed=5).total_loss)
    large = measures(simulate_oracle_book(n_loans=N_LOANS, pd=PD, rho=RHO, n_scenarios=32_000, seed=5).total_loss)
    # 16 times the scenarios: intervals about 4 times narrower
    assert large.mean.half_width < small.mean.half_width / 2.5
    assert large.var["0.99"].half_width < small.var["0.99"].half_width / 2
    assert large.es["0.99"].half_width < small.es["0.99"].half_width / 2.5


# --------------------------------------------------------------------------------------------------
# t copula, large portfolio


def t_fraction_cdf(x: float, pd: float, rho: float, nu: float) -> float:
    """P(default fraction <= x) for an infinitely granular book under the t copula of M2:
    the fraction is p(Z, W) = Phi((t_nu^-1(PD) sqrt(W/nu) - sqrt(rho) Z) / sqrt(1-rho)), so
    P(p <= x) = E_W[Phi((t_nu^-1(PD) sqrt(W/nu) - sqrt(1-rho) Phi^-1(x)) / sqrt(rho)) complement]."""
    c = stats.t.ppf(pd, nu)
    bound = math.sqrt(1 - rho) * special.ndtri(x)

    def integrand(w: float) -> float:
        return special.ndtr(-(c * math.sqrt(w / nu) - bound) / math.sqrt(rho)) * stats.chi2.pdf(w, nu)

    value, _ = integrate.quad(integrand, 0, np.inf, limit=200)
    return value


def t_fraction_quantile(a: float, pd: float, rho: float, nu: float) -> float:
    return optimize.brentq(lambda x: t_fraction_cdf(x, pd, rho, nu) - a, 1e-9, 1 - 1e-9, xtol=1e-10)


def test_t_copula_large_portfolio_matches_semi_closed_form():
    n, pd, rho, nu = 20_000, 0.02, 0.15, 4.0
    sim = simulate_oracle_book(n_loans=n, pd=pd, rho=rho, n_scenarios=10_000, seed=11, copula="t", nu=nu,
                               principal_fen=1)
    fraction = np.sort(sim.n_defaults / n)
    assert abs(fraction.mean() - pd) < 0.05 * pd
    for a in (0.9, 0.95, 0.99):
        exact = t_fraction_quantile(a, pd, rho, nu)
        simulated = fraction[math.ceil(a * fraction.size) - 1]
        # sampling error of the quantile plus the binomial noise of a finite book
        assert abs(simulated - exact) < 0.06 * exact + 3 * math.sqrt(exact / n), (a, simulated, exact)
    # fatter joint tail than the Gaussian copula with the same rho
    gauss_99 = stats.norm.cdf((special.ndtri(pd) + math.sqrt(rho) * stats.norm.ppf(0.99)) / math.sqrt(1 - rho))
    assert fraction[math.ceil(0.99 * fraction.size) - 1] > gauss_99


@pytest.mark.parametrize("copula", ["gaussian", "t"])
def test_each_loans_default_rate_matches_its_pd(copula):
    """Mixed PDs in one sector (so groups need thinning) and sector defaults; one year."""
    import datetime as dt

    from risk.engine import prepare, simulate
    from risk.portfolio import FundPosition, default_cap_base, make_book
    from risk.scenario import SECTORS, load_stress_assumptions, parse_scenario
    from risk.synthetic import shipped_policy

    pds = [0.010, 0.011, 0.012, 0.05, 0.2, math.nan, math.nan, 0.0123, 0.9, 0.03] * 20
    n = len(pds)
    sectors = [SECTORS.index("new_energy_vehicles")] * (n // 2) + [SECTORS.index("rail_transit")] * (n - n // 2)
    cols = {
        "loan_id": [f"L{i}" for i in range(n)], "bank": [i % 3 for i in range(n)], "sector": sectors,
        "policy": [0] * n, "scheme": ["50"] * n, "pd": pds, "principal_fen": [10_000] * n, "covered_fen": [10_000] * n,
        "outstanding_fen": [10_000] * n, "maturity_date": [dt.date(2030, 1, 1)] * n, "amortization": [False] * n,
        "ip_value_fen": [0] * n, "ip_kind": [-1] * n, "insurer_limit_fen": [-1] * n,
    }
    book = make_book(cols, ("a", "b", "c"), (shipped_policy("gz-2023"),))
    scenario = parse_scenario({"name": "pd", "horizon_years": 1, "copula": copula, "asset_correlation": 0.3})
    prep, _ = prepare(book, scenario, default_cap_base(book), FundPosition(10**9, 0, (0,)), as_of=dt.date(2026, 1, 1))
    assert prep.group_mixed.any()
    scenarios = 40_000
    sim = simulate(prep, n_scenarios=scenarios, seed=3, batch=4096)
    sector_pd = load_stress_assumptions().sector_pd
    expected = np.array([sector_pd[SECTORS[s]] if math.isnan(p) else p for p, s in zip(pds, sectors)])
    rate = sim.defaults_by_loan / scenarios
    # one loan across independent scenarios: Binomial(scenarios, PD)
    sd = np.sqrt(expected * (1 - expected) / scenarios)
    z = (rate - expected) / np.where(sd > 0, sd, 1)
    assert np.abs(z).max() < 5.0
    assert abs(z.mean()) < 1.0   # loans are correlated within a scenario, so the mean of z is not N(0, 1/n)
