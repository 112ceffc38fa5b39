"""The monthly statistics and the compensation statement through the API (both backends)."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from tests.test_subsidy_api import AUDITOR, BANK, FM, Endpoint, _book, run_through_two_people, sub_api  # noqa: F401  (fixture)

API_MATRIX = {
    ("GET", "/api/v1/reports/monthly"): Endpoint(
        frozenset({FM, AUDITOR}), lambda api, loan: ("GET", "/api/v1/reports/monthly", {"params": {"month": "2024-04"}}), 200),
    ("GET", "/api/v1/reports/compensation"): Endpoint(
        frozenset({BANK, FM, AUDITOR}),
        lambda api, loan: ("GET", "/api/v1/reports/compensation", {"params": {"from": "2024-01-01", "to": "2024-12-31"}}), 200),
}


def test_monthly_statistics_and_compensation_through_the_api(sub_api):
    api = sub_api
    _book(api)
    run = run_through_two_people(api, "2024-04")  # rule G1: an officer proposes, an approver signs off
    body = api.get("/api/v1/reports/monthly", who="AUD", params={"month": "2024-04"})
    assert body.status_code == 200, body.text
    stats = body.json()
    assert stats["month"] == "2024-04"
    assert stats["this_month"]["interest_subsidies"]["granted_fen"] == run["total_fen"]
    assert stats["this_month"]["lending"]["total"]["loans"] == 0  # the two loans were drawn in March
    assert stats["cumulative"]["lending"]["total"]["loans"] == 2
    assert set(stats["past_due"]) == {"1-30", "31-90", "91-365", "over 365"}
    xlsx = api.get("/api/v1/reports/monthly", who="FM", params={"month": "2024-04", "format": "xlsx", "lang": "en"})
    assert xlsx.status_code == 200 and "spreadsheetml" in xlsx.headers["content-type"]
    sheet = load_workbook(io.BytesIO(xlsx.content))["Lines"]
    assert any(c.value == "Interest subsidies granted" for row in sheet.iter_rows() for c in row)
    assert api.get("/api/v1/reports/monthly", who="BANK1", params={"month": "2024-04"}).status_code == 403
    csv_answer = api.get("/api/v1/reports/compensation", who="BANK1", params={"from": "2024-01-01", "to": "2026-10-31"})
    assert csv_answer.status_code == 200 and csv_answer.content.startswith("\ufeff".encode())
    other = api.get("/api/v1/reports/compensation", who="BANK1", params={"from": "2024-01-01", "to": "2026-10-31", "bank": "BANK2"})
    assert other.status_code == 403
