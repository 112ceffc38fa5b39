"""`ipfund stress` end to end: scenarios, run (CSV and database book, --json clean on stdout,
--out files), export-portfolio, and one-line errors."""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from fund.cli.main import app
from risk.portfolio import BANKS_COLUMNS, OPTIONAL_BANKS_COLUMNS, PORTFOLIO_COLUMNS

runner = CliRunner()
HEADER = ",".join(PORTFOLIO_COLUMNS)
ROWS = [
    "L1,BANK1,new_energy_vehicles,gz-2023,50,0.05,1000000000,800000000,900000000,2029-06-30,bullet,500000000,invention_patent,",
    "L2,BANK2,other,gz-2023,50,,300000000,300000000,300000000,2028-01-31,straight_line,0,,",
    "L3,BANK1,rail_transit,gz-2020,5311,0.2,300000000,300000000,300000000,2028-01-31,straight_line,90000000,utility_model,10000000",
]
KEYS = ("total_loss_fen", "fund_payout_fen", "bank_share_fen", "insurer_share_fen", "recoveries_fen")


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def portfolio(tmp_path):
    path = tmp_path / "book.csv"
    path.write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8")
    return path


def test_scenarios_lists_one_line_each():
    result = invoke("stress", "scenarios")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    names = [line.split()[0] for line in lines]
    assert {"baseline", "recession", "nev_shock", "invalidation_wave", "fat_tails", "budget_freeze"} <= set(names)
    assert len(lines) == len(names)


