"""Survivors of the mutation run over risk/stress_result.py (docs/mutation.md), killed by pinning what
docs/rules.md M5 says a stress run reports, on simulations built by hand whose figures are known:

* each measured figure (gross loss, fund payout, bank and insurer shares, recoveries) with its mean,
  VaR and ES at 95%, 99% and 99.9% (VaR_a = x_(ceil(n a)); ES_a the Acerbi-Tasche mean of the tail);
* the fund's payout per year (its mean and 99% VaR) and the pool's net cash per year end (the fan's
  5/25/50/75/95% quantiles; below 0 is compensation deferred);
* the probability that compensation is deferred at any year end, that some bank hits its cap, that
  some bank is suspended (B2); the smallest starting fund (with today's deferred compensation owed)
  that keeps the deferral probability under 1%;
* expected payout and loss by bank and by sector (the nine sector keys of M2), expected defaults;
* under importance sampling (M6b) the same figures from the self-normalised weighted sample, its
  shift and effective sample size;

and the result's JSON (``to_dict``), which the API's ``/stress/runs/{id}/result``, ``ipfund stress run
--json``, the console's figures and the report's ``result.json`` hand on as is. Every expected value
below is worked out from the hand-made sample, not read from the code.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import statistics

import numpy as np
import pytest
from scipy import stats

from risk.engine import Inputs, Simulation
from risk.stress_result import FAN_QUANTILES, MEASURED, convergence_points, summarise

Z95 = 1.959963984540054  # the 97.5% point of the normal law
SECTOR_KEYS = ("next_generation_it", "new_energy_vehicles", "biomedicine_health", "new_materials_chemicals",
               "rail_transit", "energy_environment", "intelligent_equipment", "satellite_beidou", "other")
#: the per-scenario figure of each measured name, and the scale of 1..n it holds in the sample below
SCALES = {"total_loss_fen": ("total_loss", 1000), "fund_payout_fen": ("fund_payout", 300),
          "bank_share_fen": ("bank_share", 200), "insurer_share_fen": ("insurer_share", 100),
          "recoveries_fen": ("recoveries", 50)}


def _simulation(n: int, horizon: int, *, per_scenario: dict | None = None, shift=0.0, log_weight=None,
                seconds: float = 2.5, n_banks: int = 2, **fields) -> Simulation:
    per_scenario = per_scenario or {}
    rng = np.random.default_rng(5)

    def shuffled(scale: int) -> np.ndarray:
        return (rng.permutation(n) + 1).astype(np.int64) * scale

    values = {field: shuffled(scale) for field, scale in SCALES.values()}
    values.update(appraiser_share=np.zeros(n, dtype=np.int64), fund_recovered=np.zeros(n, dtype=np.int64),
                  n_defaults=np.zeros(n, dtype=np.int64),
                  payout_by_year=np.zeros((n, horizon), dtype=np.int64),
                  net_by_year=np.zeros((n, horizon), dtype=np.int64),
                  cap_hit=np.zeros(n, dtype=bool), suspended=np.zeros(n, dtype=bool),
                  log_weight=np.zeros(n) if log_weight is None else log_weight)
    values.update(per_scenario)
    base = dict(n_scenarios=n, seed=42, batch=25, horizon=horizon, net0=2000,
                defaults_by_loan=np.zeros(3), payout_by_bank=np.zeros(n_banks), loss_by_bank=np.zeros(n_banks),
                payout_by_sector=np.zeros(9), loss_by_sector=np.zeros(9), defaults_by_sector=np.zeros(9),
                shift=shift, seconds=seconds, workers=3)
    base.update(fields)
    return Simulation(**base, **values)


def _net_by_year() -> np.ndarray:
    """100 scenarios, 2 years: the pool's net cash at each year end (fen), in blocks of 20 so that
    every reading of a quantile gives the same value. Year 1: -3000, 0, 1000, 2000, 5000; year 2:
    -50000 once, -8000, -1, 4000, 6000, 9000."""
    net = np.zeros((100, 2), dtype=np.int64)
    for block, (y1, y2) in enumerate(((-3000, -8000), (0, -1), (1000, 4000), (2000, 6000), (5000, 9000))):
        net[20 * block:20 * block + 20] = (y1, y2)
    net[0, 1] = -50000
    return net


def _crude() -> Simulation:
    n = 100
    rng = np.random.default_rng(11)
    by_year = np.stack([(rng.permutation(n) + 1) * 10, (rng.permutation(n) + 1) * 20], axis=1).astype(np.int64)
    cap_hit = np.zeros(n, dtype=bool)
    cap_hit[[3, 17, 44, 58, 71, 90, 99]] = True
    suspended = np.zeros(n, dtype=bool)
    suspended[[5, 6, 80]] = True
    return _simulation(n, 2, per_scenario=dict(payout_by_year=by_year, net_by_year=_net_by_year(), cap_hit=cap_hit,
                                               suspended=suspended, n_defaults=np.tile(np.arange(5), 20)),
                       payout_by_bank=np.array([300_000.0, 50_000.0]), loss_by_bank=np.array([700_000.0, 90_000.0]),
                       payout_by_sector=np.arange(9) * 1000.0, loss_by_sector=np.arange(9) * 3000.0 + 7,
                       defaults_by_sector=np.arange(9) * 10.0)


INPUTS = Inputs(as_of="2026-01-01", horizon_years=2, n_loans=10, n_banks=2, policies=("gz-2023",),
                fund_cash_fen=2000, fund_deferred_fen=0, appropriation_fen=(0, 5_000_000_000),
                scenario={"name": "pin"}, sector_pd_assumptions="placeholder")


def _result(sim=None, **kw):
    return summarise(_crude() if sim is None else sim, scenario_name="pin", bank_names=("bank-a", "bank-b"),
                     inputs=kw.pop("inputs", INPUTS), **kw)


# --------------------------------------------------------------------------------------------------
# M5 figures of a crude run


def test_each_measured_figure_has_its_mean_var_and_es_at_the_three_levels():
    result = _result()
    assert set(result.measures) == set(MEASURED) == set(SCALES)
    one_to_100_sd = statistics.stdev(range(1, 101))
    for name, (_, c) in SCALES.items():
        m = result.measures[name]
        # the sample is c * (1..100): mean 50.5 c; VaR_a = x_(ceil(100 a)); ES_0.95 the mean of the
        # top five, ES_0.99 and ES_0.999 the largest point
        assert m.mean.value == pytest.approx(50.5 * c)
        half = Z95 * c * one_to_100_sd / 10
        assert (m.mean.low, m.mean.high) == pytest.approx((50.5 * c - half, 50.5 * c + half))
        assert {a: e.value for a, e in m.var.items()} == {"0.95": 95 * c, "0.99": 99 * c, "0.999": 100 * c}
        assert {a: e.value for a, e in m.es.items()} == pytest.approx({"0.95": 98 * c, "0.99": 100 * c, "0.999": 100 * c})
        for e in (*m.var.values(), *m.es.values()):
            assert e.low is None or e.low <= e.value
            assert e.high is None or e.value <= e.high


def test_the_fund_payout_by_year_has_its_mean_and_99_var():
    years = _result().fund_payout_by_year
    assert [y.year for y in years] == [1, 2]
    sd = statistics.stdev(range(1, 101))
    for y, c in zip(years, (10, 20)):   # year 1 pays 10 * (1..100), year 2 20 * (1..100)
        assert y.fund_payout_mean_fen.value == pytest.approx(50.5 * c)
        assert (y.fund_payout_mean_fen.low, y.fund_payout_mean_fen.high) == pytest.approx(
            (50.5 * c - Z95 * c * sd / 10, 50.5 * c + Z95 * c * sd / 10))
        assert y.fund_payout_var99_fen == 99 * c


@pytest.mark.parametrize("n", [1, 7, 150, 201])
def test_the_yearly_99_var_is_the_ceil_n_times_99_percent_th_smallest(n):
    rng = np.random.default_rng(n)
    payout = (rng.permutation(n) + 1).astype(np.int64)[:, None]   # 1..n
    sim = _simulation(n, 1, per_scenario=dict(payout_by_year=payout, net_by_year=np.ones((n, 1), dtype=np.int64)))
    (year,) = _result(sim).fund_payout_by_year
    assert year.fund_payout_var99_fen == math.ceil(n * 99 / 100)


def test_the_net_cash_fan_and_the_deferral_at_each_year_end():
    years = _result().fund_payout_by_year
    assert years[0].cash_quantiles_fen == {"p05": -3000, "p25": 0, "p50": 1000, "p75": 2000, "p95": 5000}
    assert years[1].cash_quantiles_fen == {"p05": -8000, "p25": -1, "p50": 4000, "p75": 6000, "p95": 9000}
    assert FAN_QUANTILES == (0.05, 0.25, 0.5, 0.75, 0.95)
    # deferred: net cash below 0 (exactly 0 is not)
    assert [y.p_deferred_at_year_end for y in years] == [0.2, 0.4]


def _wilson(hits: int, n: int) -> tuple[float, float]:
    p = hits / n
    centre = (p + Z95 ** 2 / (2 * n)) / (1 + Z95 ** 2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95 ** 2 / (4 * n * n)) / (1 + Z95 ** 2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def test_the_probabilities_of_deferral_cap_and_suspension():
    result = _result()
    # deferred at some year end: the 40 scenarios below 0 in year 1 or year 2
    for estimate, hits in ((result.p_deferral, 40), (result.p_bank_cap_hit, 7), (result.p_bank_suspended, 3)):
        assert estimate.value == hits / 100
        assert (estimate.low, estimate.high) == pytest.approx(_wilson(hits, 100))


def test_the_required_fund_keeps_the_deferral_probability_under_one_percent_with_todays_deferred_owed():
    # net0 2000; each scenario's lowest year end: one at -50000 (needs 52000 more), 19 at -8000
    # (10000), 20 at -1 (2001), 20 at 1000 (1000), 40 at 2000 or more (0). 1 in 100 is not under 1%,
    # so the fund must cover the worst scenario too: 52000.
    assert _result().required_fund_fen == 52000
    assert _result(deferred_today_fen=123).required_fund_fen == 52123
    required = _crude().required_net_start
    # brute force: the smallest amount (0 or some scenario's need) with fewer than 1% needing more
    assert min(c for c in {0, *required.tolist()} if (required > c).mean() < 0.01) == 52000


def test_expected_figures_by_bank_and_by_sector_and_the_defaults():
    result = _result()
    assert result.by_bank == {"bank-a": {"expected_fund_payout_fen": 3000.0, "expected_loss_fen": 7000.0},
                              "bank-b": {"expected_fund_payout_fen": 500.0, "expected_loss_fen": 900.0}}
    assert tuple(result.by_sector) == SECTOR_KEYS
    for i, key in enumerate(SECTOR_KEYS):
        assert result.by_sector[key] == pytest.approx({"expected_fund_payout_fen": i * 10.0,
                                                       "expected_loss_fen": i * 30.0 + 0.07, "expected_defaults": i / 10})
    assert result.defaults_mean.value == 2.0   # 0..4 twenty times each
    sd = statistics.stdev(list(range(5)) * 20)
    assert (result.defaults_mean.low, result.defaults_mean.high) == pytest.approx((2 - Z95 * sd / 10, 2 + Z95 * sd / 10))


def test_the_run_record_and_the_crude_sampling():
    result = _result()
    assert (result.scenario, result.n_scenarios, result.seed, result.batch, result.workers, result.seconds) == (
        "pin", 100, 42, 25, 3, 2.5)
    assert result.inputs is INPUTS
    assert result.sampling_shift == 0.0 and result.effective_scenarios == 100.0


NOTES_CRUDE = (
    "required_fund_fen: the smallest cash today (with today's deferred compensation owed) that keeps "
    "p_deferral under 1% in this sample",
    "ES intervals: influence-function normal interval; VaR intervals: order-statistic binomial interval",
    "A3 caps reset per simulated year (as-of anniversaries), not per calendar year",
)


def test_the_notes_the_report_prints_under_the_figures():
    # the report prints these under its figures (simulations/report.py): what required_fund_fen means
    # (M5: under 1%, today's deferred owed), how the intervals are made (risk/stress_stats.py), A3's
    # caps per simulated year
    assert _result().notes == NOTES_CRUDE


# --------------------------------------------------------------------------------------------------
# the JSON of a crude run


def _estimate(value, low, high):
    return {"value": value, "ci95": [low, high]}


def test_the_json_has_every_figure_under_its_key():
    result = _result()
    d = result.to_dict()
    json.dumps(d, allow_nan=False)   # plain JSON
    assert list(d) == ["scenario", *MEASURED, "fund_payout_by_year_fen", "fund_cash_by_year_fen", "p_deferral",
                       "p_bank_cap_hit", "p_bank_suspended", "required_fund_fen", "defaults", "by_bank",
                       "by_sector", "inputs", "seed", "n_scenarios", "batch", "workers", "sampling", "timing",
                       "notes"]
    assert d["scenario"] == "pin"
    for name, (_, c) in SCALES.items():
        m = d[name]
        assert set(m) == {"mean", "var", "es"}
        assert m["mean"]["value"] == pytest.approx(50.5 * c)
        assert {a: e["value"] for a, e in m["var"].items()} == {"0.95": 95 * c, "0.99": 99 * c, "0.999": 100 * c}
        assert {a: e["value"] for a, e in m["es"].items()} == pytest.approx({"0.95": 98 * c, "0.99": 100 * c, "0.999": 100 * c})
        for e in (m["mean"], *m["var"].values(), *m["es"].values()):
            assert set(e) == {"value", "ci95"} and len(e["ci95"]) == 2
    p = d["p_deferral"]
    assert p == _estimate(0.4, *_wilson(40, 100)) or (p["value"] == 0.4 and p["ci95"] == pytest.approx(list(_wilson(40, 100))))
    assert d["p_bank_cap_hit"]["value"] == 0.07 and d["p_bank_cap_hit"]["ci95"] == pytest.approx(list(_wilson(7, 100)))
    assert d["p_bank_suspended"]["value"] == 0.03 and d["p_bank_suspended"]["ci95"] == pytest.approx(list(_wilson(3, 100)))
    assert d["required_fund_fen"] == 52000
    assert d["defaults"]["value"] == 2.0 and len(d["defaults"]["ci95"]) == 2
    assert d["by_bank"] == {"bank-a": {"expected_fund_payout_fen": 3000.0, "expected_loss_fen": 7000.0},
                            "bank-b": {"expected_fund_payout_fen": 500.0, "expected_loss_fen": 900.0}}
    assert list(d["by_sector"]) == list(SECTOR_KEYS)
    assert d["by_sector"]["other"] == {"expected_fund_payout_fen": 80.0, "expected_loss_fen": 240.07,
                                       "expected_defaults": 0.8}
    assert d["inputs"]["as_of"] == "2026-01-01" and d["inputs"]["n_loans"] == 10
    assert d["inputs"]["appropriation_fen"] == [0, 5_000_000_000] and d["inputs"]["scenario"] == {"name": "pin"}
    assert (d["seed"], d["n_scenarios"], d["batch"], d["workers"]) == (42, 100, 25, 3)
    assert d["sampling"] == {"method": "crude", "shift": 0.0, "scale": 1.0, "effective_scenarios": 100.0}
    # 10 loans x 2 years x 100 scenarios in 2.5 s
    assert d["timing"] == {"seconds": 2.5, "loan_scenario_years_per_second": 800.0}
    assert d["notes"] == list(NOTES_CRUDE)


def test_the_json_of_each_year():
    d = _result().to_dict()
    sd = statistics.stdev(range(1, 101))
    for y, c in zip(d["fund_payout_by_year_fen"], (10, 20)):
        assert list(y) == ["year", "mean", "var_0.99", "p_deferred_at_year_end", "net_cash_quantiles_fen"]
        assert y["mean"]["value"] == pytest.approx(50.5 * c)
        assert y["mean"]["ci95"] == pytest.approx([50.5 * c - Z95 * c * sd / 10, 50.5 * c + Z95 * c * sd / 10])
        assert y["var_0.99"] == 99 * c
    years = d["fund_payout_by_year_fen"]
    assert [y["year"] for y in years] == [1, 2]
    assert [y["p_deferred_at_year_end"] for y in years] == [0.2, 0.4]
    fan_1 = {"p05": -3000.0, "p25": 0.0, "p50": 1000.0, "p75": 2000.0, "p95": 5000.0}
    fan_2 = {"p05": -8000.0, "p25": -1.0, "p50": 4000.0, "p75": 6000.0, "p95": 9000.0}
    assert [y["net_cash_quantiles_fen"] for y in years] == [fan_1, fan_2]
    # the fan chart's table: each year with its quantiles beside it
    assert d["fund_cash_by_year_fen"] == [{"year": 1, **fan_1}, {"year": 2, **fan_2}]


def test_the_json_without_inputs_or_suspension_and_the_rate_without_time():
    sim = _crude()
    d = _result(sim, inputs=None).to_dict()
    assert d["inputs"] is None and d["timing"] == {"seconds": 2.5, "loan_scenario_years_per_second": None}
    no_time = _simulation(100, 2, seconds=0.0)
    assert _result(no_time).to_dict()["timing"] == {"seconds": 0.0, "loan_scenario_years_per_second": None}
    # a fraction of a millisecond is still a time: the rate is counted
    quick = _result(_simulation(100, 2, seconds=0.0004)).to_dict()["timing"]
    assert quick == {"seconds": 0.0, "loan_scenario_years_per_second": pytest.approx(10 * 2 * 100 / 0.0004)}
    assert _result(_simulation(100, 2, seconds=1.23456)).to_dict()["timing"]["seconds"] == 1.235
    result = _result()
    older = type(result)(**{**result.__dict__, "p_bank_suspended": None})   # a result from before B2
    assert older.to_dict()["p_bank_suspended"] is None


# --------------------------------------------------------------------------------------------------
# M6b: a weighted sample


def _weighted_quantile(x, w, a):
    """The smallest x with weighted P(X <= x) >= a (brute force)."""
    for v in sorted(set(x.tolist())):
        if w[x <= v].sum() >= a - 1e-12:
            return float(v)
    raise AssertionError


def _weighted_es(x, w, a):
    """Acerbi-Tasche: (1 / (1 - a)) times the integral of VaR_u over u in [a, 1] under the weighted law."""
    order = np.argsort(x, kind="stable")
    total, below = 0.0, 0.0
    for i in order:
        lo, hi = below, below + w[i]
        total += max(0.0, hi - max(lo, a)) * float(x[i])
        below = hi
    return total / (1 - a)


def _weighted(shift=-1.5):
    n = 40
    rng = np.random.default_rng(3)
    log_weight = rng.normal(0.0, 1.0, n)
    w = np.exp(log_weight) / np.exp(log_weight).sum()
    payout = np.stack([rng.integers(0, 10_000, n), rng.integers(0, 50_000, n)], axis=1).astype(np.int64)
    net = np.stack([rng.integers(-5000, 20000, n), rng.integers(-9000, 15000, n)], axis=1).astype(np.int64)
    net[[2, 7], 0] = 0    # exactly 0 at a year end: nothing deferred
    net[[4, 9], 1] = 0
    cap_hit = rng.random(n) < 0.3
    suspended = rng.random(n) < 0.2
    sim = _simulation(n, 2, shift=shift, log_weight=log_weight,
                      per_scenario=dict(payout_by_year=payout, net_by_year=net, cap_hit=cap_hit, suspended=suspended,
                                        n_defaults=rng.integers(0, 9, n)),
                      payout_by_bank=np.array([400.0, 80.0]), loss_by_bank=np.array([1000.0, 120.0]),
                      payout_by_sector=np.arange(9) * 40.0, loss_by_sector=np.arange(9) * 80.0,
                      defaults_by_sector=np.arange(9) * 4.0)
    return sim, w


def test_weighted_figures_are_the_self_normalised_estimators():
    sim, w = _weighted()
    result = _result(sim, deferred_today_fen=5)
    for name, (field, _) in SCALES.items():
        x = getattr(sim, field)
        m = result.measures[name]
        assert m.mean.value == pytest.approx(float(np.dot(w, x)))
        half = Z95 * math.sqrt(float(np.dot(w ** 2, (x - np.dot(w, x)) ** 2)))
        assert (m.mean.low, m.mean.high) == pytest.approx((m.mean.value - half, m.mean.value + half))
        for a in ("0.95", "0.99", "0.999"):
            assert m.var[a].value == _weighted_quantile(x, w, float(a))
            assert m.es[a].value == pytest.approx(_weighted_es(x, w, float(a)))
    assert [y.year for y in result.fund_payout_by_year] == [1, 2]
    for k, year in enumerate(result.fund_payout_by_year):
        payout, net = sim.payout_by_year[:, k], sim.net_by_year[:, k]
        assert year.year == k + 1
        assert year.fund_payout_mean_fen.value == pytest.approx(float(np.dot(w, payout)))
        assert year.fund_payout_var99_fen == _weighted_quantile(payout, w, 0.99)
        assert year.p_deferred_at_year_end == pytest.approx(float(w[net < 0].sum()))
        assert year.p_deferred_at_year_end < float(w[net <= 0].sum())
        assert year.cash_quantiles_fen == {key: _weighted_quantile(net, w, a) for key, a in (
            ("p05", 0.05), ("p25", 0.25), ("p50", 0.5), ("p75", 0.75), ("p95", 0.95))}
    deferred = (sim.net_by_year < 0).any(axis=1)
    for estimate, hits in ((result.p_deferral, deferred), (result.p_bank_cap_hit, sim.cap_hit),
                           (result.p_bank_suspended, sim.suspended)):
        p = float(w[hits].sum())
        half = Z95 * math.sqrt(float(np.dot(w ** 2, (hits - p) ** 2)))
        assert estimate.value == pytest.approx(p)
        assert (estimate.low, estimate.high) == pytest.approx((max(0.0, p - half), min(1.0, p + half)))
    required = sim.required_net_start
    smallest = min(c for c in sorted({0, *required.tolist()}) if w[required > c].sum() < 0.01)
    assert result.required_fund_fen == smallest + 5
    assert result.defaults_mean.value == pytest.approx(float(np.dot(w, sim.n_defaults)))
    # by bank and by sector: the engine's sums (already weighted by the likelihood ratio) over n
    assert result.by_bank == {"bank-a": {"expected_fund_payout_fen": 10.0, "expected_loss_fen": 25.0},
                              "bank-b": {"expected_fund_payout_fen": 2.0, "expected_loss_fen": 3.0}}
    assert result.by_sector["other"] == {"expected_fund_payout_fen": 8.0, "expected_loss_fen": 16.0,
                                         "expected_defaults": 0.8}
    assert result.sampling_shift == -1.5
    assert result.effective_scenarios == pytest.approx(1 / float(np.sum(w ** 2)))
    assert result.effective_scenarios < 40
    assert result.notes == (NOTES_CRUDE[0],
                            "importance sampling (M6b): self-normalised weighted estimators; every interval from the "
                            "estimator's influence function over the weighted sample; by-bank and by-sector figures "
                            "weighted by the likelihood ratio",
                            NOTES_CRUDE[2])
    d = result.to_dict()
    assert d["sampling"] == {"method": "importance", "shift": -1.5, "scale": 1.0,
                             "effective_scenarios": pytest.approx(1 / float(np.sum(w ** 2)))}


def test_a_shift_per_year_is_recorded_as_such_and_equal_shifts_as_one_number():
    sim, _ = _weighted(shift=(-1.0, -0.5))
    d = _result(sim).to_dict()
    assert d["sampling"]["method"] == "importance" and d["sampling"]["shift"] == [-1.0, -0.5]
    sim, _ = _weighted(shift=(-0.7, -0.7))
    assert _result(sim).to_dict()["sampling"]["shift"] == -0.7
    # no year shifted: a crude run, whatever the weights column holds
    sim, _ = _weighted(shift=(0.0, 0.0))
    result = _result(sim)
    d = result.to_dict()
    assert d["sampling"] == {"method": "crude", "shift": 0.0, "scale": 1.0, "effective_scenarios": 40.0}
    assert result.measures["total_loss_fen"].mean.value == pytest.approx(float(sim.total_loss.mean()))


def test_a_spread_alone_weights_the_sample_and_is_recorded():
    # docs/rules.md section 8, the second extension of M6b: a spread s_k other than 1 is a sampling law
    # other than M2's, so the sample is weighted even with no shift; the sampling record says both
    sim, w = _weighted(shift=0.0)
    sim = dataclasses.replace(sim, scale=1.5)
    result = _result(sim)
    d = result.to_dict()
    assert d["sampling"] == {"method": "importance", "shift": 0.0, "scale": 1.5,
                             "effective_scenarios": pytest.approx(1 / float(np.sum(w ** 2)))}
    assert result.measures["total_loss_fen"].mean.value == pytest.approx(float(np.dot(w, sim.total_loss)))
    assert result.notes[1].startswith("importance sampling (M6b)")
    per_year = _result(dataclasses.replace(sim, scale=(1.0, 1.25))).to_dict()["sampling"]
    assert per_year["method"] == "importance" and per_year["scale"] == [1.0, 1.25]
    assert _result(dataclasses.replace(sim, scale=(1.2, 1.2))).to_dict()["sampling"]["scale"] == 1.2
    # every spread 1 and no shift: M2's law, a crude run
    crude = _result(dataclasses.replace(sim, scale=(1.0, 1.0))).to_dict()["sampling"]
    assert crude == {"method": "crude", "shift": 0.0, "scale": 1.0, "effective_scenarios": 40.0}


# --------------------------------------------------------------------------------------------------
# the tail-convergence plot's points


def _var(x, a):
    return float(np.sort(x)[math.ceil(len(x) * a) - 1])


def _es(x, a):
    return _weighted_es(x, np.full(len(x), 1 / len(x)), a)


def _fund_payout_sim(total, **kw):
    rng = np.random.default_rng(total)
    payout = (rng.permutation(total) + 1).astype(np.int64) * 7
    return _simulation(total, 1, per_scenario=dict(fund_payout=payout), **kw)


def test_convergence_points_are_a_geometric_grid_from_100_scenarios_to_the_whole_run():
    sim = _fund_payout_sim(10_000)
    points = convergence_points(sim, "fund_payout", "var", "0.99")
    n = [p[0] for p in points]
    # 24 points by default, from 100 scenarios (a 99% VaR needs 100) to the whole run, each ratio
    # (10000 / 100) ^ (1 / 23)
    assert len(n) == 24 and n[0] == 100 and n[-1] == 10_000 and n == sorted(set(n))
    step = 100 ** (1 / 23)
    for a, b in zip(n, n[1:]):
        assert b / a == pytest.approx(step, rel=0.02)
    assert [p[0] for p in convergence_points(sim, "fund_payout", "var", "0.99", points=5)] == [
        100, 316, 1000, 3162, 10000]
    # fewer scenarios than 100: one point, the whole run
    assert [p[0] for p in convergence_points(_fund_payout_sim(60), "fund_payout", "var", "0.99")] == [60]


def _order_statistic_interval(sorted_x, a):
    """M5's 95% interval of VaR_a from the sample's order statistics: [x_(j), x_(k)] with j the largest
    and k the smallest such that P(B < j) < 2.5% and P(B >= k) <= 2.5%, B ~ Binomial(n, a) the number
    of points at or below the true quantile (None where no order statistic qualifies)."""
    n = len(sorted_x)
    cdf = stats.binom.cdf(np.arange(n + 1), n, a)
    js = [j for j in range(1, n + 1) if cdf[j - 1] < 0.025]
    ks = [k for k in range(1, n + 1) if 1 - cdf[k - 1] <= 0.025]
    return (float(sorted_x[max(js) - 1]) if js else None, float(sorted_x[min(ks) - 1]) if ks else None)


def test_convergence_points_are_the_var_or_es_of_the_first_n_scenarios():
    sim = _fund_payout_sim(1000)
    x = sim.fund_payout
    # the plot's levels, and any other level in (0, 1)
    for kind, level in (("var", "0.99"), ("es", "0.999"), ("es", "0.95"), ("var", "0.95"), ("var", "0.9"),
                        ("es", "0.975")):
        points = convergence_points(sim, "fund_payout", kind, level, points=6)
        assert [p[0] for p in points] == [100, 158, 251, 398, 630, 1000]
        for n, value, low, high in points:
            expected = _var(x[:n], float(level)) if kind == "var" else _es(x[:n], float(level))
            assert value == pytest.approx(expected)
            if kind == "var":   # a crude run's VaR interval is the order-statistic one
                assert (low, high) == _order_statistic_interval(np.sort(x[:n]), float(level))
            assert low is None or low <= value
            assert high is None or value <= high
            assert low is not None or high is not None
    # another figure of the run
    points = convergence_points(sim, "total_loss", "var", "0.95", points=3)
    assert [(n, v) for n, v, _, _ in points] == [(n, _var(sim.total_loss[:n], 0.95)) for n in (100, 316, 1000)]


def test_convergence_points_of_a_weighted_run_reweight_the_first_n_scenarios():
    total = 400
    rng = np.random.default_rng(9)
    log_weight = rng.normal(0.0, 1.0, total)
    shifted = _fund_payout_sim(total, shift=-1.0, log_weight=log_weight)
    spread = dataclasses.replace(shifted, shift=0.0, scale=(1.5,))   # a spread alone weights it too
    x = shifted.fund_payout
    for sim, (kind, level) in itertools.product((shifted, spread), (("var", "0.99"), ("es", "0.99"), ("var", "0.9"),
                                                                   ("es", "0.8"))):
        for n, value, low, high in convergence_points(sim, "fund_payout", kind, level, points=4):
            w = np.exp(log_weight[:n]) / np.exp(log_weight[:n]).sum()
            a = float(level)
            expected = _weighted_quantile(x[:n], w, a) if kind == "var" else _weighted_es(x[:n], w, a)
            assert value == pytest.approx(expected)
            assert low is None or low <= value
            assert high is None or value <= high
