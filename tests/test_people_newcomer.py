"""As a newcomer, on a fresh database after ``ipfund demo``, through the CLI only: a bank's staff files
a claim; the fund manager's officer proposes its approval; the same officer's sign-off is refused with
one line; an approver's sign-off executes it; ``ipfund audit list --target claim:N`` shows the three
records with the people's names; ``ipfund ledger check`` passes (docs/rules.md section 11)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from fund.adapters.db import unit_of_work
from fund.adapters.models.claims import Claim
from fund.adapters.models.registry import Installment, Institution, Loan
from fund.cli.main import app

runner = CliRunner()
BD = dt.date(2026, 10, 31)


def cli(*args, password: str | None = None):
    env = {"IPFUND_PASSWORD": password} if password else {}
    return runner.invoke(app, [str(a) for a in args], env=env)


def _claimable_loan(session_factory) -> tuple[int, str, int]:
    """A loan a bank may claim on today (rule A1: 90..455 days past due, C > 0): id, bank, outstanding."""
    with unit_of_work(session_factory) as s:
        earliest = (select(Installment.loan_id, func.min(Installment.due_date).label("due"))
                    .where(Installment.principal_paid_fen + Installment.interest_paid_fen
                           < Installment.principal_due_fen + Installment.interest_due_fen)
                    .group_by(Installment.loan_id).subquery())
        row = s.execute(
            select(Loan.id, Institution.code, Loan.principal_fen - Loan.principal_repaid_fen)
            .join(earliest, earliest.c.loan_id == Loan.id).join(Institution, Institution.id == Loan.bank_id)
            .where(Loan.status == "active", Loan.covered_fen > 0, Loan.policy_id == "gz-2023",
                   earliest.c.due <= BD - dt.timedelta(days=90), earliest.c.due >= BD - dt.timedelta(days=455))
            .order_by(Loan.id).limit(1)
        ).first()
    assert row is not None, "the demo book has no claimable loan"
    return row


def test_a_newcomers_first_two_person_approval(session_factory, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("IPFUND_BUSINESS_DATE", raising=False)  # the demo sets its own business date
    from fund.settings import reset_settings_cache

    reset_settings_cache()
    loaded = cli("demo", "--scale", "0.05")
    assert loaded.exit_code == 0, loaded.output
    assert "fm.officer" in loaded.output and "var/demo-credentials.txt" in loaded.output
    passwords = dict(line.split("\t")[:2] for line in (tmp_path / "var" / "demo-credentials.txt").read_text().splitlines()[2:])
    assert {"fm.officer", "fm.approver1", "fm.approver2", "fm.admin", "aud.reader", "icbc-gz.staff"} <= passwords.keys()
    assert cli("demo", "--scale", "0.05").output.count("demo-") == 0  # printed once only

    loan_id, bank, outstanding = _claimable_loan(session_factory)
    staff = f"{bank.lower()}.staff"
    filed = cli("claims", "file", loan_id, "--loss-fen", outstanding, "--user", staff, password=passwords[staff])
    assert filed.exit_code == 0, filed.output
    claim_id = int(filed.output.split()[1])

    proposed = cli("claims", "approve", claim_id, "--user", "fm.officer", password=passwords["fm.officer"])
    assert proposed.exit_code == 0, proposed.output
    proposal_id = int(re.match(r"proposal (\d+) claim_approval claim:%d: open" % claim_id, proposed.output).group(1))
    assert "waiting for an approver's sign-off" in proposed.output

    own = cli("proposals", "approve", proposal_id, "--user", "fm.officer", password=passwords["fm.officer"])
    assert own.exit_code == 1
    assert len(own.output.strip().splitlines()) == 1 and own.output.startswith("error:") and "[same_person]" in own.output
    wrong_password = cli("proposals", "approve", proposal_id, "--user", "fm.approver1", password="not the password!")
    assert wrong_password.exit_code == 1 and "[bad_credentials]" in wrong_password.output

    signed = cli("proposals", "approve", proposal_id, "--user", "fm.approver1", password=passwords["fm.approver1"])
    assert signed.exit_code == 0, signed.output
    assert f"proposal {proposal_id} claim_approval claim:{claim_id}: executed by 王审批 (approver) (fm.approver1)" in signed.output
    with unit_of_work(session_factory) as s:
        assert s.get(Claim, claim_id).status == "approved"

    trail = cli("audit", "list", "--target", f"claim:{claim_id}", "--user", "aud.reader", password=passwords["aud.reader"])
    assert trail.exit_code == 0, trail.output
    lines = trail.output.strip().splitlines()
    assert len(lines) == 3
    assert "李经办 (officer) (fm.officer)  claim_approval.propose" in lines[0] and lines[0].endswith("done")
    assert "李经办 (officer) (fm.officer)  claim_approval.sign_off" in lines[1] and lines[1].endswith("refused [same_person]")
    assert "王审批 (approver) (fm.approver1)  claim_approval.sign_off" in lines[2] and lines[2].endswith("done")

    check = cli("ledger", "check")
    assert check.exit_code == 0 and "ledger ok" in check.output
