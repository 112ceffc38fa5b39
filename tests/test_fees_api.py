"""Fee subsidies through the API, SQLite and PostgreSQL (docs/rules.md section 5, S6; RULES 10's fee
example): ratio 5000, cap 5 000 000 per loan and kind; insurance and guarantee exclude each other;
invoices unique per issuer; idempotent posts; batches all or nothing."""

from __future__ import annotations

import csv
import datetime as dt
import io

from sqlalchemy import func, select

from fund.adapters.db import unit_of_work
from fund.adapters.models.payments import PaymentInstruction
from fund.adapters.models.subsidies import SubsidyRun
from fund.services.ledger import appropriate, check_ledger
from tests.test_subsidy_api import run_through_two_people
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

    # ... paid through February's monthly run (S4 with S6) from the subsidy pool, which holds 6 000 000
    # of the 7 000 000: the fee lines take the money in payment-date and registration order, so the
    # insurance fee's line is paid 1 000 000 and 1 000 000 is deferred
    with unit_of_work(api.session_factory) as s:
        appropriate(s, pool="subsidy", amount_fen=6_000_000, policy_id="gz-2023", business_date=D(2026, 3, 1))
    preview = _ok(api.get("/api/v1/subsidy-runs/preview", who="FM", params={"month": "2026-02"}))
    assert (preview["lines"], preview["total_fen"], preview["paid_fen"], preview["deferred_fen"]) == (0, 7_000_000, 6_000_000, 1_000_000)
    run = run_through_two_people(api, "2026-02")
    assert (run["lines"], run["total_fen"], run["paid_fen"], run["deferred_fen"]) == (0, 7_000_000, 6_000_000, 1_000_000)
    taken = api.get(url, who="FM").json()["items"]
    assert [(f["subsidy_fen"], f["capped"], f["run_id"]) for f in taken] == [
        (3_000_000, False, run["id"]), (2_000_000, True, run["id"]), (2_000_000, False, run["id"]), (0, True, run["id"])]
    # a fee a run paid is final: an appraisal reported now with an earlier date finds the cap used up
    earlier = _ok(api.post(url, _fee(amount=2_000_000, paid_on="2026-01-01")), 201)
    assert (earlier["subsidy_fen"], earlier["capped"], earlier["run_id"]) == (0, True, None)
    insurance_2 = _ok(api.post(url, _fee("insurance", 8_000_000, paid_on="2026-02-20")), 201)
    assert (insurance_2["subsidy_fen"], insurance_2["capped"]) == (3_000_000, True)  # the room the paid 2 000 000 left
    assert [f["subsidy_fen"] for f in api.get(url, who="FM").json()["items"][:4]] == [3_000_000, 2_000_000, 2_000_000, 0]
    # the statement: one line per fee, with its kind, its paid and deferred parts, exact fen
    rows = _statement(api, run["id"])
    assert [(r["类别"], r["费用（分）"], r["补贴金额（分）"], r["已支付（分）"], r["递延（分）"], r["利息（分）"]) for r in rows] == [
        ("评估费补贴", "6000001", "3000000", "3000000", "0", ""), ("评估费补贴", "5000000", "2000000", "2000000", "0", ""),
        ("保险费补贴", "4000000", "2000000", "1000000", "1000000", ""), ("评估费补贴", "1000", "0", "0", "0", "")]
    # an appropriation settles the deferral first (S5): the statement then shows the line paid
    with unit_of_work(api.session_factory) as s:
        appropriate(s, pool="subsidy", amount_fen=5_000_000, policy_id="gz-2023", business_date=D(2026, 3, 1))
    assert [(r["已支付（分）"], r["递延（分）"]) for r in _statement(api, run["id"])][2] == ("2000000", "0")
    # March's run takes the two fees reported since (0 and 3 000 000), from the 4 000 000 left
    on(D(2026, 4, 1))
    march = run_through_two_people(api, "2026-03")
    assert (march["total_fen"], march["paid_fen"], march["deferred_fen"]) == (3_000_000, 3_000_000, 0)
    with unit_of_work(api.session_factory) as s:
        assert check_ledger(s) == []
        run_row = s.get(SubsidyRun, march["id"])
        assert (run_row.fee_line_count, run_row.fee_capped_count, run_row.fee_total_fen, run_row.fee_computed_fen) == (
            2, 2, 3_000_000, 1_000_000 + 4_000_000)
        payees = dict(s.execute(select(PaymentInstruction.source_type, func.sum(PaymentInstruction.amount_fen))
                                .where(PaymentInstruction.pool == "subsidy").group_by(PaymentInstruction.source_type)).all())
    assert payees == {"subsidy_run": 6_000_000 + 3_000_000, "deferral": 1_000_000}  # every paid fen instructed to the enterprise


def _statement(api, run_id: int) -> list[dict]:
    answer = api.get(f"/api/v1/subsidy-runs/{run_id}/statement", who="FM", params={"format": "csv"})
    assert answer.status_code == 200, answer.text
    table = list(csv.reader(io.StringIO(answer.content.decode("utf-8")[1:])))
    return [dict(zip(table[0], r)) for r in table[1:] if r[0].isdigit()]


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
