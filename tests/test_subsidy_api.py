"""Subsidy runs through the API: the fund manager's officer proposes a month and an approver signs it off
(rule G1; idempotent, a month run already is reported, also by a sign-off; earlier month 409); runs are read by the fund manager and auditors; statements download as CSV or
XLSX and a bank gets only its own loans' lines. Both backends."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from sqlalchemy import func, select

import api.app as app_module
from api.controllers.subsidies import SubsidyController
from fund.adapters.db import unit_of_work
from fund.adapters.models.subsidies import SubsidyRun
from fund.domain.dates import add_months
from fund.services.registry import record_repayment, register_loan
from fund.services.subsidies import run_month
from tests.factories import application, borrower, bullet_schedule
from tests.people_support import cheap_hasher
from tests.test_claims_api import _keys as personal_keys
from tests.test_api_support import Endpoint, make_api, new_key, problem_of

BANK, FM, AUDITOR = "bank", "fund_manager", "auditor"
BD = dt.date(2026, 10, 31)
DRAWDOWN = dt.date(2024, 3, 15)


def _a_run(api) -> int:
    with unit_of_work(api.session_factory) as session:
        existing = session.scalar(select(func.max(SubsidyRun.id)))
        if existing:
            return existing
        return run_month(session, "2024-04", BD, actor=api.actors["FM"]).run_id


API_MATRIX = {
    # a decision of rule G1: the fund manager's institutional key is refused (403 person_required); the
    # flows below propose and sign off with personal keys
    ("POST", "/api/v1/subsidy-runs"): Endpoint(
        frozenset({FM}), lambda api, loan: ("POST", "/api/v1/subsidy-runs", {"json": {"month": "2024-05"}}), 403),
    ("GET", "/api/v1/subsidy-runs"): Endpoint(
        frozenset({FM, AUDITOR}), lambda api, loan: ("GET", "/api/v1/subsidy-runs", {}), 200),
    ("GET", "/api/v1/subsidy-runs/{run_id}"): Endpoint(
        frozenset({FM, AUDITOR}), lambda api, loan: ("GET", f"/api/v1/subsidy-runs/{_a_run(api)}", {}), 200),
    ("GET", "/api/v1/subsidy-runs/{run_id}/statement"): Endpoint(
        frozenset({BANK, FM, AUDITOR}), lambda api, loan: ("GET", f"/api/v1/subsidy-runs/{_a_run(api)}/statement", {}), 200),
}


@pytest.fixture
def sub_api(session_factory, monkeypatch):
    """The app with the subsidy controller (added here until ``api.app`` registers it); staff passwords
    hashed cheaply (the officer and approver of ``run_through_two_people``)."""
    from fund.services import people

    if SubsidyController not in app_module.CONTROLLERS:
        monkeypatch.setattr(app_module, "CONTROLLERS", [*app_module.CONTROLLERS, SubsidyController])
    previous = people.use_hasher(cheap_hasher())
    api = make_api(session_factory)
    try:
        with api.client:
            yield api
    finally:
        people.use_hasher(previous)


def _book(api):
    """BANK1's loan (gz-2023 example: 1 736 201 a month) and BANK2's (contract 520, ip share 6000), each
    repaid on time in April and May 2024."""
    loans = {}
    with unit_of_work(api.session_factory) as s:
        for code, n, rate, share in (("BANK1", 901, 385, 10_000), ("BANK2", 902, 520, 6_000)):
            app = application(drawdown=DRAWDOWN, contract_rate_bp=rate, ip_share_bp=share, borrower_n=n, borrower=borrower(n),
                              maturity_date=add_months(DRAWDOWN, 12),
                              schedule=bullet_schedule(1_000_000_000, DRAWDOWN, 12, interest=3_875_000))
            loans[code] = register_loan(s, api.actors[code], app, BD)
    with unit_of_work(api.session_factory) as s:
        for code, loan in loans.items():
            for due in (dt.date(2024, 4, 15), dt.date(2024, 5, 15)):
                record_repayment(s, api.actors[code], loan.id, due, due, 0, 3_875_000, BD)
    return loans


def run_through_two_people(api, month: str) -> dict:
    """The officer proposes ``month``, the officer's own sign-off is refused, the approver's executes it:
    the run (as ``GET /subsidy-runs/{id}`` reads it)."""
    keys = personal_keys(api)
    proposal = api.post("/api/v1/subsidy-runs", {"month": month}, who=keys["fm.officer"])
    assert proposal.status_code == 202, proposal.text
    assert (proposal.json()["kind"], proposal.json()["status"]) == ("subsidy_run", "open")
    own = api.post(f"/api/v1/proposals/{proposal.json()['id']}/approve", who=keys["fm.officer"])
    assert own.status_code == 403 and problem_of(own)["code"] == "same_person"
    done = api.post(f"/api/v1/proposals/{proposal.json()['id']}/approve", who=keys["fm.approver"])
    assert done.status_code == 200 and done.json()["status"] == "executed", done.text
    figures = done.json()["figures"]
    run = api.get(f"/api/v1/subsidy-runs/{figures['run_id']}", who="FM").json()
    assert (run["month"], run["lines"], run["total_fen"]) == (month, figures["line_count"], figures["total_fen"])
    return run | {"created": figures["created"]}


def test_fund_manager_runs_a_month_once(sub_api):
    api = sub_api
    _book(api)
    keys = personal_keys(api)
    key = new_key()
    first = api.client.post("/api/v1/subsidy-runs", json={"month": "2024-04"}, headers=api.headers(keys["fm.officer"], key))
    assert first.status_code == 202, first.text
    proposal = first.json()
    # 1 736 201 (RULES 10) + 3 875 000 * 0.6 * 345/520 / 2 = 771 274.03
    assert (proposal["preview"]["line_count"], proposal["preview"]["total_fen"]) == (2, 1_736_201 + 771_274)
    replay = api.client.post("/api/v1/subsidy-runs", json={"month": "2024-04"}, headers=api.headers(keys["fm.officer"], key))
    assert replay.status_code == 202 and replay.headers.get("idempotent-replayed") == "true" and replay.json() == proposal
    twice = api.post("/api/v1/subsidy-runs", {"month": "2024-04"}, who=keys["fm.officer"])
    assert twice.status_code == 409 and problem_of(twice)["code"] == "proposal_exists"
    assert api.post("/api/v1/subsidy-runs", {"month": "2024-04"}, who="FM").status_code == 403  # no person: no decision
    with unit_of_work(api.session_factory) as session:
        assert session.scalar(select(func.count()).select_from(SubsidyRun)) == 0  # nothing runs on a proposal
    own = api.post(f"/api/v1/proposals/{proposal['id']}/approve", who=keys["fm.officer"])
    assert own.status_code == 403 and problem_of(own)["code"] == "same_person"
    done = api.post(f"/api/v1/proposals/{proposal['id']}/approve", who=keys["fm.approver"]).json()
    assert (done["status"], done["figures"]["created"], done["figures"]["line_count"], done["figures"]["total_fen"]) == (
        "executed", True, 2, 1_736_201 + 771_274)
    body = api.get(f"/api/v1/subsidy-runs/{done['figures']['run_id']}", who="FM").json()
    assert (body["month"], body["lines"], body["total_fen"]) == ("2024-04", 2, 1_736_201 + 771_274)
    again = api.post("/api/v1/subsidy-runs", {"month": "2024-04"}, who=keys["fm.officer"])
    assert again.status_code == 200 and again.json()["created"] is False and again.json()["id"] == body["id"]
    may = run_through_two_people(api, "2024-05")
    assert may["created"] is True and may["lines"] == 2
    earlier = api.post("/api/v1/subsidy-runs", {"month": "2024-04"}, who=keys["fm.officer"])
    assert earlier.status_code == 200  # the existing April run, reported
    refused = api.post("/api/v1/subsidy-runs", {"month": "2024-03"}, who=keys["fm.officer"])
    assert refused.status_code == 409 and problem_of(refused)["code"] == "month_before_latest_run"
    bad = api.post("/api/v1/subsidy-runs", {"month": "2024-13"}, who=keys["fm.officer"])
    assert bad.status_code == 422
    listed = api.get("/api/v1/subsidy-runs", who="AUD").json()["items"]
    assert [r["month"] for r in listed] == ["2024-04", "2024-05"]
    assert api.get("/api/v1/subsidy-runs", who="AUD", params={"month": "2024-05"}).json()["items"][0]["id"] == may["id"]
    assert api.get(f"/api/v1/subsidy-runs/{body['id']}", who="FM").json()["total_fen"] == 1_736_201 + 771_274
    assert api.get("/api/v1/subsidy-runs/999999", who="FM").status_code == 404


def test_a_sign_off_of_a_month_run_meanwhile_reports_that_run(sub_api):
    # S4 through G1: the month is run between the proposal and its sign-off; the sign-off runs nothing twice
    api = sub_api
    _book(api)
    keys = personal_keys(api)
    proposal = api.post("/api/v1/subsidy-runs", {"month": "2024-04"}, who=keys["fm.officer"]).json()
    with unit_of_work(api.session_factory) as session:
        meanwhile = run_month(session, "2024-04", BD, actor=api.actors["FM"])
    done = api.post(f"/api/v1/proposals/{proposal['id']}/approve", who=keys["fm.approver"])
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["figures"]["run_id"], done.json()["figures"]["created"]) == (
        "executed", meanwhile.run_id, False)
    assert done.json()["figures"]["total_fen"] == meanwhile.total_fen == 1_736_201 + 771_274
    with unit_of_work(api.session_factory) as session:
        assert session.scalar(select(func.count()).select_from(SubsidyRun)) == 1


def _lines(response):
    """The line rows of a statement CSV answer (English headers), total rows left out."""
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    return [r for r in csv.DictReader(io.StringIO(text[1:])) if r["No."].isdigit()]


def test_statements_as_csv_and_xlsx_and_a_bank_sees_only_its_loans(sub_api):
    # issue 13 changed the statement's columns (people's headers, yuan beside fen); same facts checked
    from openpyxl import load_workbook

    api = sub_api
    loans = _book(api)
    run = run_through_two_people(api, "2024-04")
    url = run["statement_url"]
    en = {"lang": "en"}

    everything = api.get(url, who="FM", params=en)
    assert everything.status_code == 200 and everything.headers["content-type"].startswith("text/csv")
    rows = _lines(everything)
    assert {r["Loan"] for r in rows} == {str(loans["BANK1"].id), str(loans["BANK2"].id)}

    mine = _lines(api.get(url, who="BANK2", params=en))
    assert [r["Loan"] for r in mine] == [str(loans["BANK2"].id)]
    assert (mine[0]["LPR (bp)"], mine[0]["Rate used (bp)"], mine[0]["Subsidy (fen)"], mine[0]["Capped"]) == ("345", "345", "771274", "no")
    other = api.get(url, who="BANK2", params={"bank": "BANK1"})
    assert other.status_code == 403 and problem_of(other)["code"] == "forbidden"
    by_bank = _lines(api.get(url, who="AUD", params={"bank": "BANK1", **en}))
    assert [r["Loan"] for r in by_bank] == [str(loans["BANK1"].id)]
    by_enterprise = api.get(url, who="FM", params={"enterprise": borrower(902).credit_code, **en})
    assert [r["Loan"] for r in _lines(by_enterprise)] == [str(loans["BANK2"].id)]

    xlsx = api.get(url, who="BANK1", params={"format": "xlsx", **en})
    assert xlsx.status_code == 200 and "spreadsheetml" in xlsx.headers["content-type"]
    assert "attachment" in xlsx.headers["content-disposition"]
    book = load_workbook(io.BytesIO(xlsx.content), read_only=True)
    sheet = list(book["Lines"].iter_rows(values_only=True))
    at = next(k for k, r in enumerate(sheet) if r and r[0] == "No.")
    assert dict(zip(sheet[at], sheet[at + 1]))["Subsidy (fen)"] == 1_736_201
    assert sheet[at + 2][0] == "Total"  # one line of BANK1's, then the total row
    assert api.get(url, who="BANK1", params={"format": "pdf"}).status_code == 422
    assert api.get(url, who="FM", params={"colour": "red"}).status_code == 422
