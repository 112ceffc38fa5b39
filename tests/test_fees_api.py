"""Fee subsidies through the API, SQLite and PostgreSQL (docs/rules.md section 5, S6; RULES 10's fee
example): ratio 5000, cap 5 000 000 per loan and kind; insurance and guarantee exclude each other;
invoices unique per issuer; idempotent posts; batches all or nothing."""

from __future__ import annotations

import datetime as dt

from tests.test_api_support import Endpoint, api, problem_of  # noqa: F401  (fixture)
from tests.test_claims_api import _ok, on  # noqa: F401  (fixture)

D = dt.date
BANK = frozenset({"bank"})
READ = frozenset({"bank", "fund_manager", "auditor"})


def _fee(kind: str = "appraisal", amount: int = 1_000_000, paid_on: str = "2026-01-10", invoice: str | None = None) -> dict:
    return {"kind": kind, "amount_fen": amount, "paid_on": paid_on, "issuer": "穗评估所", "invoice_no": invoice or f"INV-{next(_invoices)}"}


_invoices = iter(range(1, 100_000))

API_MATRIX = {
    ("POST", "/api/v1/loans/{loan_id}/fees"): Endpoint(BANK, lambda api, loan: (
        "POST", f"/api/v1/loans/{loan['id']}/fees", {"json": _fee()}), 201, other_bank=404, needs_loan=True),
    ("POST", "/api/v1/fees/batch"): Endpoint(BANK, lambda api, loan: (
        "POST", "/api/v1/fees/batch", {"json": {"items": [_fee() | {"loan_id": loan["id"]}]}}), 201, other_bank=422, needs_loan=True),
    ("GET", "/api/v1/loans/{loan_id}/fees"): Endpoint(READ, lambda api, loan: (
        "GET", f"/api/v1/loans/{loan['id']}/fees", {}), 200, other_bank=404, needs_loan=True),
}


def test_rules_10_fee_example(api, on):
    """Appraisal 6 000 001: 3 000 000. A second appraisal 5 000 000: 2 000 000 (capped). An insurance
    fee then gets its own room; a guarantee fee on that loan is refused."""
    on(D(2026, 3, 1))
    loan = api.register()
    url = f"/api/v1/loans/{loan['id']}/fees"
    first = _ok(api.post(url, _fee(amount=6_000_001), key="fee-1"), 201)
    assert (first["subsidy_fen"], first["capped"]) == (3_000_000, False)
    replay = api.post(url, _fee(amount=6_000_001, invoice=first["invoice_no"]), key="fee-1")
    assert replay.status_code == 201 and replay.json()["id"] == first["id"]  # same key, same body: the same answer
    second = _ok(api.post(url, _fee(amount=5_000_000)), 201)
    assert (second["subsidy_fen"], second["capped"]) == (2_000_000, True)
    insurance = _ok(api.post(url, _fee("insurance", 4_000_000)), 201)
    assert (insurance["subsidy_fen"], insurance["capped"]) == (2_000_000, False)
    guarantee = api.post(url, _fee("guarantee", 1_000_000))
    assert guarantee.status_code == 409 and problem_of(guarantee)["code"] == "fee_kind_excluded"
    duplicate = api.post(url, _fee(invoice=first["invoice_no"]))
    assert duplicate.status_code == 409 and problem_of(duplicate)["code"] == "duplicate_invoice"
    late = api.post(url, _fee(paid_on="2026-03-02"))
    assert late.status_code == 422 and problem_of(late)["code"] == "dated_after_business_date"
    third = _ok(api.post(url, _fee(amount=1_000)), 201)
    assert (third["subsidy_fen"], third["capped"]) == (0, True)
    listed = api.get(url, who="FM").json()["items"]
    assert [f["subsidy_fen"] for f in listed] == [3_000_000, 2_000_000, 2_000_000, 0]
    assert sum(f["subsidy_fen"] for f in listed if f["kind"] == "appraisal") == 5_000_000
    assert api.get(url, who="BANK2").status_code == 404


def test_a_batch_is_all_or_nothing_and_fees_fill_the_cap_in_payment_date_order(api, on):
    on(D(2026, 3, 1))
    loan = api.register()
    items = [_fee(amount=8_000_000, paid_on="2026-02-01") | {"loan_id": loan["id"]},
             _fee("guarantee", 100) | {"loan_id": loan["id"]}, _fee("insurance", 100) | {"loan_id": loan["id"]}]
    refused = api.post("/api/v1/fees/batch", {"items": items})
    assert refused.status_code == 409 and problem_of(refused)["code"] == "batch_refused", refused.text
    assert api.get(f"/api/v1/loans/{loan['id']}/fees").json()["items"] == []
    done = _ok(api.post("/api/v1/fees/batch", {"items": items[:2]}), 201)["items"]
    assert [f["subsidy_fen"] for f in done] == [4_000_000, 50]
    # an appraisal paid earlier, reported later, fills the cap first; the later-dated one gets the rest
    early = _ok(api.post(f"/api/v1/loans/{loan['id']}/fees", _fee(amount=4_000_000, paid_on="2026-01-05")), 201)
    assert (early["subsidy_fen"], early["capped"]) == (2_000_000, False)
    by_invoice = {f["invoice_no"]: f for f in api.get(f"/api/v1/loans/{loan['id']}/fees").json()["items"]}
    assert (by_invoice[done[0]["invoice_no"]]["subsidy_fen"], by_invoice[done[0]["invoice_no"]]["capped"]) == (3_000_000, True)
