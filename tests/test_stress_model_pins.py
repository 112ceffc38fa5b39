"""Rule M pinned part by part against closed forms and hand-computed answers (issue 17).

Every expectation here comes from docs/rules.md section 8 (M2, M3, M5) or from a hand computation,
never from the engine's own figures: a planted fault in the factor structure, the collateral model,
the PD multipliers, VaR/ES or the required fund size fails one of these tests. The runs use no new
lending and crude sampling, a few thousand scenarios of a few loans (each test takes under a second
or two); tolerances are about five standard errors of the estimate.
"""

from __future__ import annotations

import datetime as dt
import doctest
import importlib
import math
import pkgutil

import numpy as np
import pytest
from scipy import special, stats

import fund.domain
import risk
from fund.domain.policy import IP_KINDS, shipped_policy
from risk.allocation import UNLIMITED
from risk.engine import prepare, run_chunk, simulate
from risk.portfolio import CapBase, FundPosition, make_book
from risk.scenario import SECTORS, parse_scenario
from risk.stress_result import summarise
from risk.stress_stats import expected_shortfall, measures, required_start, value_at_risk

AS_OF = dt.date(2026, 1, 1)
PRINCIPAL = 100_000_000


def book_of(sectors: list[str], *, pd: float | None = None, ip_value_fen: int = 0, ip_kind: str | None = None):
    """Equal bullet loans of gz-2020 scheme 55 (C = principal), one per entry of ``sectors``."""
    n = len(sectors)
    cols = {
        "loan_id": [f"L{i}" for i in range(n)], "bank": [0] * n, "sector": [SECTORS.index(s) for s in sectors],
        "policy": [0] * n, "scheme": ["55"] * n, "pd": [math.nan if pd is None else pd] * n,
        "principal_fen": [PRINCIPAL] * n, "covered_fen": [PRINCIPAL] * n, "outstanding_fen": [PRINCIPAL] * n,
        "maturity_date": [dt.date(2036, 1, 1)] * n, "amortization": [False] * n,
        "ip_value_fen": [ip_value_fen] * n, "ip_kind": [IP_KINDS.index(ip_kind) if ip_kind else -1] * n,
        "insurer_limit_fen": [UNLIMITED] * n,
    }
    return make_book(cols, ("bank-1",), (shipped_policy("gz-2020"),))


def prepared(book, *, horizon: int = 1, cash_fen: int | None = None, **scenario):
    doc = {"name": "pin", "horizon_years": horizon, **scenario}
    cash = book.size * PRINCIPAL * horizon if cash_fen is None else cash_fen
    fund = FundPosition(cash_fen=cash, deferred_fen=0, appropriation_fen=(0,) * horizon)
    # lending so large that A3's cap never binds (gz-2020 has none; belt and braces)
    base = [CapBase("bank-1", "gz-2020", 10**15, 0)]
    prep, _ = prepare(book, parse_scenario(doc), base, fund, as_of=AS_OF, new_lending_fen=0)
    assert prep.shift == 0.0   # crude sampling
    return prep


def defaults_of(prep, n_scenarios: int, seed: int = 7) -> np.ndarray:
    """(scenario, loan) 0/1 default indicators of year 1, from the engine's default draws."""
    trace: list = []
    run_chunk(prep, np.random.SeedSequence(seed), n_scenarios, trace=trace)
    hit = np.zeros((n_scenarios, prep.n_loans), dtype=np.int64)
    hit[trace[0]["scenario"], trace[0]["loan"]] = 1
    return hit


# --------------------------------------------------------------------------------------------------
# M2: the factor structure


def joint_default_probability(pd: float, correlation: float) -> float:
    """P(X_i < t, X_j < t) for standard normals with the given correlation (bivariate normal CDF)."""
    t = special.ndtri(pd)
    return float(stats.multivariate_normal(mean=[0, 0], cov=[[1, correlation], [correlation, 1]]).cdf([t, t]))


def test_pairwise_default_correlation_within_and_across_sectors_follows_the_gaussian_copula():
    pd, rho, beta, per_sector, n = 0.1, 0.4, 0.6, 6, 12_000
    book = book_of(["rail_transit"] * per_sector + ["biomedicine_health"] * per_sector, pd=pd)
    hit = defaults_of(prepared(book, asset_correlation=rho, global_loading=beta), n)
    a, b = hit[:, :per_sector], hit[:, per_sector:]
    da, db = a.sum(axis=1).astype(float), b.sum(axis=1).astype(float)
    within = float((da * (da - 1)).mean()) / (per_sector * (per_sector - 1))
    across = float((da * db).mean()) / (per_sector * per_sector)
    expected_within = joint_default_probability(pd, rho)            # corr(X_i, X_j) = rho
    expected_across = joint_default_probability(pd, rho * beta)     # corr = rho * beta through G
    assert hit.mean() == pytest.approx(pd, abs=0.006)
    assert within == pytest.approx(expected_within, abs=0.004), (within, expected_within)
    assert across == pytest.approx(expected_across, abs=0.003), (across, expected_across)
    # what the test separates: across sectors with no global factor would be pd^2
    assert expected_across - pd * pd > 2.5 * 0.003


