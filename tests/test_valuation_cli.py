"""`ipfund value asset` through the real console app (fund.cli.main.app)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from fund.cli.main import app

EXAMPLE = [
    "value", "asset", "--kind", "invention_patent", "--filing-date", "2018-05-10", "--as-of", "2026-11-25",
    "--revenue-fen", "5000000000", "--growth-bp", "500", "--royalty-bp", "300", "--tax-bp", "1500",
    "--discount-bp", "1400", "--decay-bp", "800",
]


def run(args):
    return CliRunner().invoke(app, args)


def with_option(option, value):
    args = list(EXAMPLE)
    args[args.index(option) + 1] = value
    return args


def test_json_output_carries_the_worked_example():
    result = run(EXAMPLE + ["--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["value_fen"] == 572_743_127
    assert document["collateral_value_fen"] == 217_642_388
    assert document["life_years"] == 10 and document["life_reason"] == "economic life cap"
    assert len(document["cash_flows_fen"]) == 10 and all(isinstance(c, int) for c in document["cash_flows_fen"])
    assert document["inputs"]["growth_bp"] == 500 and document["inputs"]["kind"] == "invention_patent"


def test_table_output_shows_value_in_yuan():
    result = run(EXAMPLE)
    assert result.exit_code == 0, result.output
    assert "5,727,431.27" in result.stdout and "2,176,423.88" in result.stdout
    assert "economic life cap" in result.stdout


def test_trademark_uses_its_registration_date():
    args = with_option("--kind", "trademark") + ["--registration-date", "2019-01-01", "--json"]
    result = run(args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["legal_term_end"] == "2029-01-01"


def test_legal_status_not_valid_is_worth_nothing():
    result = run(EXAMPLE + ["--legal-status", "invalidated", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (document["value_fen"], document["life_reason"], document["cash_flows_fen"]) == (0, "not valid", [])


@pytest.mark.parametrize(
    "args, message",
    [
        (with_option("--decay-bp", "10000"), "error: decay must be in [0, 1)"),
        (with_option("--growth-bp", "-10000"), "error: growth must be > -1"),
        (with_option("--royalty-bp", "abc"), "error: --royalty-bp must be an integer"),
        (with_option("--as-of", "2026-13-01"), "error: --as-of must be a date YYYY-MM-DD"),
        (with_option("--as-of", "2018-05-09"), "error: filing_date must be on or before as_of"),
        (with_option("--kind", "copyright"), "error: kind must be one of"),
        (with_option("--kind", "trademark"), "error: registration_date is required for a trademark"),
    ],
)
def test_errors_are_one_plain_line_and_exit_1(args, message):
    result = run(args)
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr


@pytest.mark.db
def test_revalue_and_coverage_commands_on_a_database(session_factory):
    import datetime as dt

    from fund.adapters.db import unit_of_work
    from fund.adapters.models.valuation import AssetValuation
    from fund.services.registry import register_loan
    from sqlalchemy import delete
    from tests.factories import application, asset, setup_reference, uscc

    inputs = dict(revenue_fen=5_000_000_000, growth_bp=500, royalty_bp=300, tax_bp=1500, discount_bp=1400, decay_bp=800)
    with unit_of_work(session_factory) as s:
        actors = setup_reference(s)
        register_loan(s, actors["BANK1"], application(assets=(asset(owner_credit_code=uscc(1), valuation_inputs=inputs),)),
                      dt.date(2026, 10, 31))
        s.execute(delete(AssetValuation))
    before = json.loads(run(["value", "coverage", "--json"]).stdout)
    assert before["total"]["appraisal_based_assets"] == 1

    result = run(["value", "revalue", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["as_of"] == "2026-10-31" and document["assets_valued"] == 1 and document["skipped"] == []
    after = json.loads(run(["value", "coverage", "--json"]).stdout)
    assert after["total"]["model_valued_assets"] == 1
    assert after["total"]["collateral_value_fen"] == document["collateral_value_fen"] != before["total"]["collateral_value_fen"]
    table = run(["value", "revalue", "--as-of", "2026-10-30"])
    assert table.exit_code == 0 and "assets valued" in table.stdout

    late = run(["value", "revalue", "--as-of", "2026-11-01"])
    assert late.exit_code == 1 and late.stderr.startswith("error: as_of 2026-11-01 is after the business date")
