"""`ipfund subsidies preview` and `ipfund subsidies run` show the fee lines (docs/rules.md section 5, S6
with S4): a second table after the interest lines and the fee figures beside the interest figures;
`--json` carries them in exact fen, and the preview's fee lines equal those of the run that follows
(proposed and signed off through the CLI). Both backends."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from fund.adapters.db import unit_of_work
from fund.cli.main import app
from fund.domain.dates import add_months
from fund.services.fees import FeeIn, record_fees
from fund.services.ledger import appropriate
from fund.services.registry import record_repayment, register_loan
from tests.factories import application, borrower, bullet_schedule, setup_reference
from tests.people_support import PASSWORD, add_staff, fast_passwords  # noqa: F401  (fixture)

BD = dt.date(2026, 10, 31)
DRAWDOWN = dt.date(2024, 3, 15)
INTEREST = 1_736_201  # RULES 10's gz-2023 April line


@pytest.fixture
def book(session_factory, fast_passwords):
    """BANK1's loan repaid on time in April 2024, with three fees paid in April; the subsidy pool holds
    the interest line and 5 500 000 of the 7 000 000 fee subsidy."""
    with unit_of_work(session_factory) as s:
        actors = setup_reference(s)
        add_staff(s, {"fm.officer": ("FM", ("officer",)), "fm.approver": ("FM", ("approver",))})
        loan = register_loan(s, actors["BANK1"], application(
            drawdown=DRAWDOWN, borrower_n=941, borrower=borrower(941), maturity_date=add_months(DRAWDOWN, 12),
            schedule=bullet_schedule(1_000_000_000, DRAWDOWN, 12, interest=3_875_000)), BD)
    with unit_of_work(session_factory) as s:
        record_repayment(s, actors["BANK1"], loan.id, dt.date(2024, 4, 15), dt.date(2024, 4, 15), 0, 3_875_000, BD)
        appropriate(s, pool="subsidy", amount_fen=INTEREST + 5_500_000, policy_id="gz-2023", business_date=BD)
    fees = record_fees(session_factory, actors["BANK1"], [
        (loan.id, FeeIn("appraisal", 6_000_001, dt.date(2024, 4, 10), "穗评估所", "C-1")),
        (loan.id, FeeIn("appraisal", 5_000_000, dt.date(2024, 4, 12), "穗评估所", "C-2")),
        (loan.id, FeeIn("insurance", 4_000_000, dt.date(2024, 4, 20), "穗保险", "C-3"))])
    return loan, [f.id for f in fees]


def _invoke(*args: str):
    """The command on a terminal 200 columns wide (the CLI's console is made once per process, so its
    width is set here: COLUMNS does not reach it when another test imported it first)."""
    from fund.cli.common import console

    kept = console._width
    console.width = 200
    try:
        return CliRunner().invoke(app, list(args), env={"IPFUND_PASSWORD": PASSWORD, "IPFUND_BUSINESS_DATE": BD.isoformat()})
    finally:
        console._width = kept


def _json(*args: str):
    result = _invoke(*args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


FIGURES = {"fee_lines": 3, "fee_capped_lines": 1, "fee_computed_fen": 3_000_000 + 2_500_000 + 2_000_000,
           "fee_total_fen": 7_000_000, "interest_total_fen": INTEREST}


def test_preview_and_run_show_the_fee_lines(book):
    loan, fee_ids = book
    expected = [  # (fee, loan, kind, fee fen, paid on, before the cap, subsidy, capped, paid, deferred)
        (fee_ids[0], loan.id, "appraisal", 6_000_001, "2024-04-10", 3_000_000, 3_000_000, False, 3_000_000, 0),
        (fee_ids[1], loan.id, "appraisal", 5_000_000, "2024-04-12", 2_500_000, 2_000_000, True, 2_000_000, 0),
        (fee_ids[2], loan.id, "insurance", 4_000_000, "2024-04-20", 2_000_000, 2_000_000, False, 500_000, 1_500_000)]

    def rows(items):
        return [(f["fee_id"], f["loan_id"], f["kind"], f["fee_fen"], f["paid_on"], f["computed_fen"], f["amount_fen"],
                 f["capped"], f["paid_fen"], f["deferred_fen"]) for f in items]

    preview = _json("subsidies", "preview", "--month", "2024-04", "--json")
    assert {k: preview[k] for k in FIGURES} == FIGURES
    assert (preview["lines"], preview["total_fen"], preview["paid_fen"], preview["deferred_fen"]) == (
        1, INTEREST + 7_000_000, INTEREST + 5_500_000, 1_500_000)
    assert rows(preview["fee_items"]) == expected

    text = _invoke("subsidies", "preview", "--month", "2024-04")
    assert text.exit_code == 0, text.output
    assert "fee lines 3 (1 capped) 70,000.00 yuan, before the loan's cap 75,000.00 yuan" in text.output
    assert "interest lines 17,362.01 yuan" in text.output
    assert "fee lines (payment date, loan, fee" in text.output
    assert "insurance" in text.output and "15,000.00" in text.output  # the insurance line's deferred part
    first = _invoke("subsidies", "preview", "--month", "2024-04", "--lines", "1")
    assert "first 1 of 3 fee lines" in first.output and "insurance" not in first.output
    assert "fee lines (payment" not in _invoke("subsidies", "preview", "--month", "2024-04", "--lines", "0").output

    proposal = _json("subsidies", "run", "--month", "2024-04", "--user", "fm.officer", "--json")
    signed = _invoke("proposals", "approve", str(proposal["id"]), "--user", "fm.approver")
    assert signed.exit_code == 0, signed.output
    run = _json("subsidies", "run", "--month", "2024-04", "--user", "fm.officer", "--json")
    assert run["created"] is False
    assert {k: run[k] for k in FIGURES} == FIGURES
    assert run["fee_items"] == preview["fee_items"]  # the run took the previewed fee lines, with the same parts
    assert (run["total_fen"], run["paid_fen"], run["deferred_fen"]) == (
        preview["total_fen"], preview["paid_fen"], preview["deferred_fen"])
    shown = _invoke("subsidies", "run", "--month", "2024-04", "--user", "fm.officer")
    assert shown.exit_code == 0, shown.output
    assert "fee lines 3 (1 capped) 70,000.00 yuan" in shown.output and "insurance" in shown.output
    listed = _json("subsidies", "list", "--json")
    assert [{k: r[k] for k in FIGURES} for r in listed] == [FIGURES]