def test_global_loading_one_makes_sectors_one_factor_and_zero_makes_them_independent():
    pd, rho, per_sector, n = 0.1, 0.4, 5, 12_000
    book = book_of(["rail_transit"] * per_sector + ["other"] * per_sector, pd=pd)
    for beta, expected in ((1.0, joint_default_probability(pd, rho)), (0.0, pd * pd)):
        hit = defaults_of(prepared(book, asset_correlation=rho, global_loading=beta), n, seed=11)
        da, db = hit[:, :per_sector].sum(axis=1), hit[:, per_sector:].sum(axis=1)
        across = float((da * db).mean()) / (per_sector * per_sector)
        assert across == pytest.approx(expected, abs=0.004), (beta, across, expected)


# --------------------------------------------------------------------------------------------------
# M2: PD multipliers


def test_per_loan_default_rate_is_the_multiplied_pd():
    n = 8_000
    book = book_of(["new_materials_chemicals"] * 4 + ["satellite_beidou"] * 4, pd=0.05)
    prep = prepared(book, asset_correlation=0.1, pd_multiplier=2.0,
                    sector_pd_multiplier={"new_materials_chemicals": 1.5})
    hit = defaults_of(prep, n)
    multiplied = hit[:, :4].mean()      # 0.05 * 2 * 1.5
    plain = hit[:, 4:].mean()           # 0.05 * 2
    assert multiplied == pytest.approx(0.15, abs=0.012)
    assert plain == pytest.approx(0.10, abs=0.010)


def test_effective_pd_is_capped_at_one():
    hit = defaults_of(prepared(book_of(["other"] * 3, pd=0.4), pd_multiplier=3.0), 200)
    assert hit.all()


# --------------------------------------------------------------------------------------------------
# M3: collateral and recoveries


def recoveries_of(prep, n_scenarios: int, seed: int = 5):
    """The defaults of year 1 (every loan defaults: PD 1) with the amount recovered on each."""
    trace: list = []
    chunk = run_chunk(prep, np.random.SeedSequence(seed), n_scenarios, trace=trace)
    first = trace[0]
    assert first["loan"].size == n_scenarios * prep.n_loans
    return chunk, first


def test_liquidation_value_mean_quantiles_invalidation_and_haircut():
    """IP value a tenth of the exposure, so min(EAD, value) never binds: the recovered amount is the
    liquidation value ``ip * multiplier * (1 - haircut) * exp(sigma Y - sigma^2/2)`` (M3), or 0 with
    the kind's invalidation probability times its multiplier."""
    ip, sigma, haircut, multiplier, inv_mult, n = 10_000_000, 0.8, 0.3, 1.5, 2.0, 4_000
    book = book_of(["other"] * 5, pd=1.0, ip_value_fen=ip, ip_kind="utility_model")   # 1500 bp
    prep = prepared(book, horizon=2, collateral={
        "volatility": sigma, "liquidation_haircut": haircut, "value_multiplier": multiplier,
        "invalidation_multiplier": inv_mult, "global_loading": 0.5, "recovery_lag_years": 1})
    _, first = recoveries_of(prep, n)
    recovered = first["recovered"].astype(float)
    invalid_share = float((recovered == 0).mean())
    assert invalid_share == pytest.approx(0.15 * inv_mult, abs=0.02)
    valid = recovered[recovered > 0]
    base = ip * multiplier * (1 - haircut)
    # E[exp(sigma Y - sigma^2/2)] = 1: the mean is the base (dropping the drift gives exp(sigma^2/2) = 1.38 x)
    se = base * math.sqrt(math.expm1(sigma**2)) / math.sqrt(valid.size)
    assert float(valid.mean()) == pytest.approx(base, abs=6 * se)
    # quantiles of log(value / base) ~ N(-sigma^2/2, sigma^2); Y is correlated across a scenario's
    # loans through G, so the tolerance is wider than for independent draws
    for q in (0.1, 0.5, 0.9):
        expected = base * math.exp(-sigma**2 / 2 + sigma * special.ndtri(q))
        assert float(np.quantile(valid, q)) == pytest.approx(expected, rel=0.08), q


