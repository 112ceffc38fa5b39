"""Borrower data per loan over HTTP (docs/rules.md section 3), both backends: each bank's loan shows
the borrower as that bank reported it and eligibility follows it; only the fund manager and auditors
read the borrowers whose data differ between banks."""

from __future__ import annotations

from tests.factories import application, borrower
from tests.test_api_support import Endpoint, api, loan_body, problem_of  # noqa: F401  (fixture)

FM, AUDITOR = "fund_manager", "auditor"

API_MATRIX = {
    ("GET", "/api/v1/borrowers/differences"): Endpoint(
        frozenset({FM, AUDITOR}), lambda api, loan: ("GET", "/api/v1/borrowers/differences", {}), 200),
}


def test_each_bank_sees_its_own_report_and_the_fund_manager_the_differences(api):
    first = api.register("BANK1", loan_body(application(borrower=borrower(61), borrower_n=61)))
    other = api.register("BANK2", loan_body(application(borrower=borrower(61, name="Renamed Co", district="Tianhe", is_sme=False),
                                                        borrower_n=61)))
    assert (first["coverage"], other["coverage"]) == ("eligible", "ineligible")
    assert other["ineligible_reasons"] == ["not_sme"] and "borrower_data_differs" not in other["flags"]
    assert api.get(f"/api/v1/loans/{other['id']}", who="BANK2").json()["borrower_name"] == "Renamed Co"
    assert api.get(f"/api/v1/loans/{first['id']}", who="BANK1").json()["borrower_name"] == "Enterprise 61"
    api.register("BANK1", loan_body(application(borrower=borrower(62), borrower_n=62)))  # one bank only: no difference

    forbidden = api.get("/api/v1/borrowers/differences", who="BANK1")
    assert forbidden.status_code == 403 and problem_of(forbidden)["code"]
    answer = api.get("/api/v1/borrowers/differences", who="FM")
    assert answer.status_code == 200, answer.text
    [difference] = answer.json()["items"]
    assert difference["fields"] == ["name", "district", "is_sme"]
    assert [(r["bank"], r["loan_id"], r["name"], r["district"], r["is_sme"]) for r in difference["reports"]] == [
        ("BANK1", first["id"], "Enterprise 61", "Huangpu", True), ("BANK2", other["id"], "Renamed Co", "Tianhe", False)]
    assert api.get("/api/v1/borrowers/differences", who="AUD").json() == answer.json()
