"""Each bank's loss ratio against the suspension line (docs/rules.md section 12, B2) in the fund report:
the service, ``GET /api/v1/reports/fund`` and ``ipfund report fund``, on both backends. The figures are
the ones the approval step measures suspension with (``fund.services.pool.loss_ratios``): RULES 10's
suspension example, before and after the approval that passes the line, and after the lift."""

from __future__ import annotations

import datetime as dt
import json

from typer.testing import CliRunner

from fund.adapters.db import unit_of_work
from fund.cli.main import app
from fund.services.fund_report import fund_report
from tests.people_support import fast_passwords  # noqa: F401  (fixture)
from tests.test_api_support import api  # noqa: F401  (fixture)
from tests.test_claims_api import _decide, _file, _keys, _ok, on  # noqa: F401  (fixture)
from tests.test_pool_api import _loan, _propose, _sign

D = dt.date
LINE = ("BANK1", "gz-2023")


def _report_ratios(api) -> dict[tuple[str, str], dict]:
    body = _ok(api.get("/api/v1/reports/fund", who="AUD"))
    return {(r["bank_code"], r["policy_id"]): r for r in body["loss_ratios"]}


def _cli_report(day: dt.date, width: int = 200) -> tuple[dict, str]:
    """The report as JSON and as printed on a terminal ``width`` columns wide (the CLI's console is made
    once per process, so its width is set here rather than through COLUMNS)."""
    from fund.cli.common import console

    env = {"IPFUND_BUSINESS_DATE": day.isoformat()}
    as_json = CliRunner().invoke(app, ["report", "fund", "--json"], env=env)
    assert as_json.exit_code == 0, as_json.output
    kept = console._width
    console.width = width
    try:
        table = CliRunner().invoke(app, ["report", "fund"], env=env)
    finally:
        console._width = kept
    assert table.exit_code == 0, table.output
    return json.loads(as_json.output), table.output


def test_the_fund_report_shows_each_banks_loss_ratio_against_the_line(api, on, fast_passwords):
    on(D(2026, 6, 1))
    loans = [_loan(api, "BANK1", D(2026, 1, 15)) for _ in range(10)]  # in-pool lending 10 000 000 000
    _loan(api, "BANK2", D(2026, 1, 15))
    for loan, loss in zip(loans, (120_000_000, 150_000_000)):  # base 120 000 000 + 150 000 000 (scheme 50: base = L)
        _decide(api, _file(api, loan["id"], loss), "approve")

    with unit_of_work(api.session_factory) as session:
        report = fund_report(session, D(2026, 6, 1))
    mine = {(r.bank_code, r.policy_id): r for r in report.loss_ratios}
    assert (mine[LINE].losses_fen, mine[LINE].in_pool_lending_fen, mine[LINE].line_bp, mine[LINE].line_fen,
            mine[LINE].ratio_bp, mine[LINE].suspended_since) == (270_000_000, 10_000_000_000, 300, 300_000_000, 270, None)
    assert (mine[("BANK2", "gz-2023")].losses_fen, mine[("BANK2", "gz-2023")].in_pool_lending_fen) == (0, 1_000_000_000)
    assert mine[("BANK1", "gz-2020")].line_bp is None and mine[("BANK1", "gz-2020")].line_fen is None  # gz-2020 sets no line

    # the API's fund report carries the same figures as the pool's own reading
    pool_view = {(r["bank_code"], r["policy_id"]): r for r in _ok(api.get("/api/v1/agreements/loss-ratios", who="FM"))["items"]}
    assert _report_ratios(api) == pool_view
    assert _report_ratios(api)[LINE]["suspended"] is False

    _decide(api, _file(api, loans[2]["id"], 40_000_000), "approve")  # 310 000 000 > 300 000 000: suspended
    ratios = _report_ratios(api)
    assert (ratios[LINE]["losses_fen"], ratios[LINE]["ratio_bp"], ratios[LINE]["suspended"], ratios[LINE]["suspended_since"]) == (
        310_000_000, 310, True, "2026-06-01")
    assert ratios[("BANK2", "gz-2023")]["suspended"] is False
    as_json, table = _cli_report(D(2026, 6, 1))
    assert {(r["bank_code"], r["policy_id"]): r for r in as_json["loss_ratios"]}[LINE]["losses_fen"] == 310_000_000
    row = next(line for line in table.splitlines() if "BANK1" in line and "gz-2023" in line and "%" in line)
    cells = [cell.strip() for cell in row.split("│") if cell.strip()]  # yuan: 10 000 000 000 fen are 100 000 000 yuan
    assert cells == ["BANK1", "gz-2023", "100,000,000.00", "3,100,000.00", "3.10%", "3.00%", "3,000,000.00",
                     "suspended since 2026-06-01"]
    _, narrow = _cli_report(D(2026, 6, 1), width=80)  # too narrow for the table: each row as a block, no number cut
    assert "…" not in narrow
    block = narrow[narrow.index("loss ratios against the suspension line"):]
    assert "in-pool lending (yuan): 100,000,000.00" in block and "losses (yuan): 3,100,000.00" in block

    on(D(2026, 6, 10))
    suspension = _ok(api.get("/api/v1/suspensions", who="FM"))["items"][0]
    _sign(api, _propose(api, f"/api/v1/suspensions/{suspension['id']}/lift", {"reason": "the bank's recovery plan accepted"}))
    after = _report_ratios(api)[LINE]
    assert (after["losses_fen"], after["ratio_bp"], after["suspended"], after["suspended_since"]) == (0, 0, False, None)
    _, table = _cli_report(D(2026, 6, 10))
    row = next(line for line in table.splitlines() if "BANK1" in line and "gz-2023" in line and "%" in line)
    assert [cell.strip() for cell in row.split("│") if cell.strip()][3:] == ["0.00", "0.00%", "3.00%", "3,000,000.00", "in the pool"]
