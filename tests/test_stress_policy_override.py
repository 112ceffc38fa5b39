"""A scenario's ``[policy_override]`` (issue 15, point 5): scheme ratios, the A3 bank cap, the
single-loan cap and the B2 suspension line change the figures through the same allocation code."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from risk.engine import prepare, run_chunk, simulate
from risk.portfolio import FundPosition, default_cap_base
from risk.scenario import ScenarioError, parse_scenario
from risk.synthetic import synthetic_book

AS_OF = dt.date(2026, 1, 1)


@pytest.fixture(scope="module")
def book():
    return synthetic_book(400, seed=5, as_of=AS_OF)


def _sim(book, override: dict | None = None, *, new_lending_fen: int = 0, n: int = 400):
    doc = {"name": "w", "horizon_years": 3, "pd_multiplier": 3.0}
    if override:
        doc["policy_override"] = override
    scenario = parse_scenario(doc)
    prep, _ = prepare(book, scenario, default_cap_base(book), FundPosition(10**12, 0, (0, 0, 0)), as_of=AS_OF,
                      new_lending_fen=new_lending_fen, seed=1)
    return prep, simulate(prep, n_scenarios=n, seed=3)


def test_scheme_ratio_override_goes_through_the_a2_split(book):
    _, base = _sim(book)
    _, lower = _sim(book, {"schemes": {"50": {"fund": 3000, "bank": 7000}}})
    # the same draws: the same defaults, the fund's share follows the new ratio
    assert np.array_equal(base.total_loss, lower.total_loss)
    assert (lower.fund_payout <= base.fund_payout).all() and lower.fund_payout.sum() < 0.7 * base.fund_payout.sum()
    assert np.array_equal(lower.bank_share + lower.fund_payout, base.bank_share + base.fund_payout)


def test_bank_cap_override_cuts_fund_shares_as_a3(book):
    _, base = _sim(book)
    _, tight = _sim(book, {"bank_annual_cap_bp": 50})
    assert tight.cap_hit.mean() > base.cap_hit.mean()
    assert (tight.fund_payout <= base.fund_payout).all() and np.array_equal(tight.total_loss, base.total_loss)


def test_single_loan_cap_override_lowers_coverage(book):
    prep, capped = _sim(book, {"single_loan_cap_fen": 200_000_000})
    assert prep.fund_raw.max() <= 100_000_000       # half of at most 2 million yuan covered
    _, base = _sim(book)
    assert capped.fund_payout.sum() < base.fund_payout.sum()


def test_suspension_line_stops_new_loans_of_a_suspended_bank(book):
    # gz-2023 ships a 300 bp line (docs/rules.md section 12, B2), so "no line" is a line no book can
    # pass: approved covered losses never exceed 100% of in-pool lending.
    _, open_line = _sim(book, {"bank_suspension_line_bp": 10000}, new_lending_fen=10**11)
    _, strict = _sim(book, {"bank_suspension_line_bp": 1}, new_lending_fen=10**11)
    assert strict.suspended.mean() > 0.5 and not open_line.suspended.any()
    # today's loans keep their cover; later years lose the suspended banks' new loans
    assert np.array_equal(strict.payout_by_year[:, 0], open_line.payout_by_year[:, 0])
    assert strict.payout_by_year[:, 1:].sum() < open_line.payout_by_year[:, 1:].sum()


def test_bad_override_names_the_key():
    with pytest.raises(ScenarioError, match="policy_override.schemes.50"):
        parse_scenario({"name": "x", "policy_override": {"schemes": {"50": {"fund": 6000, "bank": 5000}}}})
    with pytest.raises(ScenarioError, match="policy_override.colour"):
        parse_scenario({"name": "x", "policy_override": {"colour": 1}})
