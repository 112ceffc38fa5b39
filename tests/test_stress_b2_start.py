"""B2 in the stress model starts from the book (docs/rules.md section 12, B2; section 8, M1): each
bank's count of approved covered losses under a policy (since its agreement or its last lift) starts
at its reading on the run date, not at zero, and a bank already suspended on the run date has its new
loans (M1b) uncovered from the first simulated year, while its earlier loans keep their coverage.

The engine tests use gz-2023 (suspension line 300 bp) and loans whose covered loss ``base`` is known
by hand; the service test reads the reading from the database the way the approval step does."""

from __future__ import annotations

import datetime as dt
import io
import math

import numpy as np
import pytest
from scipy import stats

from fund.domain.policy import shipped_policy
from risk.allocation import UNLIMITED
from risk.engine import prepare, run_chunk, simulate
from risk.portfolio import CapBase, FundPosition, PortfolioError, make_book, read_banks_csv
from risk.scenario import SECTORS, parse_scenario

AS_OF = dt.date(2026, 1, 1)
PRINCIPAL = 100_000_000


def _book(banks: list[str], per_bank: int, pd: float):
    """Equal bullet loans of gz-2023 scheme 50 with C = principal (so a default's B2 ``base`` is its
    exposure, 1 000 000 yuan), ``per_bank`` at each bank, in bank order."""
    n = len(banks) * per_bank
    cols = {
        "loan_id": [f"L{i}" for i in range(n)], "bank": [i // per_bank for i in range(n)],
        "sector": [SECTORS.index("other")] * n, "policy": [0] * n, "scheme": ["50"] * n, "pd": [pd] * n,
        "principal_fen": [PRINCIPAL] * n, "covered_fen": [PRINCIPAL] * n, "outstanding_fen": [PRINCIPAL] * n,
        "maturity_date": [dt.date(2036, 1, 1)] * n, "amortization": [False] * n, "ip_value_fen": [0] * n,
        "ip_kind": [-1] * n, "insurer_limit_fen": [UNLIMITED] * n,
    }
    return make_book(cols, tuple(banks), (shipped_policy("gz-2023"),))


def test_a_bank_near_its_line_is_suspended_sooner_than_one_with_no_prior_losses():
    """50 independent loans (rho 0) of PD 2%, in-pool lending 5 000 000 000 fen: the line is
    150 000 000. With no losses before the run two defaults pass it; with 140 000 000 already
    counted one does. So the share of scenarios suspended in the first year is P(at least 2 of 50)
    against P(at least 1 of 50), binomial."""
    book = _book(["BANK1"], 50, 0.02)
    scenario = parse_scenario({"name": "b2", "horizon_years": 1, "asset_correlation": 0.0})
    fund = FundPosition(cash_fen=10**12, deferred_fen=0, appropriation_fen=(0,))
    n = 6_000
    shares = {}
    for losses in (0, 140_000_000):
        base = [CapBase("BANK1", "gz-2023", 5_000_000_000, 0, b2_losses_fen=losses)]
        prep, inputs = prepare(book, scenario, base, fund, as_of=AS_OF, new_lending_fen=0)
        assert int(prep.line[0, 0]) == 150_000_000 and int(prep.b2_start[0]) == losses
        sim = simulate(prep, n_scenarios=n, seed=3)
        shares[losses] = float(sim.suspended.mean())
        assert inputs.b2_on_run_date == (() if losses == 0 else
                                         ({"bank": "BANK1", "policy": "gz-2023", "losses_fen": losses, "suspended": False},))
        # the suspension follows the defaults exactly: at least 2 (or 1) of this scenario's
        assert (sim.suspended == (sim.n_defaults >= (2 if losses == 0 else 1))).all()
    expected = {0: stats.binom.sf(1, 50, 0.02), 140_000_000: stats.binom.sf(0, 50, 0.02)}
    for losses, share in shares.items():
        se = math.sqrt(expected[losses] * (1 - expected[losses]) / n)
        assert abs(share - expected[losses]) < 5 * se, (losses, share, expected[losses])
    assert shares[140_000_000] > shares[0] + 0.3


def _two_banks(suspended_first: bool):
    """BANK1 and BANK2, 40 loans each of PD 10%, new lending each year (sampled from both banks);
    lending so large that no line is reached in the run: only a suspension on the run date acts."""
    book = _book(["BANK1", "BANK2"], 40, 0.10)
    scenario = parse_scenario({"name": "b2", "horizon_years": 3, "asset_correlation": 0.1})
    fund = FundPosition(cash_fen=10**12, deferred_fen=0, appropriation_fen=(0,) * 3)
    base = [CapBase("BANK1", "gz-2023", 10**14, 0, b2_losses_fen=900_000_000, suspended=suspended_first),
            CapBase("BANK2", "gz-2023", 10**14, 0)]
    prep, inputs = prepare(book, scenario, base, fund, as_of=AS_OF, new_lending_fen=3_000_000_000, seed=4)
    return book.size, prep, inputs


def test_a_bank_suspended_on_the_run_date_has_its_new_loans_uncovered():
    n_today, prep, inputs = _two_banks(suspended_first=True)
    assert prep.n_loans > n_today
    new = np.arange(prep.n_loans) >= n_today
    bank1 = prep.bank == 0
    assert (new & bank1).sum() > 0 and (new & ~bank1).sum() > 0
    assert inputs.b2_on_run_date == ({"bank": "BANK1", "policy": "gz-2023", "losses_fen": 900_000_000, "suspended": True},)
    # BANK1's new loans are not eligible: they add nothing to its in-pool lending (A3 room, B2 line)
    g1, g2 = int(prep.cap_group[bank1][0]), int(prep.cap_group[~bank1][0])
    assert len(set(prep.line[:, g1].tolist())) == 1 and len(set(prep.room[1:, g1].tolist())) == 1
    assert prep.line[-1, g2] > prep.line[0, g2]

    trace: list = []
    chunk = run_chunk(prep, np.random.SeedSequence(8), 400, trace=trace)
    loans = np.concatenate([t["loan"] for t in trace])
    assert not (new & bank1)[loans].any()                 # none of BANK1's new loans is claimed
    assert (~new & bank1)[loans].sum() > 100               # its loans of before the run keep their coverage
    assert (new & ~bank1)[loans].sum() > 50                # BANK2's new loans are covered
    assert not chunk.suspended.any()                       # no bank suspended in the run itself

    # the same draws without the suspension: BANK1's new loans default and are claimed
    _, free, _ = _two_banks(suspended_first=False)
    trace_free: list = []
    run_chunk(free, np.random.SeedSequence(8), 400, trace=trace_free)
    loans_free = np.concatenate([t["loan"] for t in trace_free])
    assert (new & bank1)[loans_free].sum() > 50

    # the draws are the same (no loan has IP value, so no recovery draw moves the stream): the
    # suspension only takes BANK1's new loans out, every other default is the same
    def pairs(tr, keep):
        return sorted((int(t["year"]), int(s), int(j)) for t in tr for s, j in zip(t["scenario"], t["loan"]) if keep[j])

    other = ~(new & bank1)
    assert pairs(trace, other) == pairs(trace_free, other)


def test_banks_csv_reads_b2s_reading():
    book = _book(["BANK1", "BANK2"], 2, 0.02)
    text = ("bank,policy,in_pool_lending_fen,cap_used_fen,b2_losses_fen,suspended\n"
            "BANK1,gz-2023,400000000,0,90000000,true\nBANK2,gz-2023,200000000,5,,\n")
    bases = {(b.bank, b.policy): b for b in read_banks_csv(io.StringIO(text), book)}
    assert (bases[("BANK1", "gz-2023")].b2_losses_fen, bases[("BANK1", "gz-2023")].suspended) == (90_000_000, True)
    assert (bases[("BANK2", "gz-2023")].b2_losses_fen, bases[("BANK2", "gz-2023")].suspended) == (0, False)
    # without the columns: nothing counted, nobody suspended
    plain = read_banks_csv(io.StringIO("bank,policy,in_pool_lending_fen,cap_used_fen\nBANK1,gz-2023,1,0\n"), book)
    assert all(b.b2_losses_fen == 0 and not b.suspended for b in plain)
    bad = io.StringIO("bank,policy,in_pool_lending_fen,cap_used_fen,suspended\nBANK1,gz-2023,1,0,maybe\n")
    bad.name = "banks.csv"
    with pytest.raises(PortfolioError, match=r"banks.csv: row 2, column 'suspended'"):
        read_banks_csv(bad, book)


# --------------------------------------------------------------------------------------------------
# from the database: the export carries B2's reading and the run's prepared inputs start there

from fund.adapters.db import unit_of_work  # noqa: E402
from tests.people_support import fast_passwords  # noqa: E402,F401  (fixture)
from tests.test_api_support import api  # noqa: E402,F401  (fixture)
from tests.test_claims_api import _decide, _file, on  # noqa: E402,F401  (fixture)
from tests.test_pool_api import _loan  # noqa: E402


def test_the_database_run_starts_from_each_banks_b2_reading(api, on, fast_passwords):
    """BANK1 (8 loans, line 240 000 000) is suspended by its third approved claim; BANK2 has one
    approved loss of 70 000 000. The stress inputs read both, and the prepared run starts there."""
    from fund.services.stress import database_inputs, export_portfolio

    day = dt.date(2026, 6, 1)
    on(day)
    bank1 = [_loan(api, "BANK1", dt.date(2026, 1, 15)) for _ in range(8)]
    bank2 = [_loan(api, "BANK2", dt.date(2026, 2, 1)) for _ in range(4)]
    for loan, loss in zip(bank1, (100_000_000, 90_000_000, 60_000_000)):   # 250 000 000 > 240 000 000
        _decide(api, _file(api, loan["id"], loss), "approve")
    _decide(api, _file(api, bank2[0]["id"], 70_000_000, who="BANK2"), "approve")
    with unit_of_work(api.session_factory) as session:
        rows = {(r["bank"], r["policy"]): r for r in export_portfolio(session, day).banks}
        inputs = database_inputs(session, day)
    assert (rows[("BANK1", "gz-2023")]["b2_losses_fen"], rows[("BANK1", "gz-2023")]["suspended"]) == (250_000_000, True)
    assert (rows[("BANK2", "gz-2023")]["b2_losses_fen"], rows[("BANK2", "gz-2023")]["suspended"]) == (70_000_000, False)
    bases = {(b.bank, b.policy): b for b in inputs.cap_base}
    assert (bases[("BANK1", "gz-2023")].b2_losses_fen, bases[("BANK1", "gz-2023")].suspended) == (250_000_000, True)

    scenario = parse_scenario({"name": "b2", "horizon_years": 2})
    fund = FundPosition(cash_fen=10**12, deferred_fen=0, appropriation_fen=(0, 0))
    prep, run_inputs = prepare(inputs.book, scenario, inputs.cap_base, fund, as_of=day, policies=inputs.active_policies,
                               new_lending_fen=2_000_000_000, seed=1)
    group_of = {}
    for i in range(inputs.book.size):
        group_of[inputs.book.bank_names[inputs.book.bank[i]]] = int(prep.cap_group[i])
    assert bool(prep.suspended_start[group_of["BANK1"]]) and not prep.suspended_start[group_of["BANK2"]]
    assert int(prep.b2_start[group_of["BANK1"]]) == 250_000_000 and int(prep.b2_start[group_of["BANK2"]]) == 70_000_000
    assert {(d["bank"], d["suspended"]) for d in run_inputs.b2_on_run_date} == {("BANK1", True), ("BANK2", False)}


def test_flag_array_and_sorted_keys_agree_with_suspensions(monkeypatch):
    """With the flag array, B2's uncovered loans are marked dead when their bank is suspended; the
    sorted keys drop them after the draw: the same figures, with a bank suspended on the run date and
    banks suspended in the run (BANK2's line is low here)."""
    import risk.engine as engine

    book = _book(["BANK1", "BANK2"], 40, 0.10)
    scenario = parse_scenario({"name": "b2", "horizon_years": 4, "asset_correlation": 0.2})
    fund = FundPosition(cash_fen=10**12, deferred_fen=0, appropriation_fen=(0,) * 4)
    base = [CapBase("BANK1", "gz-2023", 10**14, 0, suspended=True),
            CapBase("BANK2", "gz-2023", 8_000_000_000, 0, b2_losses_fen=100_000_000)]
    prep, _ = prepare(book, scenario, base, fund, as_of=AS_OF, new_lending_fen=3_000_000_000, seed=4)
    flags = simulate(prep, n_scenarios=1200, seed=6, batch=400)
    monkeypatch.setattr(engine, "DEAD_FLAG_LIMIT", 10)
    keys = simulate(prep, n_scenarios=1200, seed=6, batch=400)
    for name in engine._PER_SCENARIO + engine._SUMMED:
        np.testing.assert_array_equal(getattr(flags, name), getattr(keys, name), err_msg=name)
    assert 0.2 < flags.suspended.mean() < 1.0