def test_run_json_is_clean_on_stdout_and_complete(portfolio):
    result = invoke("stress", "run", "--scenario", "recession", "--portfolio", portfolio, "--scenarios", 3000,
                    "--seed", 4, "--as-of", "2026-10-31", "--fund-cash-fen", 100_000_000, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for key in KEYS:
        assert set(data[key]) == {"mean", "var", "es"}
        assert set(data[key]["var"]) == set(data[key]["es"]) == {"0.95", "0.99", "0.999"}
        low, high = data[key]["var"]["0.99"]["ci95"]
        assert low <= data[key]["var"]["0.99"]["value"] <= high
    assert len(data["fund_payout_by_year_fen"]) == 5
    assert 0 <= data["p_deferral"]["value"] <= 1 and 0 <= data["p_bank_cap_hit"]["value"] <= 1
    assert data["required_fund_fen"] >= 0
    low, high = data["p_deferral"]["ci95"]
    assert low <= data["p_deferral"]["value"] <= high
    # M5: the required fund size and p_deferral tell the same story about today's cash
    assert (data["p_deferral"]["value"] >= 0.01) == (data["required_fund_fen"] > 100_000_000)
    assert data["fund_payout_fen"]["mean"]["value"] <= data["total_loss_fen"]["mean"]["value"]
    assert set(data["by_bank"]) == {"BANK1", "BANK2"} and "new_energy_vehicles" in data["by_sector"]
    assert data["seed"] == 4 and data["n_scenarios"] == 3000 and data["timing"]["seconds"] > 0
    assert data["inputs"]["fund_cash_fen"] == 100_000_000 and data["inputs"]["scenario"]["name"] == "recession"
    assert data["inputs"]["appropriation_fen"][1] == 5_000_000_000   # gz-2023 in force in 2027
    again = invoke("stress", "run", "--scenario", "recession", "--portfolio", portfolio, "--scenarios", 3000,
                   "--seed", 4, "--as-of", "2026-10-31", "--fund-cash-fen", 100_000_000, "--json", "--workers", 2,
                   "--batch", 1000)
    other = json.loads(again.stdout)
    for volatile in ("timing", "workers", "batch"):
        other.pop(volatile), data.pop(volatile)
    assert other != data                  # another batch size is another stream of numbers
    assert other["inputs"] == data["inputs"]


def test_run_out_writes_json_plots_and_report(portfolio, tmp_path):
    out = tmp_path / "out"
    result = invoke("stress", "run", "--scenario", "budget_freeze", "--portfolio", portfolio, "--scenarios", 2000,
                    "--seed", 1, "--as-of", "2026-10-31", "--out", out)
    assert result.exit_code == 0, result.output
    for name in ("loss_histogram.png", "exceedance.png", "fund_cash_fan.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "result.json").read_text())["inputs"]["appropriation_fen"] == [0, 0, 0, 0, 0]
    assert (out / "report.md").read_text().startswith("# Stress test: budget_freeze")


def test_bad_portfolio_and_scenario_get_one_line(portfolio, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([HEADER, ROWS[0], ROWS[1].replace("300000000,300000000,300000000", "300000000,x,1")]) + "\n")
    result = invoke("stress", "run", "--scenario", "baseline", "--portfolio", bad, "--scenarios", 10, "--seed", 1)
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0
    assert "row 3, column 'covered_fen'" in result.stderr and result.stderr.startswith("error: ")
    scenario = tmp_path / "s.toml"
    scenario.write_text('name = "s"\nasset_correlation = 1.2\n')
    result = invoke("stress", "run", "--scenario", scenario, "--portfolio", portfolio, "--scenarios", 10, "--seed", 1)
    assert result.exit_code == 1 and result.stderr.strip().count("\n") == 0
    assert "'asset_correlation'" in result.stderr
    result = invoke("stress", "run", "--scenario", "baseline", "--portfolio", portfolio, "--scenarios", 0, "--seed", 1)
    assert result.exit_code == 1 and "scenarios must be" in result.stderr


def test_demo_book_export_and_recession_run(session_factory, tmp_path):
    from fund.services.demo import load_demo

    load_demo(session_factory, seed=1, scale=0.02)
    book, banks = tmp_path / "portfolio.csv", tmp_path / "banks.csv"
    result = invoke("stress", "export-portfolio", "--out", book, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    rows = list(csv.DictReader(book.open()))
    assert summary["loans"] == len(rows) > 0 and summary["as_of"] == "2026-10-31"
    assert tuple(rows[0]) == (*PORTFOLIO_COLUMNS, "drawdown_date")  # the optional column M1b takes terms from
    assert all(int(r["covered_fen"]) > 0 and 0 <= int(r["outstanding_fen"]) <= int(r["principal_fen"]) for r in rows)
    bank_rows = list(csv.DictReader(banks.open()))
    assert tuple(bank_rows[0]) == (*BANKS_COLUMNS, *OPTIONAL_BANKS_COLUMNS)  # and B2's reading on the as-of date
    assert {(r["bank"], r["policy"]) for r in bank_rows} == {(r["bank"], r["policy"]) for r in rows}

    out = tmp_path / "out"
    result = invoke("stress", "run", "--scenario", "recession", "--out", out, "--scenarios", 2000, "--seed", 3, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["inputs"]["n_loans"] == len(rows)
    assert data["inputs"]["fund_cash_fen"] == summary["fund_cash_fen"]
    assert json.loads((out / "result.json").read_text())["seed"] == 3
    assert all((out / name).stat().st_size > 0 for name in ("loss_histogram.png", "exceedance.png", "fund_cash_fan.png", "report.md"))
    # the same book from the CSV files gives the same figures
    from_files = invoke("stress", "run", "--scenario", "recession", "--portfolio", book, "--banks", banks,
                        "--scenarios", 2000, "--seed", 3, "--as-of", "2026-10-31",
                        "--fund-cash-fen", summary["fund_cash_fen"], "--deferred-fen", summary["deferred_fen"],
                        "--appropriation-fen", data["inputs"]["appropriation_fen"][1], "--json")
    assert from_files.exit_code == 0, from_files.output
    assert json.loads(from_files.stdout)["total_loss_fen"] == data["total_loss_fen"]


def test_compare_sweep_and_runs_on_a_portfolio_and_the_database(portfolio, session_factory, tmp_path):
    out = tmp_path / "cmp"
    result = invoke("stress", "compare", "--scenario", "baseline", "--scenario", "recession", "--portfolio", portfolio,
                    "--scenarios", 300, "--seed", 2, "--as-of", "2026-10-31", "--new-lending-fen", 0, "--out", out,
                    "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["scenarios"] == ["baseline", "recession"] and data["run_ids"] == [None, None]   # a file: not stored
    assert (out / "exceedance_overlay.png").read_bytes()[:4] == b"\x89PNG"
    assert "| fund_payout ES 0.999 |" in (out / "report.md").read_text()
    swept = invoke("stress", "sweep", "--scenario", "baseline", "--key", "pd_multiplier", "--values", "1,3",
                   "--portfolio", portfolio, "--scenarios", 200, "--seed", 2, "--as-of", "2026-10-31", "--json")
    assert swept.exit_code == 0, swept.output
    assert json.loads(swept.stdout)["scenarios"] == ["baseline pd_multiplier=1", "baseline pd_multiplier=3"]

    from fund.services.demo import load_demo

    load_demo(session_factory, seed=1, scale=0.02)
    stored = invoke("stress", "run", "--scenario", "run_off", "--scenarios", 100, "--seed", 4, "--json")
    assert stored.exit_code == 0, stored.output
    listed = invoke("stress", "runs", "--origin", "cli", "--json")
    assert listed.exit_code == 0, listed.output
    runs = json.loads(listed.stdout)
    assert runs[0]["scenario"] == "run_off" and runs[0]["status"] == "done" and runs[0]["seed"] == 4


def test_run_with_the_required_fund_keeps_p_deferral_under_one_percent(portfolio):
    """Same seed, same draws: cash at the reported required size gives p_deferral < 1%, one fen less
    does not (RULES M5, the starting fund size that keeps p_deferral under 1%)."""
    def run(cash):
        result = invoke("stress", "run", "--scenario", "recession", "--portfolio", portfolio, "--scenarios", 2000,
                        "--seed", 4, "--as-of", "2026-10-31", "--fund-cash-fen", cash, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    need = run(0)["required_fund_fen"]
    assert need > 0
    assert run(need)["p_deferral"]["value"] < 0.01
    assert run(need - 1)["p_deferral"]["value"] >= 0.01
