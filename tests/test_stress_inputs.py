"""Scenario files and portfolio/banks CSV files: checked, and a bad one gets one clear line."""

from __future__ import annotations

import io
import math

import pytest

from fund.domain.policy import load_policy_file, shipped_policy_paths
from risk.portfolio import PORTFOLIO_COLUMNS, PortfolioError, read_banks_csv, read_portfolio_csv
from risk.scenario import SECTORS, ScenarioError, load_scenario_file, load_stress_assumptions, parse_scenario
from simulations.library import resolve_scenario, shipped_scenarios

POLICIES = {p.id: p for p in (load_policy_file(path) for path in shipped_policy_paths())}
HEADER = ",".join(PORTFOLIO_COLUMNS)
GOOD = [
    "L1,BANK1,new_energy_vehicles,gz-2023,50,0.03,1000000000,800000000,900000000,2029-06-30,bullet,500000000,invention_patent,",
    "L2,BANK2,other,gz-2020,5311,,300000000,300000000,300000000,2028-01-31,straight_line,0,,10000000",
]


def _csv(*rows: str, header: str = HEADER) -> io.StringIO:
    handle = io.StringIO("\n".join((header, *rows)) + "\n")
    handle.name = "book.csv"
    return handle


def test_shipped_scenarios_load_and_say_what_they_are():
    by_name = {s.name: s for s in shipped_scenarios()}
    assert set(by_name) >= {"baseline", "recession", "nev_shock", "invalidation_wave", "fat_tails", "budget_freeze"}
    assert by_name["recession"].pd_multiplier == 2.5 and by_name["recession"].collateral.value_multiplier == 0.6
    assert by_name["recession"].asset_correlation > by_name["baseline"].asset_correlation
    assert by_name["nev_shock"].sector_multiplier("new_energy_vehicles") > 1
    assert by_name["invalidation_wave"].collateral.invalidation_multiplier > 1
    assert by_name["fat_tails"].copula == "t" and by_name["fat_tails"].t_degrees_of_freedom == 4
    assert by_name["budget_freeze"].annual_appropriation_fen == 0
    assert all(s.description and "\n" not in s.description for s in by_name.values())


def test_sector_pds_are_placeholders_for_every_sector():
    a = load_stress_assumptions()
    assert set(a.sector_pd) == set(SECTORS) and set(a.status.values()) == {"placeholder"}


@pytest.mark.parametrize("document, key", [
    ({"name": "x", "asset_correlation": 1.0}, "asset_correlation"),
    ({"name": "x", "asset_correlation": -0.1}, "asset_correlation"),
    ({"name": "x", "global_loading": 1.5}, "global_loading"),
    ({"name": "x", "t_degrees_of_freedom": 2}, "t_degrees_of_freedom"),
    ({"name": "x", "pd_multiplier": -1}, "pd_multiplier"),
    ({"name": "x", "copula": "clayton"}, "copula"),
    ({"name": "x", "horizon_years": 0}, "horizon_years"),
    ({"name": "x", "horizon_years": 2.5}, "horizon_years"),
    ({"name": "x", "sector_pd_multiplier": {"shipbuilding": 2.0}}, "sector_pd_multiplier.shipbuilding"),
    ({"name": "x", "sector_pd_multiplier": {"other": -2.0}}, "sector_pd_multiplier.other"),
    ({"name": "x", "collateral": {"volatility": -0.1}}, "collateral.volatility"),
    ({"name": "x", "collateral": {"global_loading": 2}}, "collateral.global_loading"),
    ({"name": "x", "collateral": {"value_multiplier": -1}}, "collateral.value_multiplier"),
    ({"name": "x", "collateral": {"recovery_lag_years": -1}}, "collateral.recovery_lag_years"),
    ({"name": "x", "collateral": {"invalidation_multiplier": "high"}}, "collateral.invalidation_multiplier"),
    ({"name": "x", "fund": {"annual_appropriation_fen": 1.5}}, "fund.annual_appropriation_fen"),
    ({"name": "x", "speed": 3}, "speed"),
    ({"description": "no name"}, "name"),
])
def test_bad_scenario_names_the_key(document, key):
    with pytest.raises(ScenarioError) as info:
        parse_scenario(document)
    message = str(info.value)
    assert repr(key) in message and "\n" not in message