def test_collateral_falls_with_the_economy_through_beta_v():
    """Two loans of one scenario: corr(Y_i, Y_j) = beta_v (both load on G)."""
    sigma, beta_v, n = 0.5, 0.6, 4_000
    book = book_of(["other"] * 2, pd=1.0, ip_value_fen=10_000_000, ip_kind="trademark")
    prep = prepared(book, horizon=2, collateral={"volatility": sigma, "global_loading": beta_v,
                                                 "invalidation_multiplier": 0.0})
    _, first = recoveries_of(prep, n)
    values = np.zeros((n, 2))
    values[first["scenario"], first["loan"]] = first["recovered"]
    logs = np.log(values)
    assert float(np.corrcoef(logs[:, 0], logs[:, 1])[0, 1]) == pytest.approx(beta_v, abs=0.05)


def test_recovery_is_min_of_exposure_and_value_and_the_fund_part_is_a5():
    """Liquidation base near the exposure: the recovered amount is ``min(EAD, value)``; its mean and
    the share capped at EAD are the lognormal closed forms, and the fund's recovered part in each
    scenario is A5 recomputed by hand: ``min(floor(rec * share / L), share)``, share = floor(L / 2)."""
    sigma, haircut, n = 0.5, 0.2, 3_000
    ip = PRINCIPAL      # base = 0.8 * EAD
    book = book_of(["other"] * 4, pd=1.0, ip_value_fen=ip, ip_kind="trademark")
    prep = prepared(book, horizon=2, collateral={"volatility": sigma, "liquidation_haircut": haircut,
                                                 "invalidation_multiplier": 0.0})
    chunk, first = recoveries_of(prep, n)
    rec = first["recovered"]
    ead = PRINCIPAL
    base = ip * (1 - haircut)
    d1 = (math.log(base / ead) + sigma**2 / 2) / sigma
    d2 = d1 - sigma
    p_capped = special.ndtr(d2)                     # P(value >= EAD)
    expected_mean = base - (base * special.ndtr(d1) - ead * special.ndtr(d2))   # E[min(EAD, V)]
    assert float((rec == ead).mean()) == pytest.approx(p_capped, abs=0.03)
    assert float(rec.mean()) == pytest.approx(expected_mean, rel=0.02)
    assert rec.max() <= ead
    # the fund's part by A5, per scenario, from the recovered amounts
    share = ead * 5000 // 10_000
    part = np.minimum(rec * share // ead, share)
    expected = np.bincount(first["scenario"], weights=part, minlength=n).astype(np.int64)
    assert (chunk.fund_recovered == expected).all()
    assert (chunk.recoveries == np.bincount(first["scenario"], weights=rec, minlength=n).astype(np.int64)).all()
    # no loss is shared before A5: each default's fund payout is floor(L / 2) (M7, ample cash)
    assert (chunk.fund_payout == 4 * share).all()


def test_recovery_arrives_lag_years_later_only_within_the_horizon():
    book = book_of(["other"] * 2, pd=1.0, ip_value_fen=10_000_000, ip_kind="trademark")
    prep = prepared(book, horizon=2, collateral={"recovery_lag_years": 2, "invalidation_multiplier": 0.0})
    chunk, first = recoveries_of(prep, 50)
    assert (chunk.recoveries == 0).all()


# --------------------------------------------------------------------------------------------------
# M5: VaR and ES on samples whose answer is known by hand


def test_var_and_es_of_one_to_five_at_one_half():
    """VaR_0.5 of {1..5}: the smallest x with P(X <= x) >= 0.5 is 3 (3/5). ES_0.5 = 2 * integral of
    VaR_u over (0.5, 1]: 3 on (0.5, 0.6], 4 on (0.6, 0.8], 5 on (0.8, 1] -> 2 * (0.3 + 0.8 + 1.0) = 4.2."""
    sample = np.array([4, 1, 5, 3, 2])
    m = measures(sample, levels=("0.5",))
    assert m.var["0.5"].value == 3
    assert m.es["0.5"].value == pytest.approx(4.2)
    assert m.mean.value == 3


def test_var_and_es_of_twenty_points_at_95_and_99():
    """x = 10, 20, ..., 200 (shuffled). VaR_0.95: P(X <= x) >= 0.95 first at 19/20 -> 190; ES_0.95 =
    20 * integral over (0.95, 1] = VaR 200 on all of it -> 200. VaR_0.9: 18/20 -> 180; ES_0.9 = 10 *
    (190 * 0.05 + 200 * 0.05) = 195. At 0.99: 200 and 200."""
    sample = np.random.default_rng(3).permutation(np.arange(10, 201, 10))
    m = measures(sample, levels=("0.9", "0.95", "0.99"))
    assert m.var["0.9"].value == 180
    assert m.var["0.95"].value == 190
    assert m.var["0.99"].value == 200
    assert m.es["0.9"].value == pytest.approx(195)
    assert m.es["0.95"].value == pytest.approx(200)
    assert m.es["0.99"].value == pytest.approx(200)


def test_var_and_es_with_a_fractional_tail_and_ties():
    """n = 8 sorted 0,0,0,0,1,1,2,10, a = 0.7: n a = 5.6, VaR = x_(6) = 1; ES = (1/0.3) * (VaR on
    (0.7, 0.75] = 1, (0.75, 0.875] = 2, (0.875, 1] = 10) = (0.05 + 0.25 + 1.25) / 0.3 = 5.1666..."""
    sample = np.array([2, 0, 10, 1, 0, 0, 1, 0])
    sorted_x = np.sort(sample)
    assert value_at_risk(sorted_x, "0.7") == 1
    assert expected_shortfall(sorted_x, "0.7") == pytest.approx(1.55 / 0.3)
    assert value_at_risk(sorted_x, "0.5") == 0      # 4/8 at or below 0
    assert value_at_risk(sorted_x, "0.51") == 1


# --------------------------------------------------------------------------------------------------
# M5: the required fund size against a brute-force search


def brute_force_required(required: np.ndarray, max_probability: float) -> int:
    for c in range(0, int(required.max()) + 1):
        if (required > c).mean() < max_probability:
            return c
    raise AssertionError("unreachable")


@pytest.mark.parametrize("seed", range(8))
def test_required_start_is_the_brute_force_smallest_sufficient_amount(seed):
    rng = np.random.default_rng(seed)
    sample = rng.integers(0, 60, size=int(rng.integers(5, 300))) * rng.integers(0, 2, size=1)[0] + rng.integers(0, 5)
    sample = np.where(rng.random(sample.size) < 0.3, 0, sample)
    for p in (0.01, 0.05, 0.2):
        assert required_start(sample, p) == brute_force_required(sample, p), (seed, p)


def test_required_fund_size_through_the_engine_by_brute_force():
    """Rerun the same draws (same seed: cash does not change them) with cash at the reported size and
    one fen below: p_deferral is under 1% at it and not below it."""
    book = book_of(["other"] * 20, pd=0.05)
    n, seed = 400, 9

    def run(cash):
        prep = prepared(book, horizon=2, cash_fen=cash, asset_correlation=0.3)
        return simulate(prep, n_scenarios=n, seed=seed)

    sim = run(0)
    result = summarise(sim, scenario_name="pin", bank_names=book.bank_names, inputs=None)
    need = result.required_fund_fen
    assert need > 0
    at = run(need)
    below = run(need - 1)
    assert at.deferred_any_year.mean() < 0.01
    assert below.deferred_any_year.mean() >= 0.01
    assert need > int(sim.required_net_start.min())


# --------------------------------------------------------------------------------------------------
# every doctest in risk/ and fund/domain/


def _modules(package):
    yield package.__name__
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        yield info.name


DOCTEST_MODULES = sorted({*_modules(risk), *_modules(fund.domain)})


@pytest.mark.parametrize("name", DOCTEST_MODULES)
def test_doctests_of_rule_modules_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} doctests failed"


def test_stress_stats_doctests_are_among_them():
    assert "risk.stress_stats" in DOCTEST_MODULES and "risk.engine" in DOCTEST_MODULES
    assert doctest.testmod(importlib.import_module("risk.stress_stats")).attempted >= 4


# --------------------------------------------------------------------------------------------------
# survivors of the mutation run (docs/mutation.md) killed


def test_levels_must_be_strictly_inside_zero_and_one():
    for bad in ("0", "1", "1.5", "-0.1"):
        with pytest.raises(ValueError, match=r"level must be in \(0, 1\)"):
            measures(np.arange(10), levels=(bad,))


def test_var_of_a_one_point_sample_is_that_point():
    assert value_at_risk(np.array([7]), "0.99") == 7
    assert value_at_risk(np.array([3, 9]), "0.5") == 3


def test_measures_refuse_an_empty_or_two_dimensional_sample():
    for bad in (np.array([]), np.ones((2, 2))):
        with pytest.raises(ValueError, match="non-empty 1-d sample"):
            measures(bad)
    assert measures(np.array([5])).mean.value == 5
