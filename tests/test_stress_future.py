"""The fund's future in the stress model (RULES M1, M1b) and the database path of a run: the demo
book's baseline pays in every year of the horizon, a budget freeze differs from it, the database's
book and its exported CSV give identical figures for one seed, runs are stored and listed."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from fund.services import stress as service
from simulations.library import resolve_scenario

SCENARIOS, SEED = 400, 11


@pytest.fixture
def demo_db(session_factory):
    from fund.services.demo import load_demo

    load_demo(session_factory, seed=1, scale=0.02)
    return session_factory


def _run(db, name: str, **options) -> service.RunOutcome:
    request = service.StressRequest(scenario=resolve_scenario(name), n_scenarios=SCENARIOS, seed=SEED, **options)
    return service.run(db, request)


def test_baseline_pays_every_year_and_budget_freeze_differs(demo_db):
    baseline = _run(demo_db, "baseline")
    payout_by_year = baseline.sim.payout_by_year.mean(axis=0)
    assert (payout_by_year > 0).all(), payout_by_year
    assert all(n > 0 for n in baseline.result.inputs.new_loans_by_year)
    # M1: the appropriation goes on after gz-2023 ends (2028-01-18), a successor being assumed
    assert all(a > 0 for a in baseline.result.inputs.appropriation_fen[1:])
    freeze = _run(demo_db, "budget_freeze")
    assert freeze.result.inputs.appropriation_fen[1:] == (0,) * 4
    # same draws, less money: the pool's position differs every year from year 2 on
    assert (freeze.sim.net_by_year[:, 1:] < baseline.sim.net_by_year[:, 1:]).all()
    assert freeze.result.to_dict()["fund_cash_by_year_fen"] != baseline.result.to_dict()["fund_cash_by_year_fen"]
    run_off = _run(demo_db, "run_off")
    assert run_off.result.inputs.new_loans_by_year == (0,) * 5
    assert run_off.sim.payout_by_year.mean(axis=0)[-1] < payout_by_year[-1]


def test_after_policy_end_stop_ends_appropriation_and_new_coverage(demo_db):
    from risk.scenario import parse_scenario, scenario_document

    document = scenario_document(resolve_scenario("baseline"))
    document["fund"] = {"after_policy_end": "stop"}
    request = service.StressRequest(scenario=parse_scenario(document), n_scenarios=50, seed=SEED)
    outcome = service.run(demo_db, request, record=False)
    inputs = outcome.result.inputs
    # gz-2023 ends 2028-01-18: the years starting 2028-10-31 on get nothing
    assert inputs.appropriation_fen[2:] == (0, 0, 0) and inputs.new_loans_by_year[2:] == (0, 0, 0)
    assert inputs.new_loans_by_year[0] > 0


def test_database_path_and_its_exported_csv_give_identical_results(demo_db, tmp_path):
    from fund.adapters.db import unit_of_work
    from risk.portfolio import write_banks_csv, write_portfolio_csv

    database = _run(demo_db, "recession")
    with unit_of_work(demo_db) as session:
        as_of = dt.date.fromisoformat(database.result.inputs.as_of)
        export = service.export_portfolio(session, as_of)
        cash, deferred = service.fund_position_from_ledger(session)
    write_portfolio_csv(export.portfolio, tmp_path / "book.csv")
    write_banks_csv(export.banks, tmp_path / "banks.csv")
    request = service.StressRequest(scenario=resolve_scenario("recession"), n_scenarios=SCENARIOS, seed=SEED,
                                    as_of=as_of, fund_cash_fen=cash, deferred_fen=deferred)
    from_file = service.run(None, request, portfolio=tmp_path / "book.csv", banks=tmp_path / "banks.csv")
    a, b = database.result.to_dict(), from_file.result.to_dict()
    for data in (a, b):
        data.pop("timing")
    assert a == b
    assert np.array_equal(database.sim.fund_payout, from_file.sim.fund_payout)


def test_runs_are_stored_with_their_inputs_and_listed(demo_db):
    first = _run(demo_db, "baseline")
    second = _run(demo_db, "run_off")
    listed = service.list_runs(demo_db, origin="cli")
    assert [r.id for r in listed[:2]] == [second.run_id, first.run_id]
    assert listed[0].request["scenario"]["name"] == "run_off" and listed[0].status == "done"
    assert [r.id for r in service.list_runs(demo_db, scenario="baseline")] == [first.run_id]
    assert [r.id for r in service.list_runs(demo_db, before_id=second.run_id)] == [first.run_id]
    assert service.run_result(demo_db, first.run_id)["seed"] == SEED
    content, media = service.run_plot(demo_db, first.run_id, "tail_convergence.png")
    assert media == "image/png" and content.startswith(b"\x89PNG")


def test_compare_on_common_random_numbers_and_sweep(demo_db):
    request = service.StressRequest(scenario=resolve_scenario("baseline"), n_scenarios=200, seed=SEED)
    comparison = service.compare(demo_db, [resolve_scenario("baseline"), resolve_scenario("budget_freeze")], request)
    base, freeze = comparison.outcomes
    # the same draws: gross losses are identical, only the money differs
    assert np.array_equal(base.sim.total_loss, freeze.sim.total_loss)
    table = {row["figure"]: row for row in comparison.table()}
    assert set(table["fund_payout ES 0.999"]) == {"figure", "baseline", "budget_freeze"}
    assert table["p_deferral"]["budget_freeze"]["value"] >= table["p_deferral"]["baseline"]["value"]
    files = service.comparison_outputs(comparison)
    assert files["exceedance_overlay.png"].startswith(b"\x89PNG") and b"| fund_payout ES 0.999 |" in files["report.md"]
    assert {r.label for r in service.list_runs(demo_db, label=comparison.label)} == {comparison.label}

    swept = service.sweep(demo_db, resolve_scenario("baseline"), "pd_multiplier", ["1", "2"], request)
    low, high = swept.outcomes
    assert low.result.scenario == "baseline pd_multiplier=1"
    assert high.result.measures["total_loss_fen"].mean.value > low.result.measures["total_loss_fen"].mean.value


def test_report_warns_when_every_figure_is_zero(tmp_path):
    import datetime as dt

    from risk.engine import oracle_book, prepare, simulate
    from risk.portfolio import FundPosition, default_cap_base
    from risk.scenario import parse_scenario
    from risk.stress_result import summarise
    from simulations.report import markdown_report

    book = oracle_book(20, pd=0.0)
    scenario = parse_scenario({"name": "calm", "horizon_years": 1})
    prep, inputs = prepare(book, scenario, default_cap_base(book), FundPosition(0, 0, (0,)), as_of=dt.date(2026, 1, 1))
    sim = simulate(prep, n_scenarios=100, seed=1)
    report = markdown_report(summarise(sim, scenario_name="calm", bank_names=book.bank_names, inputs=inputs))
    assert "**Warning:** Every figure is zero" in report
    assert "ES 99.9%" in report and "Sector PDs" in report
