"""The fund manager's valuation endpoints: one asset, a batch, refusals, roles (both backends)."""

from __future__ import annotations

import datetime as dt

import pytest

from risk.valuation import value_asset
from tests.test_api_support import Endpoint, api, problem_of  # noqa: F401  (fixture)

pytestmark = pytest.mark.db

EXAMPLE = {
    "kind": "invention_patent", "filing_date": "2018-05-10", "as_of": "2026-11-25", "revenue_fen": 5_000_000_000,
    "growth_bp": 500, "royalty_bp": 300, "tax_bp": 1500, "discount_bp": 1400, "decay_bp": 800,
}
FUND_MANAGER = frozenset({"fund_manager"})

# Rows of the authorisation matrix (tests/test_api_auth.py).
API_MATRIX = {
    ("POST", "/api/v1/valuations"): Endpoint(
        FUND_MANAGER, lambda api, loan: ("POST", "/api/v1/valuations", {"json": EXAMPLE}), 200),
    ("POST", "/api/v1/valuations/batch"): Endpoint(
        FUND_MANAGER, lambda api, loan: ("POST", "/api/v1/valuations/batch", {"json": {"items": [EXAMPLE, EXAMPLE]}}), 200),
}


def test_one_asset_gives_the_worked_example(api):
    response = api.post("/api/v1/valuations", EXAMPLE, who="FM")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["value_fen"], body["collateral_value_fen"]) == (572_743_127, 217_642_388)
    assert body["life_years"] == 10 and body["life_reason"] == "economic life cap"
    assert body["legal_term_end"] == "2038-05-10" and len(body["cash_flows_fen"]) == 10


def test_batch_matches_one_by_one(api):
    items = [
        EXAMPLE,
        {**EXAMPLE, "kind": "utility_model", "filing_date": "2017-03-01", "as_of": "2023-09-01"},
        {**EXAMPLE, "kind": "trademark", "registration_date": "2019-01-01"},
        {**EXAMPLE, "kind": "geographical_indication"},
        {**EXAMPLE, "legal_status": "invalidated"},
    ]
    response = api.post("/api/v1/valuations/batch", {"items": items}, who="FM")
    assert response.status_code == 200, response.text
    got = response.json()["items"]
    assert len(got) == len(items)
    for item, out in zip(items, got):
        one = value_asset(
            item["kind"], dt.date.fromisoformat(item["filing_date"]), dt.date.fromisoformat(item["as_of"]),
            revenue_fen=item["revenue_fen"], growth=item["growth_bp"] / 10_000, royalty=item["royalty_bp"] / 10_000,
            tax=item["tax_bp"] / 10_000, discount=item["discount_bp"] / 10_000, decay=item["decay_bp"] / 10_000,
            registration_date=dt.date.fromisoformat(item["registration_date"]) if "registration_date" in item else None,
            legal_status=item.get("legal_status", "valid"),
        )
        assert abs(out["value_fen"] - one.value_fen) <= 1 and abs(out["collateral_value_fen"] - one.collateral_value_fen) <= 1
        assert out["life_reason"] == one.life_reason and len(out["cash_flows_fen"]) == len(one.cash_flows_fen)
        assert out["legal_term_end"] == (one.legal_term_end and one.legal_term_end.isoformat())
    assert got[3]["legal_life_years"] is None and got[4]["value_fen"] == 0


def test_refusals_name_the_field_and_every_bad_item(api):
    one = api.post("/api/v1/valuations", {**EXAMPLE, "kind": "trademark"}, who="FM")
    assert one.status_code == 422
    body = problem_of(one)
    assert body["code"] == "invalid_valuation_inputs" and body["field"] == "registration_date"
    late = api.post("/api/v1/valuations", {**EXAMPLE, "as_of": "2018-05-09"}, who="FM")
    assert late.status_code == 422 and problem_of(late)["field"] == "filing_date"
    out_of_range = api.post("/api/v1/valuations", {**EXAMPLE, "tax_bp": 10_000}, who="FM")
    assert out_of_range.status_code == 422 and "tax_bp" in problem_of(out_of_range)["field"]
    batch = api.post("/api/v1/valuations/batch", {"items": [EXAMPLE, {**EXAMPLE, "kind": "trademark"}, EXAMPLE,
                                                            {**EXAMPLE, "as_of": "2018-01-01"}]}, who="FM")
    assert batch.status_code == 422
    body = problem_of(batch)
    assert body["code"] == "batch_refused"
    assert [e.get("index") for e in body["errors"]] == [1, 3]


def test_same_idempotency_key_replays_the_answer(api):
    first = api.post("/api/v1/valuations", EXAMPLE, who="FM", key="same-key")
    again = api.post("/api/v1/valuations", EXAMPLE, who="FM", key="same-key")
    assert again.status_code == 200 and again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
