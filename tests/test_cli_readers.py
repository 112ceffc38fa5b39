"""Read-only commands read as a person (``--user LOGIN``, docs/rules.md sections 1 and 11): a bank's
staff get only their bank's lines of a subsidy statement, the borrower report is the fund manager's
and auditors', a wrong password is refused, and ``--as`` is gone. Both backends."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from typer.testing import CliRunner

from fund.adapters.db import unit_of_work
from fund.cli.main import app
from fund.domain.dates import add_months
from fund.services.registry import record_repayment, register_loan
from fund.services.subsidies import run_month
from tests.factories import application, borrower, bullet_schedule, setup_reference
from tests.people_support import PASSWORD, add_staff, fast_passwords  # noqa: F401  (fixture)

BD = dt.date(2026, 10, 31)
DRAWDOWN = dt.date(2024, 3, 15)


@pytest.fixture
def book(session_factory, fast_passwords):
    """BANK1's and BANK2's loan, each repaid in April 2024, April run; a bank staff user and an auditor."""
    with unit_of_work(session_factory) as s:
        actors = setup_reference(s)
        add_staff(s, {"bank1.staff": ("BANK1", ("staff",)), "aud.reader": ("AUD", ("reader",))})
        loans = {code: register_loan(s, actors[code], application(
            drawdown=DRAWDOWN, borrower_n=n, borrower=borrower(n), maturity_date=add_months(DRAWDOWN, 12),
            schedule=bullet_schedule(1_000_000_000, DRAWDOWN, 12, interest=3_875_000)), BD)
            for code, n in (("BANK1", 931), ("BANK2", 932))}
    with unit_of_work(session_factory) as s:
        for code, loan in loans.items():
            record_repayment(s, actors[code], loan.id, dt.date(2024, 4, 15), dt.date(2024, 4, 15), 0, 3_875_000, BD)
        run_month(s, "2024-04", BD, actor=actors["FM"])
    return loans


def _invoke(*args: str, password: str = PASSWORD):
    return CliRunner().invoke(app, list(args), env={"IPFUND_PASSWORD": password, "IPFUND_BUSINESS_DATE": BD.isoformat()})


def _statement_loans(path) -> set[str]:
    text = path.read_text(encoding="utf-8-sig")
    return {r["Loan"] for r in csv.DictReader(io.StringIO(text)) if r["No."].isdigit()}


def test_read_only_commands_read_as_the_person_of_user(book, tmp_path):
    everything, mine = tmp_path / "all.csv", tmp_path / "mine.csv"
    as_fund = _invoke("subsidies", "statement", "--month", "2024-04", "--format", "csv", "--lang", "en", "--out", str(everything))
    assert as_fund.exit_code == 0, as_fund.output
    assert _statement_loans(everything) == {str(book["BANK1"].id), str(book["BANK2"].id)}
    as_staff = _invoke("subsidies", "statement", "--month", "2024-04", "--format", "csv", "--lang", "en", "--out", str(mine),
                       "--user", "bank1.staff")
    assert as_staff.exit_code == 0, as_staff.output
    assert _statement_loans(mine) == {str(book["BANK1"].id)}

    wrong = _invoke("subsidies", "statement", "--month", "2024-04", "--format", "csv", "--out", str(mine), "--user",
                    "bank1.staff", password="not the password at all")
    assert wrong.exit_code != 0 and "bad_credentials" in wrong.output
    gone = _invoke("subsidies", "statement", "--month", "2024-04", "--format", "csv", "--out", str(mine), "--as", "BANK1")
    assert gone.exit_code == 2 and "--as" in gone.output

    assert _invoke("report", "borrowers", "--json", "--user", "aud.reader").exit_code == 0
    refused = _invoke("report", "borrowers", "--json", "--user", "bank1.staff")
    assert refused.exit_code != 0 and "forbidden" in refused.output.lower()
    assert _invoke("report", "borrowers", "--as", "BANK1").exit_code == 2
    monthly = _invoke("report", "monthly", "--month", "2024-04", "--format", "json", "--user", "aud.reader")
    assert monthly.exit_code == 0, monthly.output
    compensation = tmp_path / "compensation.csv"
    assert _invoke("statements", "compensation", "--from", "2024-01-01", "--to", "2024-12-31", "--format", "csv",
                   "--out", str(compensation), "--user", "bank1.staff").exit_code == 0
    assert _invoke("statements", "compensation", "--from", "2024-01-01", "--to", "2024-12-31", "--format", "csv",
                   "--out", str(compensation), "--as", "BANK1").exit_code == 2
