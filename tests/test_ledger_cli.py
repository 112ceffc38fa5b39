"""The claims, fund, ledger and report commands end to end through ``ipfund``: a claim filed,
approved (part deferred), settled by an appropriation, recovered and closed; the journal, the
report, and `ipfund ledger check` exiting 1 naming the entry once the journal is broken. Every command
acts as a person (``--user``); approvals, rejections and appropriations are proposals an officer makes
and another person (an approver) signs off (docs/rules.md section 11, G1)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from fund.cli.main import app
from fund.settings import reset_settings_cache
from tests.people_support import PASSWORD, add_staff, fast_passwords  # noqa: F401
from tests.test_claims_support import World

pytestmark = pytest.mark.usefixtures("fast_passwords")
OFFICER, APPROVER, BANK1, BANK2 = ("--user", "fm.officer"), ("--user", "fm.approver"), ("--user", "bank1.staff"), ("--user", "bank2.staff")

runner = CliRunner()
D = dt.date


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def ok_json(*args: str):
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(autouse=True)
def _password(monkeypatch):
    monkeypatch.setenv("IPFUND_PASSWORD", PASSWORD)


def _world(session_factory) -> World:
    world = World.create(session_factory)
    with world.session() as s:
        add_staff(s, {"fm.officer": ("FM", ("officer",)), "fm.approver": ("FM", ("approver",)),
                      "bank1.staff": ("BANK1", ("staff",)), "bank2.staff": ("BANK2", ("staff",))})
    return world


def signed_off(*proposal_args: str) -> dict:
    """An officer's proposal, signed off by the approver: the executed proposal."""
    proposal = ok_json(*proposal_args, *OFFICER)
    assert proposal["status"] == "open" and proposal["proposed_by"] == "fm.officer"
    own = invoke("proposals", "approve", proposal["id"], *OFFICER)
    assert own.exit_code == 1 and "[same_person]" in own.output
    done = ok_json("proposals", "approve", proposal["id"], *APPROVER)
    assert done["status"] == "executed" and done["decided_by"] == "fm.approver"
    return done


@pytest.fixture
def on(monkeypatch):
    def set_business_date(day: dt.date) -> None:
        monkeypatch.setenv("IPFUND_BUSINESS_DATE", day.isoformat())
        reset_settings_cache()

    return set_business_date


