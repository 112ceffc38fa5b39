"""``ipfund agreements`` (docs/rules.md section 12): an agreement proposed by an officer and signed off
by an approver, then listed and shown; loss ratios and suspensions read."""

from __future__ import annotations

import datetime as dt
import json

from tests.people_support import add_staff, fast_passwords  # noqa: F401  (fixture)
from tests.test_cli_core import decide, fresh_db, invoke, people  # noqa: F401  (fixtures)


def test_agreements_propose_sign_off_list_show(fresh_db, people):
    assert invoke("db", "upgrade").exit_code == 0
    assert invoke("policies", "load").exit_code == 0
    people()
    assert invoke("institutions", "add", "BANK9", "Ninth Bank", "--kind", "bank").exit_code == 0
    signed = decide("agreements", "propose", "BANK9", "gz-2023", "--on", "2024-01-01", "--reference", "穗金入池〔2024〕9号")
    assert signed.exit_code == 0, signed.output
    listed = json.loads(invoke("agreements", "list", "--json").output)
    assert [(a["bank_code"], a["policy_id"], a["agreed_on"], a["reference"]) for a in listed] == [
        ("BANK9", "gz-2023", "2024-01-01", "穗金入池〔2024〕9号")]
    shown = invoke("agreements", "show", str(listed[0]["id"]))
    assert shown.exit_code == 0 and "2024-01-01" in shown.output
    twice = invoke("agreements", "propose", "BANK9", "gz-2023", "--on", "2024-02-01", "--reference", "again", "--user", "fm.officer")
    assert twice.exit_code != 0 and "agreement_exists" in twice.output
    ratios = json.loads(invoke("agreements", "loss-ratios", "--json").output)
    assert ratios == [{"bank_code": "BANK9", "policy_id": "gz-2023", "losses_fen": 0, "in_pool_lending_fen": 0, "ratio_bp": None,
                       "line_bp": 300, "line_fen": 0, "suspended": False, "suspended_since": None}]
    assert json.loads(invoke("agreements", "suspensions", "--json").output) == []
    assert "no pool agreement" in invoke("agreements", "show", "99").output


def test_fees_record_and_list(fresh_db, people, monkeypatch):
    from fund.adapters.db import default_engine, make_session_factory, unit_of_work
    from fund.settings import reset_settings_cache
    from fund.services.registry import register_loans
    from tests.factories import application, setup_reference

    monkeypatch.setenv("IPFUND_BUSINESS_DATE", "2026-03-01")
    reset_settings_cache()
    assert invoke("db", "upgrade").exit_code == 0
    with unit_of_work(make_session_factory(default_engine())) as session:
        actors = setup_reference(session)
        add_staff(session, {"bank1.staff": ("BANK1", ("staff",)), "bank2.staff": ("BANK2", ("staff",))})
        loan = register_loans(session, actors["BANK1"], [application()], dt.date(2026, 3, 1))[0]
        loan_id = loan.id
    recorded = invoke("fees", "record", str(loan_id), "--kind", "appraisal", "--amount-fen", "6000001", "--paid-on", "2026-01-10",
                      "--issuer", "穗评估所", "--invoice", "A-1", "--user", "bank1.staff", "--json")
    assert recorded.exit_code == 0, recorded.output
    assert json.loads(recorded.output)["subsidy_fen"] == 3_000_000
    refused = invoke("fees", "record", str(loan_id), "--kind", "appraisal", "--amount-fen", "1", "--paid-on", "2026-01-10",
                     "--issuer", "穗评估所", "--invoice", "A-1", "--user", "bank1.staff")
    assert refused.exit_code != 0 and "duplicate_invoice" in refused.output
    other_bank = invoke("fees", "record", str(loan_id), "--kind", "insurance", "--amount-fen", "100", "--paid-on", "2026-01-10",
                        "--issuer", "保险公司", "--invoice", "I-1", "--user", "bank2.staff")
    assert other_bank.exit_code != 0 and "loan_not_found" in other_bank.output  # another bank's loan is not seen
    assert invoke("fees", "record", str(loan_id), "--kind", "appraisal", "--amount-fen", "1", "--paid-on", "2026-01-10",
                  "--issuer", "x", "--invoice", "x", "--as", "BANK1").exit_code == 2
    listed = invoke("fees", "list", "--loan", str(loan_id), "--user", "bank1.staff")
    assert listed.exit_code == 0 and "30,000.00" in listed.output and "60,000.01" in listed.output
