"""The stress engine's A3 step runs on the shared capped-running-sum kernel (risk.kernels) over rows
already sorted by (scenario, cap group). Its figures for one seed, with caps that bind in most
scenarios, are pinned to the ones the engine gave with its own capped sum before it moved to the
kernel (issue 10): the same seed must keep giving the same figures."""

from __future__ import annotations

import datetime as dt

from risk.engine import prepare, simulate
from risk.portfolio import CapBase, FundPosition, default_cap_base
from risk.scenario import parse_scenario
from risk.synthetic import synthetic_book

AS_OF = dt.date(2026, 3, 31)


def test_fixed_seed_figures_with_binding_caps_are_unchanged():
    book = synthetic_book(300, seed=11, as_of=AS_OF)
    scenario = parse_scenario({"name": "w", "horizon_years": 3, "copula": "t", "pd_multiplier": 3.0})
    fund = FundPosition(cash_fen=2_000_000_000, deferred_fen=0, appropriation_fen=(1_000_000_000,) * 3)
    tight = [CapBase(c.bank, c.policy, c.in_pool_lending_fen // 3, c.in_pool_lending_fen // 400) for c in default_cap_base(book)]
    prep, _ = prepare(book, scenario, tight, fund, as_of=AS_OF)
    result = simulate(prep, n_scenarios=2000, seed=7, batch=512, workers=1)
    assert int(result.cap_hit.sum()) == 1994
    assert int(result.fund_payout.sum()) == 8_091_395_583_264
    assert int(result.bank_share.sum()) == 73_875_941_666_461
    assert result.payout_by_year.sum(axis=0).tolist() == [2_956_313_546_861, 2_897_582_555_112, 2_237_499_481_291]
    assert int(result.net_by_year.min()) == -2_802_119_708
