"""RULES M6b: importance sampling of the global factor with an automatic shift. Under it the M7
oracle's tail matches the exact Vasicek mixture, and crude and weighted estimates agree within their
intervals."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from risk.engine import choose_shift, oracle_prepared, simulate
from risk.stress_result import summarise
from risk.stress_stats import LEVELS, measures, normalised_weights, weighted_measures
from tests.test_stress_oracle import assert_weighted_tail_matches, vasicek_pmf

N, PD, RHO, PRINCIPAL = 500, 0.02, 0.15, 100_000_001


@pytest.fixture(scope="module")
def prepared():
    # global loading 1: the sector factor is the global factor G, which M6b shifts
    return oracle_prepared(n_loans=N, pd=PD, rho=RHO, principal_fen=PRINCIPAL, global_loading=1.0)


@pytest.fixture(scope="module")
def weighted_run(prepared):
    shift = choose_shift(prepared, seed=3)
    return simulate(dataclasses.replace(prepared, shift=shift), n_scenarios=6000, seed=3)


def test_the_automatic_shift_moves_the_tail_into_the_sample(weighted_run):
    assert -3.0 <= weighted_run.shift <= -1.0
    w = normalised_weights(weighted_run.log_weight)
    # the fund payout's 99.9% VaR moved from the last 0.1% into the body of the shifted sample
    var999 = weighted_measures(weighted_run.fund_payout, w).var["0.999"].value
    assert 0.5 <= (weighted_run.fund_payout <= var999).mean() <= 0.99


def test_under_importance_sampling_the_oracle_tail_matches_the_exact_mixture(weighted_run):
    assert_weighted_tail_matches(vasicek_pmf(N, PD, RHO), weighted_run, PRINCIPAL)


def test_crude_and_weighted_estimates_agree_within_their_intervals(prepared, weighted_run):
    crude = simulate(prepared, n_scenarios=20_000, seed=4)
    a = measures(crude.fund_payout)
    b = weighted_measures(weighted_run.fund_payout, normalised_weights(weighted_run.log_weight))
    pairs = [(a.mean, b.mean)] + [(a.es[x], b.es[x]) for x in LEVELS] + [(a.var[x], b.var[x]) for x in ("0.95", "0.99")]
    for crude_estimate, weighted_estimate in pairs:
        assert crude_estimate.low <= weighted_estimate.high and weighted_estimate.low <= crude_estimate.high, \
            (crude_estimate, weighted_estimate)
    # and the weighted interval of the far tail is the narrower one, at fewer than a third of the scenarios
    assert b.es["0.999"].half_width < a.es["0.999"].half_width


def test_weighted_result_reports_the_shift_and_stays_a_probability(weighted_run):
    result = summarise(weighted_run, scenario_name="is", bank_names=("bank-1",), inputs=None).to_dict()
    assert result["sampling"]["method"] == "importance" and result["sampling"]["shift"] == weighted_run.shift
    assert 0 < result["sampling"]["effective_scenarios"] < 6000
    assert 0.0 <= result["p_deferral"]["value"] <= 1.0


def test_scenario_asks_for_importance_sampling():
    from risk.scenario import ScenarioError, parse_scenario

    s = parse_scenario({"name": "x", "sampling": {"method": "importance"}})
    assert s.sampling.method == "importance" and s.sampling.shift is None
    assert parse_scenario({"name": "x", "sampling": {"method": "importance", "shift": -2.0}}).sampling.shift == -2.0
    with pytest.raises(ScenarioError, match="sampling.shift"):
        parse_scenario({"name": "x", "sampling": {"shift": 1.0}})
