"""docs/rules.md section 8, our extension of M6b: a shift and a spread of the global factor per year.

Year k's factor is drawn as G_k = mu_k + s_k Z_k (Z_k standard normal), from N(mu_k, s_k^2), and each
scenario carries the likelihood ratio of M2's law to that one, prod_k s_k exp(-G_k^2 / 2 + Z_k^2 / 2).
Under B2's suspension line the fund payout's tail is a mixture of later bad years, spread wider than
M2's factor; a law wider than M2's in every year (s_k >= 1) keeps every weight bounded. These tests
recompute the weights from the drawn factors, check that the weighted sample has M2's law, that the
M7 oracle's tail under such a law is the exact mixture's, and that the chooser finds a spread on a
book with the line in force and narrows the far tail there.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from risk.engine import prepare, run_chunk, simulate
from risk.importance import (
    MIN_EFFECTIVE_SHARE, choose_spread_details, is_scaled, is_weighted, normal_scale, sampling_text,
    second_moment_of_weights, year_scales, year_shifts,
)
from risk.stress_result import summarise
from risk.stress_stats import measures, normalised_weights, weighted_measures
from tests.test_stress_importance_by_year import PRINCIPAL, two_year_oracle, two_year_pmf, N, PD, RHO
from tests.test_stress_importance_suspension import SCENARIOS, recession_book  # noqa: F401  (a fixture)
from tests.test_stress_oracle import assert_weighted_tail_matches

SHIFT, SCALE = (-1.0, -0.5), (1.5, 1.25)


@pytest.fixture(scope="module")
def prepared():
    return two_year_oracle()


def test_the_spread_helpers():
    assert year_scales(1.5, 2) == (1.5, 1.5) and year_scales((1.5, 1.0), 2) == (1.5, 1.0)
    with pytest.raises(ValueError, match="2 years"):
        year_scales((1.5,), 2)
    with pytest.raises(ValueError, match="above 0"):
        year_scales((1.5, 0.0), 2)
    assert not is_scaled(1.0) and not is_scaled((1.0, 1.0)) and is_scaled((1.0, 1.01))
    assert not is_weighted(0.0, 1.0) and is_weighted(0.0, (1.0, 2.0)) and is_weighted(-0.1, 1.0)
    assert normal_scale([1.2, 1.2]) == 1.2 and normal_scale((1.0, 1.2)) == (1.0, 1.2)
    assert sampling_text(-0.5) == "shift -0.50"
    assert sampling_text((0.5, -1.0), (1.0, 1.5)) == "shift 0.50, -1.00 by year, spread 1.00, 1.50 by year"


def test_the_weights_are_m2_over_the_sampling_law_recomputed_from_the_drawn_factors(prepared):
    n = 40_000
    factors = np.empty((n, 2))
    chunk = run_chunk(dataclasses.replace(prepared, shift=SHIFT, scale=SCALE), np.random.SeedSequence(11), n,
                      factors=factors)
    mu, s = np.array(SHIFT), np.array(SCALE)
    z = (factors - mu) / s
    # log phi(G) - log(phi(Z) / s), year by year
    expected = (np.log(s) - 0.5 * factors**2 + 0.5 * z**2).sum(axis=1)
    assert np.allclose(chunk.log_weight, expected, rtol=0, atol=1e-9)
    # each year's factor is drawn from N(mu_k, s_k^2)
    assert np.all(np.abs(factors.mean(axis=0) - mu) < 4 * s / math.sqrt(n))
    assert np.all(np.abs(factors.std(axis=0) / s - 1) < 0.02)
    # weighted, the sample has M2's law: mean 0 and variance 1 in each year; the raw weights average 1
    w = np.exp(chunk.log_weight)
    assert abs(w.mean() - 1) < 0.05
    wn = normalised_weights(chunk.log_weight)
    assert np.all(np.abs(wn @ factors) < 0.05)
    assert np.all(np.abs(wn @ factors**2 - 1) < 0.06)
    # E_q[w^2] is the closed form's (the inverse of the share of the sample that stays effective)
    assert abs(np.mean(w**2) / second_moment_of_weights(SHIFT, SCALE, 2) - 1) < 0.1


def test_the_second_moment_closed_form():
    # at spread 1 it is exp(sum mu^2), M6b's
    assert second_moment_of_weights((-0.5, 0.3), 1.0, 2) == pytest.approx(math.exp(0.25 + 0.09))
    # one year, no shift, spread s: s^2 / sqrt(2 s^2 - 1), by numerical integration of phi^2 / q
    x = np.linspace(-30, 30, 600_001)
    for s in (1.5, 2.0, 0.8):
        q = np.exp(-0.5 * (x / s) ** 2) / (s * math.sqrt(2 * math.pi))
        phi = np.exp(-0.5 * x**2) / math.sqrt(2 * math.pi)
        assert second_moment_of_weights(0.0, s, 1) == pytest.approx(np.trapezoid(phi**2 / q, x), rel=1e-6)
    assert second_moment_of_weights(0.0, 0.7, 1) == math.inf   # 2 s^2 <= 1: unbounded


def test_spread_one_is_exactly_the_shift_alone(prepared):
    shifted = simulate(dataclasses.replace(prepared, shift=SHIFT), n_scenarios=3000, seed=2, batch=1000)
    both = simulate(dataclasses.replace(prepared, shift=SHIFT, scale=(1.0, 1.0)), n_scenarios=3000, seed=2, batch=1000)
    for name in ("fund_payout", "total_loss", "n_defaults", "log_weight", "net_by_year"):
        assert np.array_equal(getattr(shifted, name), getattr(both, name)), name


def test_under_a_shift_and_spread_per_year_the_oracle_tail_matches_the_exact_mixture(prepared):
    run = simulate(dataclasses.replace(prepared, shift=SHIFT, scale=SCALE), n_scenarios=12_000, seed=5)
    assert_weighted_tail_matches(two_year_pmf(N, PD, RHO), run, PRINCIPAL)
    result = summarise(run, scenario_name="x", bank_names=("bank-1",), inputs=None).to_dict()
    assert result["sampling"] == {"method": "importance", "shift": list(SHIFT), "scale": list(SCALE),
                                  "effective_scenarios": result["sampling"]["effective_scenarios"]}
    assert 0 < result["sampling"]["effective_scenarios"] < 12_000


def test_the_chooser_finds_a_spread_under_the_suspension_line_and_narrows_the_far_tail(recession_book):
    choice = choose_spread_details(recession_book, seed=1)
    assert choice.reason is None, choice
    shift, scale = year_shifts(choice.shift, 5), year_scales(choice.scale, 5)
    # the tail's later years are spread wider than M2's factor; every year's spread is at least 1
    assert all(s >= 1.0 for s in scale) and max(scale) > 1.2, choice
    assert min(shift) < 0, choice
    # the law keeps the share of the sample the chooser promises effective
    assert 1 / second_moment_of_weights(choice.shift, choice.scale, 5) >= MIN_EFFECTIVE_SHARE * 0.99
    # the same inputs and seed give the same choice
    assert choose_spread_details(recession_book, seed=1) == choice
    crude = measures(simulate(recession_book, n_scenarios=SCENARIOS, seed=2, workers=1).fund_payout).es["0.999"]
    run = simulate(dataclasses.replace(recession_book, shift=choice.shift, scale=choice.scale),
                   n_scenarios=SCENARIOS, seed=2, workers=1)
    weighted = weighted_measures(run.fund_payout, normalised_weights(run.log_weight)).es["0.999"]
    assert weighted.half_width < 0.6 * crude.half_width, (crude, weighted)
    long = measures(simulate(recession_book, n_scenarios=5 * SCENARIOS, seed=3, workers=1).fund_payout).es["0.999"]
    assert long.low <= weighted.high and weighted.low <= long.high, (long, weighted)


def test_the_chooser_says_why_there_is_no_law():
    from risk.engine import oracle_prepared

    nothing = choose_spread_details(oracle_prepared(n_loans=10, pd=1e-9, rho=0.15, global_loading=1.0),
                                    seed=1, pilot_scenarios=500)
    assert nothing.shift == 0.0 and nothing.scale == 1.0 and "pays nothing" in nothing.reason


def test_a_run_under_importance_sampling_takes_the_chosen_shift_and_spread_and_says_so():
    from tests.test_stress_importance_by_year import _run

    outcome = _run({"name": "x", "horizon_years": 2, "global_loading": 1.0, "sampling": {"method": "importance"}})
    sim, result = outcome.sim, outcome.result.to_dict()
    assert is_weighted(sim.shift, sim.scale) and result["sampling"]["method"] == "importance"
    assert result["sampling"]["shift"] == (list(sim.shift) if isinstance(sim.shift, tuple) else sim.shift)
    assert result["sampling"]["scale"] == (list(sim.scale) if isinstance(sim.scale, tuple) else sim.scale)
    assert any(n.startswith("importance sampling: the global factors' law chosen from pilot runs, shift ")
               for n in outcome.result.notes), outcome.result.notes


def test_the_scenario_keys_take_a_spread_and_a_shift_list_either_way():
    from risk.scenario import ScenarioError, Sampling, parse_scenario

    doc = {"name": "x", "horizon_years": 3, "sampling": {"method": "importance", "shift": [0.5, -1.25, 0],
                                                         "scale": [1, 1.5, 4]}}
    parsed = parse_scenario(doc)
    assert parsed.sampling == Sampling("importance", (0.5, -1.25, 0.0), (1.0, 1.5, 4.0))
    assert parse_scenario(parsed.to_dict()).sampling == parsed.sampling
    assert parsed.to_dict()["sampling"] == {"method": "importance", "shift": [0.5, -1.25, 0.0], "scale": [1.0, 1.5, 4.0]}
    assert parse_scenario({"name": "x", "sampling": {"scale": 2}}).sampling.scale == 2.0
    # one shift for every year stays M6b's (<= 0); a spread is within [1, 4], one number or one a year
    for key, bad, message in (("shift", 0.5, "key 'sampling.shift' must be <= 0, got 0.5"),
                              ("scale", 0.9, "key 'sampling.scale' must be >= 1, got 0.9"),
                              ("scale", 4.5, "key 'sampling.scale' must be <= 4, got 4.5"),
                              ("scale", [1, 0.5, 1], "key 'sampling.scale[1]' must be >= 1, got 0.5"),
                              ("scale", [1, 1], "key 'sampling.scale' as a list must give one number per year of "
                                                "the horizon (3), got 2"),
                              ("scale", "2", "key 'sampling.scale' must be a finite number, got '2'")):
        with pytest.raises(ScenarioError) as refused:
            parse_scenario({"name": "x", "horizon_years": 3, "sampling": {key: bad}})
        assert str(refused.value) == message


def test_a_run_given_the_chosen_law_in_its_scenario_gives_the_automatic_runs_figures():
    from tests.test_stress_importance_by_year import _run

    doc = {"name": "x", "horizon_years": 2, "global_loading": 1.0, "sampling": {"method": "importance"}}
    chosen = _run(doc)
    listed = lambda v: list(v) if isinstance(v, tuple) else v   # noqa: E731
    given = _run({**doc, "sampling": {"method": "importance", "shift": listed(chosen.sim.shift),
                                      "scale": listed(chosen.sim.scale)}})
    assert (given.sim.shift, given.sim.scale) == (chosen.sim.shift, chosen.sim.scale)
    for name in ("fund_payout", "total_loss", "log_weight"):
        assert np.array_equal(getattr(given.sim, name), getattr(chosen.sim, name)), name
    # a spread alone: no shift; a spread of 1 in every year is crude Monte Carlo
    alone = _run({**doc, "sampling": {"method": "importance", "scale": [1.5, 1.0]}})
    assert (alone.sim.shift, alone.sim.scale) == (0.0, (1.5, 1.0))
    assert alone.result.to_dict()["sampling"]["method"] == "importance"
    flat = _run({**doc, "sampling": {"method": "importance", "scale": 1}})
    assert flat.result.to_dict()["sampling"]["method"] == "crude"
