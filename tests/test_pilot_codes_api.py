"""Pilot credit codes over HTTP: only the fund manager allows one, with a reason (an officer proposes,
an approver signs off: docs/rules.md section 11); a bank's loan naming it is then accepted and flagged."""

from __future__ import annotations

from fund.services.reference import make_uscc
from tests.factories import application, asset, borrower, uscc
from fund.adapters.db import unit_of_work
from fund.services.people import issue_person_key
from tests.people_support import add_staff, fast_passwords  # noqa: F401
from tests.test_api_support import Endpoint, api, loan_body, problem_of  # noqa: F401  (fixture)

FM, AUDITOR = "fund_manager", "auditor"
GOOD = make_uscc("91440101MA5CYYYY0")
PILOT = GOOD[:-1] + ("0" if GOOD[-1] != "0" else "1")

API_MATRIX = {
    ("POST", "/api/v1/pilot-codes"): Endpoint(
        frozenset({FM}),
        lambda api, loan: ("POST", "/api/v1/pilot-codes", {"json": {"credit_code": PILOT, "reason": "2016 pilot"}}),
        403,  # deciding needs a person: the institutional key is refused (person_required)
    ),
    ("GET", "/api/v1/pilot-codes"): Endpoint(
        frozenset({FM, AUDITOR}), lambda api, loan: ("GET", "/api/v1/pilot-codes", {}), 200),
}


def test_only_an_allowed_pilot_code_is_registered(api, fast_passwords):
    with unit_of_work(api.session_factory) as session:
        staff = add_staff(session, {"fm.officer": ("FM", ("officer",)), "fm.approver": ("FM", ("approver",)),
                                    "fm.admin": ("FM", ("admin",))})
    officer, approver = (issue_person_key(api.session_factory, staff["fm.admin"], who).key for who in ("fm.officer", "fm.approver"))
    app = application("PILOT-1", borrower=borrower(31, credit_code=PILOT), assets=(asset(owner_credit_code=uscc(31)),))
    refused = api.post("/api/v1/loans", loan_body(app))
    assert refused.status_code == 422 and problem_of(refused)["code"] == "invalid_uscc"
    by_bank = api.post("/api/v1/pilot-codes", {"credit_code": PILOT, "reason": "the bank says so"}, who="BANK1")
    assert by_bank.status_code == 403
    not_pilot = api.post("/api/v1/pilot-codes", {"credit_code": GOOD, "reason": "x"}, who=officer)
    assert not_pilot.status_code == 422 and problem_of(not_pilot)["code"] == "not_a_pilot_code"
    proposed = api.post("/api/v1/pilot-codes", {"credit_code": PILOT, "reason": "issued in the 2016 pilot"}, who=officer)
    assert proposed.status_code == 202 and proposed.json()["preview"]["credit_code"] == PILOT
    assert api.get("/api/v1/pilot-codes", who="AUD").json()["items"] == []  # not allowed until signed off
    allowed = api.post(f"/api/v1/proposals/{proposed.json()['id']}/approve", who=approver)
    assert allowed.status_code == 200 and allowed.json()["figures"]["credit_code"] == PILOT
    listed = api.get("/api/v1/pilot-codes", who="AUD")
    assert [i["credit_code"] for i in listed.json()["items"]] == [PILOT]
    loan = api.post("/api/v1/loans", loan_body(app))
    assert loan.status_code == 201, loan.text
    assert "pilot_credit_code" in loan.json()["flags"]