def test_claim_lifecycle_through_the_cli(session_factory, on):
    world = _world(session_factory)
    loan = world.register(drawdown=D(2026, 1, 15))  # gz-2023, C 1e9: BANK1's cap 50M
    world.register("BANK2", drawdown=D(2026, 1, 15), borrower_n=2)  # a live loan for leverage

    on(D(2026, 1, 15))
    result = signed_off("fund", "appropriate", "--pool", "compensation", "--amount-fen", 30_000_000, "--policy", "gz-2023",
                        "--reference", "APPROP-2026-1")
    assert result["figures"]["amount_fen"] == 30_000_000 and result["figures"]["settled_fen"] == 0

    on(D(2026, 6, 1))
    refused = invoke("claims", "file", loan.id, "--loss-fen", 2_000_000_000, *BANK1)
    assert refused.exit_code == 1
    assert refused.output.strip().splitlines() == [refused.output.strip()] and refused.output.startswith("error:")
    assert "[loss_exceeds_outstanding]" in refused.output
    filed = invoke("claims", "file", loan.id, "--loss-fen", 100_000_000, *BANK1)
    assert filed.exit_code == 0 and "filed" in filed.output
    claim_id = int(filed.output.split()[1])
    assert invoke("claims", "approve", claim_id, *BANK1).exit_code == 1  # a bank does not approve

    proposal = signed_off("claims", "approve", claim_id)
    assert proposal["preview"] == proposal["figures"] and proposal["figures"]["fund_fen"] == 50_000_000
    approved = ok_json("claims", "show", claim_id)
    assert approved["allocation"]["fund_before_cap_fen"] == 50_000_000
    assert approved["cap"]["room_fen"] == 50_000_000 and approved["allocation"]["fund_fen"] == 50_000_000
    assert (approved["payment"]["paid_at_approval_fen"], approved["payment"]["deferred_at_approval_fen"]) == (30_000_000, 20_000_000)

    assert [c["id"] for c in ok_json("claims", "list", *BANK1)] == [claim_id]
    assert ok_json("claims", "list", *BANK2) == []
    hidden = invoke("claims", "show", claim_id, *BANK2)
    assert hidden.exit_code == 1 and "[claim_not_found]" in hidden.output
    shown = invoke("claims", "show", claim_id)
    assert shown.exit_code == 0 and "approved" in shown.output and "cap room" in shown.output

    report = ok_json("report", "fund")
    assert report["pools"][0] == {"pool": "compensation", "cash_fen": 0, "deferred_fen": 20_000_000, "appropriated_fen": 30_000_000}
    assert report["compensation"] == [{"bank": "BANK1", "year": 2026, "claims": 1, "approved_fen": 50_000_000,
                                       "paid_fen": 30_000_000, "deferred_fen": 20_000_000, "recovered_fen": 0}]
    assert report["leverage"] == {"covered_live_fen": 1_000_000_000, "appropriated_fen": 30_000_000, "ratio": "100/3", "bp": 333_333}
    assert {(c["bank"], c["room_fen"]) for c in report["caps"]} == {("BANK1", 0), ("BANK2", 50_000_000)}
    assert invoke("report", "fund").exit_code == 0

    on(D(2026, 7, 1))
    settled = signed_off("fund", "appropriate", "--pool", "compensation", "--amount-fen", 50_000_000, "--reference", "APPROP-2026-2")
    assert settled["figures"]["settled_fen"] == 20_000_000  # 30,000,000 fen to cash
    assert ok_json("claims", "show", claim_id)["payment"]["deferred_open_fen"] == 0
    recovered = ok_json("claims", "recover", claim_id, "--gross-fen", 50_000_000, "--costs-fen", 10_000_000, *BANK1)
    assert (recovered["net_fen"], recovered["fund_fen"], recovered["bank_fen"]) == (40_000_000, 20_000_000, 20_000_000)
    assert invoke("claims", "close", claim_id, *BANK1).exit_code == 0
    assert world.loan_status(loan.id) == "closed"

    journal = ok_json("ledger", "journal")
    assert [e["cause"] for e in journal] == ["appropriation", "claim_approval", "appropriation", "deferral_settlement", "recovery"]
    approval = journal[1]
    assert approval["ref_type"] == "claim" and approval["ref_id"] == claim_id and approval["policy_id"] == "gz-2023"
    assert {p["account"]: p["amount_fen"] for p in approval["postings"]} == {
        "expense:compensation": 50_000_000, "pool:compensation:cash": -30_000_000, "liability:compensation_deferred": -20_000_000,
        # RULES 6 (revision 2): the paid part goes into transit to the custodian and is owed to the bank
        "pool:compensation:in_transit": 30_000_000, "liability:compensation_payable": -30_000_000}
    assert all(sum(p["amount_fen"] for p in e["postings"]) == 0 for e in journal)
    assert invoke("ledger", "journal").exit_code == 0

    # Every step of the bank and the fund manager is in the audit trail, with its person (rule G2).
    trail = ok_json("audit", "list", "--target", f"claim:{claim_id}")["items"]
    assert [(r["action"], r["login"], r["outcome"]) for r in trail] == [
        ("claim_approval.propose", "bank1.staff", "refused"), ("claim_approval.propose", "fm.officer", "done"), ("claim_approval.sign_off", "fm.officer", "refused"),
        ("claim_approval.sign_off", "fm.approver", "done"), ("claims.recover", "bank1.staff", "done"),
        ("claims.close", "bank1.staff", "done")]
    assert [r["action"] for r in ok_json("audit", "list", "--target", f"loan:{loan.id}")["items"]] == ["claims.file", "claims.file"]

    good = invoke("ledger", "check")
    assert good.exit_code == 0 and "ledger ok" in good.output

    # Break the journal: one more posting in the approval entry.
    with world.session() as s:
        s.execute(text("INSERT INTO postings (entry_id, account_code, amount_fen) VALUES (:e, 'expense:compensation', 1)"),
                  {"e": approval["id"]})
    broken = invoke("ledger", "check")
    assert broken.exit_code == 1
    assert f"entry_sums_to_zero: entry {approval['id']}:" in broken.output
    assert f"claim_postings: entry {approval['id']}:" in broken.output
    as_json = invoke("ledger", "check", "--json")
    assert as_json.exit_code == 1
    assert {"rule": "entry_sums_to_zero", "entry_id": approval["id"]}.items() <= json.loads(as_json.stdout)["violations"][0].items()


def test_withdraw_reject_and_lower_through_the_cli(session_factory, on):
    world = _world(session_factory)
    loan = world.register(drawdown=D(2026, 1, 15))
    on(D(2026, 6, 1))
    first = int(invoke("claims", "file", loan.id, "--loss-fen", 500, *BANK1).output.split()[1])
    assert "withdrawn" in invoke("claims", "withdraw", first, *BANK1).output
    second = int(invoke("claims", "file", loan.id, "--loss-fen", 500, *BANK1).output.split()[1])
    assert "loss 4.00 yuan" in invoke("claims", "lower", second, "--loss-fen", 400, *BANK1).output  # issue 13: people read yuan
    no_reason = invoke("claims", "reject", second, "--reason", " ", *OFFICER)
    assert no_reason.exit_code == 1 and "[missing_reason]" in no_reason.output
    assert signed_off("claims", "reject", second, "--reason", "documents missing")["figures"]["status"] == "rejected"
    listed = ok_json("claims", "list", "--status", "rejected")
    assert [(c["id"], c["reject_reason"]) for c in listed] == [(second, "documents missing")]
    shown = ok_json("claims", "show", second, *BANK1)
    assert [e["event"] for e in shown["events"]] == ["filed", "loss_lowered", "rejected"]
    assert invoke("ledger", "check").exit_code == 0
