"""The stress engine: reproducibility (M6) and allocation (M4) against a claim-by-claim replay through
risk.allocation, with binding bank caps, deferrals, insurer limits and recoveries."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np
import pytest

from risk.allocation import CapBook, UNLIMITED, recovery_increment, split_loss
from risk.engine import _PER_SCENARIO, _SUMMED, chunk_plan, exposure_by_year, prepare, run_chunk, simulate
from risk.portfolio import CapBase, FundPosition, default_cap_base, make_book
from risk.scenario import SECTORS, parse_scenario
from risk.synthetic import shipped_policy, synthetic_book

AS_OF = dt.date(2026, 3, 31)


def _same(a, b) -> None:
    for name in _PER_SCENARIO + _SUMMED:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_same_seed_same_figures_with_one_and_two_workers():
    book = synthetic_book(400, seed=4, as_of=AS_OF)
    scenario = parse_scenario({"name": "w", "horizon_years": 3, "copula": "t", "pd_multiplier": 3.0})
    fund = FundPosition(cash_fen=2_000_000_000, deferred_fen=0, appropriation_fen=(1_000_000_000,) * 3)
    prep, _ = prepare(book, scenario, default_cap_base(book), fund, as_of=AS_OF)
    one = simulate(prep, n_scenarios=3000, seed=99, batch=512, workers=1)
    two = simulate(prep, n_scenarios=3000, seed=99, batch=512, workers=2, small_run=0)   # really two processes
    again = simulate(prep, n_scenarios=3000, seed=99, batch=512, workers=1)
    _same(one, two)
    _same(one, again)
    other = simulate(prep, n_scenarios=3000, seed=100, batch=512, workers=1)
    assert not np.array_equal(one.total_loss, other.total_loss)
    assert len(chunk_plan(3000, 512)) == 6


def test_exposure_bullet_and_straight_line():
    policy = shipped_policy("gz-2023")
    cols = {
        "loan_id": ["a", "b", "c"], "bank": [0, 0, 0], "sector": [0, 0, 0], "policy": [0, 0, 0],
        "scheme": ["50"] * 3, "pd": [0.1] * 3, "principal_fen": [1000, 1000, 1000], "covered_fen": [1000] * 3,
        "outstanding_fen": [1000, 1000, 900],
        "maturity_date": [dt.date(2028, 3, 31), dt.date(2028, 3, 31), dt.date(2027, 1, 1)],
        "amortization": [False, True, True], "ip_value_fen": [0] * 3, "ip_kind": [-1] * 3, "insurer_limit_fen": [-1] * 3,
    }
    book = make_book(cols, ("b",), (policy,))
    ead = exposure_by_year(book, AS_OF, 4)
    assert ead[:, 0].tolist() == [1000, 1000, 0, 0]          # bullet until maturity
    assert ead[:, 1].tolist() == [1000, 1000 * 366 // 731, 0, 0]   # straight line: days left / days in all
    assert ead[:, 2].tolist() == [900, 0, 0, 0]


def _replay_book():
    """Two policies: gz-2023 (cap 500 bp, scheme 50) and gz-2020 (no cap; schemes 5311 with insurer
    limits, 541, 55); three banks; odd amounts so every floor matters."""
    gz23, gz20 = shipped_policy("gz-2023"), shipped_policy("gz-2020")
    rng = np.random.default_rng(8)
    n = 120
    policy = (np.arange(n) % 3 == 0).astype(int)                      # 1: gz-2020
    scheme = [("5311", "541", "55")[i % 3] if p else "50" for i, p in enumerate(policy)]
    principal = rng.integers(10_000_000, 900_000_000, n) * 7 + 3
    covered = np.minimum(principal, (principal * rng.integers(3000, 10001, n)) // 10_000 + 1)
    limit = np.where((np.array(scheme) == "5311") & (rng.random(n) < 0.7), rng.integers(1_000_000, 50_000_000, n), UNLIMITED)
    cols = {
        "loan_id": [f"R{i}" for i in range(n)], "bank": (np.arange(n) % 3).tolist(),
        "sector": rng.integers(0, len(SECTORS), n).tolist(), "policy": policy.tolist(), "scheme": scheme,
        "pd": np.where(rng.random(n) < 0.5, rng.uniform(0.02, 0.2, n), math.nan).tolist(),
        "principal_fen": principal.tolist(), "covered_fen": covered.tolist(),
        "outstanding_fen": (principal - rng.integers(0, 1_000_000, n)).tolist(),
        "maturity_date": [dt.date(2027 + int(m), 1 + int(m), 15) for m in rng.integers(0, 4, n)],
        "amortization": (rng.random(n) < 0.5).tolist(),
        "ip_value_fen": (principal * rng.uniform(0, 2, n)).astype(np.int64).tolist(),
        "ip_kind": rng.integers(-1, 6, n).tolist(), "insurer_limit_fen": limit.tolist(),
    }
    cols["ip_value_fen"] = [v if k >= 0 else 0 for v, k in zip(cols["ip_value_fen"], cols["ip_kind"])]
    return make_book(cols, ("BANK1", "BANK2", "BANK3"), (gz23, gz20))


@pytest.mark.parametrize("lag", [0, 1])
def test_allocation_agrees_to_the_fen_with_claim_by_claim_replay(lag):
    book = _replay_book()
    scenario = parse_scenario({"name": "replay", "horizon_years": 4, "pd_multiplier": 2.0, "asset_correlation": 0.3,
                               "collateral": {"recovery_lag_years": lag}})
    cap_base = [CapBase(c.bank, c.policy, c.in_pool_lending_fen // 3, c.in_pool_lending_fen // 400) for c in default_cap_base(book)]
    fund = FundPosition(cash_fen=0, deferred_fen=123_456_789, appropriation_fen=(0, 8_000_000_001, 0, 12_000_000_003))
    prep, _ = prepare(book, scenario, cap_base, fund, as_of=AS_OF)
    trace: list = []
    chunk = run_chunk(prep, np.random.SeedSequence(5), 300, trace=trace)
    assert chunk.cap_hit.any() and (chunk.net_by_year < 0).any() and (chunk.net_by_year > 0).any()
    assert chunk.recoveries.sum() > 0 and chunk.insurer_share.sum() > 0

    bases = {(c.bank, c.policy): c for c in cap_base}
    ratios = [book.policies[p].scheme(s).ratios_bp for p, s in zip(book.policy.tolist(), book.scheme)]
    for s in range(300):
        ledger = CapBook(cash_fen=0, deferred=[["today", fund.deferred_fen]],
                         used_fen={(bank, pol, 0): c.cap_used_fen for (bank, pol), c in bases.items()})
        pending: dict[int, list] = {}
        loss = fund_total = bank_total = insurer_total = recovered_total = 0
        cut_any = False
        for k in range(prep.horizon):
            if k > 0:
                ledger.inflow(int(prep.appropriation[k]))
            year = next((t for t in trace if t["year"] == k), None)
            paid_this_year = 0
            if year is not None:
                mine = np.flatnonzero(year["scenario"] == s)
                mine = mine[np.argsort(year["loan"][mine], kind="stable")]     # portfolio order
                for i in mine:
                    j = int(year["loan"][i])
                    L = int(prep.ead[k, j])
                    limit = int(book.insurer_limit_fen[j])
                    split = split_loss(L, int(book.covered_fen[j]), int(book.principal_fen[j]), ratios[j],
                                       None if limit == UNLIMITED else limit)
                    bank, pol = book.bank_names[book.bank[j]], book.policies[book.policy[j]]
                    approval = ledger.approve(split, key=(bank, pol.id, k),
                                              in_pool_lending_fen=bases[(bank, pol.id)].in_pool_lending_fen,
                                              cap_bp=pol.bank_annual_cap_bp, tag=(k, j))
                    cut_any |= approval.split.fund_cut_fen > 0
                    paid_this_year += approval.split.fund_fen
                    loss += L
                    fund_total += approval.split.fund_fen
                    bank_total += approval.split.bank_fen
                    insurer_total += approval.split.insurer_fen
                    net = int(year["recovered"][i])
                    if net > 0 and k + lag < prep.horizon:
                        pending.setdefault(k + lag, []).append((net, L, approval.split.shares()))
                        recovered_total += net
            for net, L, shares in pending.get(k, []):
                ledger.inflow(recovery_increment(0, net, L, shares)["fund"])
            assert chunk.payout_by_year[s, k] == paid_this_year
            position = int(chunk.net_by_year[s, k])
            assert (ledger.cash_fen, ledger.deferred_fen) == (max(position, 0), max(-position, 0)), (s, k)
        assert (chunk.total_loss[s], chunk.fund_payout[s], chunk.bank_share[s], chunk.insurer_share[s]) == \
            (loss, fund_total, bank_total, insurer_total)
        assert chunk.recoveries[s] == recovered_total
        assert bool(chunk.cap_hit[s]) == cut_any


def test_defaulted_loans_do_not_default_again_and_matured_loans_cannot_default():
    book = synthetic_book(300, seed=6, as_of=AS_OF)
    scenario = parse_scenario({"name": "hot", "horizon_years": 6, "pd_multiplier": 20.0})
    prep, _ = prepare(book, scenario, default_cap_base(book), FundPosition(10**12, 0, (0,) * 6), as_of=AS_OF)
    trace: list = []
    run_chunk(prep, np.random.SeedSequence(1), 200, trace=trace)
    seen = set()
    for year in trace:
        assert (prep.ead[year["year"], year["loan"]] > 0).all()
        pairs = set(zip(year["scenario"].tolist(), year["loan"].tolist()))
        assert len(pairs) == year["loan"].size and not pairs & seen
        seen |= pairs


def test_pd_one_defaults_every_loan_in_year_one_and_pd_zero_never():
    book = synthetic_book(50, seed=2, as_of=AS_OF)
    for pd, expected in ((1.0, 50), (0.0, 0)):
        changed = dataclasses.replace(book, pd=np.full(50, pd))
        prep, _ = prepare(changed, parse_scenario({"name": "x", "horizon_years": 2}), default_cap_base(changed),
                          FundPosition(0, 0, (0, 0)), as_of=AS_OF)
        sim = simulate(prep, n_scenarios=100, seed=1)
        assert (sim.n_defaults == expected).all()
        assert (sim.payout_by_year[:, 1] == 0).all()
