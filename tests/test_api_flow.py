"""A bank's whole flow over HTTP, on SQLite and PostgreSQL: register one loan and a batch, read them
back (list with filters, one loan, its coverage), repay one at a time and in a batch, cancel; and the
fund manager's and auditors' reads."""

from __future__ import annotations

import datetime as dt

from tests.factories import application, asset, uscc
from tests.test_api_support import api, loan_body, problem_of  # noqa: F401  (fixture)


def test_full_bank_flow(api):
    # Register one loan: the answer carries the id and the coverage decision (rule C).
    body = loan_body(application(principal=1_500_000_000, drawdown=dt.date(2026, 2, 1), borrower_n=7))
    first = api.post("/api/v1/loans", body)
    assert first.status_code == 201, first.text
    loan = first.json()
    assert loan["id"] >= 1 and loan["bank_code"] == "BANK1" and loan["status"] == "active"
    assert (loan["coverage"], loan["ip_part_fen"], loan["covered_fen"]) == ("eligible", 1_500_000_000, 1_000_000_000)
    assert len(loan["schedule"]) == 12 and sum(i["principal_due_fen"] for i in loan["schedule"]) == 1_500_000_000
    assert loan["assets"][0]["number"] == body["assets"][0]["number"]

    # A batch: the same borrower's quota is consumed in the order sent (RULES section 10).
    batch = {"items": [
        loan_body(application(principal=1_200_000_000, ip_share_bp=5000, drawdown=dt.date(2026, 3, 1), borrower_n=7)),
        loan_body(application(principal=800_000_000, drawdown=dt.date(2026, 4, 1), borrower_n=7)),
        loan_body(application(principal=100_000_000, drawdown=dt.date(2019, 4, 1), borrower_n=8)),
    ]}
    answer = api.post("/api/v1/loans/batch", batch)
    assert answer.status_code == 201, answer.text
    items = answer.json()["items"]
    assert [i["contract_no"] for i in items] == [b["contract_no"] for b in batch["items"]]
    assert [i["covered_fen"] for i in items] == [600_000_000, 400_000_000, 0]
    assert items[1]["flags"] == ["borrower_quota_limited"]
    assert items[2]["coverage"] == "ineligible"
    ids = [loan["id"], *(i["id"] for i in items)]
    assert len(set(ids)) == 4

    # The coverage decision with its reasons.
    coverage = api.get(f"/api/v1/loans/{items[2]['id']}/coverage").json()
    assert coverage["coverage"] == "ineligible" and coverage["claimable"] is False
    assert [r["code"] for r in coverage["reasons"]] == ["no_active_policy"]
    assert "policy" in coverage["reasons"][0]["text"]
    limited = api.get(f"/api/v1/loans/{items[1]['id']}/coverage").json()
    assert limited["flags"][0]["code"] == "borrower_quota_limited" and limited["claimable"] is True
    assert "1000000000" not in str(limited) and "600000000" not in str(limited)  # no other loan's amounts

    # Read back: the list (filters, pages) and one loan.
    listed = api.get("/api/v1/loans").json()
    assert [i["id"] for i in listed["items"]] == sorted(ids) and listed["next_after_id"] is None
    assert [i["id"] for i in api.get("/api/v1/loans", params={"coverage": "ineligible"}).json()["items"]] == [items[2]["id"]]
    window = {"drawdown_from": "2026-02-15", "drawdown_to": "2026-03-31"}
    assert [i["id"] for i in api.get("/api/v1/loans", params=window).json()["items"]] == [items[0]["id"]]
    page = api.get("/api/v1/loans", params={"limit": 3}).json()
    assert len(page["items"]) == 3 and page["next_after_id"] == page["items"][-1]["id"]
    rest = api.get("/api/v1/loans", params={"limit": 3, "after_id": page["next_after_id"]}).json()
    assert [i["id"] for i in page["items"] + rest["items"]] == sorted(ids) and rest["next_after_id"] is None

    # Repay: one installment's interest, then a batch paying the rest of the first loan's schedule.
    schedule = loan["schedule"]
    one = api.post(f"/api/v1/loans/{loan['id']}/repayments", {
        "due_date": schedule[0]["due_date"], "paid_on": schedule[0]["due_date"],
        "principal_fen": 0, "interest_fen": schedule[0]["interest_due_fen"],
    })
    assert one.status_code == 201, one.text
    assert one.json()["loan_status"] == "active" and one.json()["past_due_at_payment"] is False
    rest_items = [
        {"loan_id": loan["id"], "due_date": i["due_date"], "paid_on": min(i["due_date"], "2026-10-31"),
         "principal_fen": i["principal_due_fen"], "interest_fen": i["interest_due_fen"]}
        for i in schedule[1:]
    ]
    paid = api.post("/api/v1/repayments/batch", {"items": rest_items})
    assert paid.status_code == 201, paid.text
    assert len(paid.json()["items"]) == 11 and {r["loan_status"] for r in paid.json()["items"]} == {"repaid"}
    back = api.get(f"/api/v1/loans/{loan['id']}").json()
    assert back["status"] == "repaid" and back["principal_repaid_fen"] == 1_500_000_000 and back["outstanding_fen"] == 0
    assert all(i["principal_paid_fen"] == i["principal_due_fen"] and i["interest_paid_fen"] == i["interest_due_fen"]
               for i in back["schedule"])
    assert [i["id"] for i in api.get("/api/v1/loans", params={"status": "repaid"}).json()["items"]] == [loan["id"]]

    # Cancel a loan; a repaid loan cannot be cancelled.
    cancelled = api.post(f"/api/v1/loans/{items[2]['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    refused = api.post(f"/api/v1/loans/{loan['id']}/cancel")
    assert refused.status_code == 409 and problem_of(refused)["code"] == "loan_has_repayments"

    # The fund manager and auditors read every bank's loans; a bank only its own.
    other = api.register(who="BANK2")
    for reader in ("FM", "AUD"):
        everything = api.get("/api/v1/loans", who=reader).json()["items"]
        assert {i["id"] for i in everything} == {*ids, other["id"]}
        assert [i["id"] for i in api.get("/api/v1/loans", who=reader, params={"bank": "BANK2"}).json()["items"]] == [other["id"]]
        assert api.get(f"/api/v1/loans/{other['id']}", who=reader).json()["bank_code"] == "BANK2"
    assert [i["id"] for i in api.get("/api/v1/loans", who="BANK2").json()["items"]] == [other["id"]]
    assert api.get("/api/v1/loans", who="BANK2", params={"bank": "BANK1"}).json()["items"] == []
    assert api.get(f"/api/v1/loans/{loan['id']}", who="BANK2").status_code == 404


def test_portfolio_report_for_readers(api):
    api.register()
    for reader in ("FM", "AUD"):
        answer = api.get("/api/v1/reports/portfolio", who=reader)
        assert answer.status_code == 200, answer.text
        report = answer.json()
        # the one registered loan is in the report (not merely a non-empty answer)
        assert report["by_bank"]["BANK1"]["count"] == 1, report


def test_me_names_the_institution_and_role(api):
    for code, role in (("BANK1", "bank"), ("GUA1", "insurer_or_guarantor"), ("APR1", "appraiser"), ("AUD", "auditor")):
        me = api.get("/api/v1/me", who=code).json()
        assert (me["institution_code"], me["role"]) == (code, role)
        assert api.keys[code].startswith(me["key_prefix"] + "_")


def test_domain_refusals_carry_their_code_and_field(api):
    bad_uscc = loan_body()
    bad_uscc["borrower"]["credit_code"] = "91110000600037341M"
    bad_patent = loan_body()
    bad_patent["assets"][0]["number"] = "202310123456.7"
    mismatch = loan_body()
    mismatch["schedule"][-1]["principal_due_fen"] -= 1
    first = api.register(body=loan_body(application(borrower_n=50)))
    duplicate = loan_body(contract_no=first["contract_no"])
    pledged = loan_body(application(borrower_n=51, assets=(asset(serial=first_serial(first), owner_credit_code=uscc(51)),)))
    for body, status, code, field in (
        (bad_uscc, 422, "invalid_uscc", "borrower.credit_code"),
        (bad_patent, 422, "invalid_patent_number", "assets[0].number"),
        (mismatch, 422, "schedule_mismatch", "schedule"),
        (duplicate, 409, "duplicate_contract", "contract_no"),
        (pledged, 409, "ip_already_pledged", "assets[0].number"),
    ):
        answer = api.post("/api/v1/loans", body)
        problem = problem_of(answer)
        assert (answer.status_code, problem["code"], problem["field"]) == (status, code, field), answer.text
    unknown_insurer = loan_body(insurer_code="NOBODY")
    answer = api.post("/api/v1/loans", unknown_insurer)
    assert answer.status_code == 422 and problem_of(answer)["field"] == "insurer_code"


def first_serial(loan: dict) -> int:
    """The factory serial of the loan's first asset (from its normal-form number ``2018 1 SSSSSSS.C``)."""
    return int(loan["assets"][0]["number"][5:12])


def test_repayment_refusals(api):
    loan = api.register()
    due = loan["schedule"][0]
    too_much = api.post(f"/api/v1/loans/{loan['id']}/repayments", {
        "due_date": due["due_date"], "paid_on": due["due_date"], "principal_fen": 0, "interest_fen": due["interest_due_fen"] + 1,
    })
    assert too_much.status_code == 422 and problem_of(too_much)["code"] == "repayment_exceeds_due"
    assert problem_of(too_much)["field"] == "interest_fen"
    no_such = api.post(f"/api/v1/loans/{loan['id']}/repayments", {
        "due_date": "2026-01-01", "paid_on": "2026-01-20", "principal_fen": 0, "interest_fen": 1,
    })
    assert no_such.status_code == 422 and problem_of(no_such)["code"] == "unknown_installment"
    future = api.post(f"/api/v1/loans/{loan['id']}/repayments", {
        "due_date": due["due_date"], "paid_on": "2026-11-01", "principal_fen": 0, "interest_fen": 1,
    })
    assert future.status_code == 422 and problem_of(future)["code"] == "dated_after_business_date"