def test_bad_scenario_file_gets_one_line_naming_file_and_key(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('name = "mine"\n[collateral]\ninvalidation_multiplier = 7.0\n', encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario_file(path)
    message = str(info.value)
    assert str(path) in message and "'collateral.invalidation_multiplier'" in message and "\n" not in message
    path.write_text('name = "mine"\nhorizon_years = \n', encoding="utf-8")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario_file(path)
    with pytest.raises(ScenarioError, match="unknown scenario 'nope'"):
        resolve_scenario("nope")


def test_good_portfolio_reads_into_arrays():
    book = read_portfolio_csv(_csv(*GOOD), POLICIES)
    assert book.size == 2 and book.bank_names == ("BANK1", "BANK2")
    assert [p.id for p in book.policies] == ["gz-2023", "gz-2020"]
    assert book.pd[0] == 0.03 and math.isnan(book.pd[1])
    assert book.straight_line.tolist() == [False, True]
    assert book.insurer_limit_fen.tolist() == [-1, 10_000_000]
    assert book.ratios_bp("insurer").tolist() == [0, 3000]
    banks = read_banks_csv(_csv("BANK1,gz-2023,20000000000,5", header="bank,policy,in_pool_lending_fen,cap_used_fen"), book)
    assert {(b.bank, b.policy): (b.in_pool_lending_fen, b.cap_used_fen) for b in banks} == {
        ("BANK1", "gz-2023"): (20_000_000_000, 5), ("BANK2", "gz-2020"): (300_000_000, 0)}


def test_policy_column_may_be_left_out_in_favour_of_a_default():
    header = ",".join(c for c in PORTFOLIO_COLUMNS if c != "policy")
    row = GOOD[0].replace(",gz-2023,", ",")
    assert read_portfolio_csv(_csv(row, header=header), POLICIES, default_policy="gz-2023").policies[0].id == "gz-2023"
    with pytest.raises(PortfolioError, match="row 2, column 'policy'"):
        read_portfolio_csv(_csv(row, header=header), POLICIES)


@pytest.mark.parametrize("row, column", [
    (GOOD[0].replace("800000000", "8e8"), "covered_fen"),
    (GOOD[0].replace("800000000", "1000000001"), "covered_fen"),
    (GOOD[0].replace("new_energy_vehicles", "shipbuilding"), "sector"),
    (GOOD[0].replace(",0.03,", ",1.5,"), "pd"),
    (GOOD[0].replace(",0.03,", ",high,"), "pd"),
    (GOOD[0].replace("2029-06-30", "30/06/2029"), "maturity_date"),
    (GOOD[0].replace("bullet", "balloon"), "amortization"),
    (GOOD[0].replace("invention_patent", ""), "ip_kind"),
    (GOOD[0].replace(",50,", ",5311,"), "scheme"),
    (GOOD[0].replace("gz-2023", "gz-1999"), "policy"),
    (GOOD[0].replace("L1,", "L2,"), "loan_id"),
    (GOOD[0].replace("1000000000,800000000,900000000", "0,0,0"), "principal_fen"),
])
def test_bad_portfolio_row_gets_one_line_naming_row_and_column(row, column):
    with pytest.raises(PortfolioError) as info:
        read_portfolio_csv(_csv(GOOD[1], row), POLICIES)
    message = str(info.value)
    assert message.startswith("book.csv: row 3, column ") and repr(column) in message and "\n" not in message


def test_bad_portfolio_file_shape():
    with pytest.raises(PortfolioError, match="missing column 'covered_fen'"):
        read_portfolio_csv(_csv(header=HEADER.replace("covered_fen,", "")), POLICIES)
    with pytest.raises(PortfolioError, match="unknown column 'colour'"):
        read_portfolio_csv(_csv(header=HEADER + ",colour"), POLICIES)
    with pytest.raises(PortfolioError, match="no loans"):
        read_portfolio_csv(_csv(), POLICIES)
    with pytest.raises(PortfolioError, match="cannot read"):
        read_portfolio_csv("/nonexistent/book.csv", POLICIES)


def test_bad_banks_row_names_row_and_column():
    book = read_portfolio_csv(_csv(*GOOD), POLICIES)
    with pytest.raises(PortfolioError, match=r"banks.csv: row 2, column 'cap_used_fen'"):
        bad = _csv("BANK1,gz-2023,100,-5", header="bank,policy,in_pool_lending_fen,cap_used_fen")
        bad.name = "banks.csv"
        read_banks_csv(bad, book)
