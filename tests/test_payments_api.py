"""Payment instructions (RULES 6) on both backends: made as money is paid (a subsidy run's paid part,
one per enterprise; a deferral settled), exported for the custodian, confirmed from the custodian's
file all or nothing (a bad row refuses the file and names the row), a returned payment held in cash
ahead of every deferral and instructed again, and the ledger check empty throughout."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from sqlalchemy import func, select

from fund.adapters.db import unit_of_work
from fund.adapters.models.payments import PaymentInstruction
from fund.adapters.models.subsidies import SubsidyRun
from fund.errors import DomainError
from fund.services.ledger import appropriate, balances, check_ledger
from fund.services.payments import import_confirmations, list_instructions, reissue
from fund.services.registry import record_repayment, register_loan
from fund.services.subsidies import run_month
from tests.factories import application, borrower, bullet_schedule
from tests.test_api_support import problem_of
from tests.test_subsidy_api import AUDITOR, BD, DRAWDOWN, FM, Endpoint, sub_api  # noqa: F401  (fixture)
from fund.domain.dates import add_months

API_MATRIX = {
    ("GET", "/api/v1/payments"): Endpoint(frozenset({FM, AUDITOR}), lambda api, loan: ("GET", "/api/v1/payments", {}), 200),
    ("GET", "/api/v1/payments/export"): Endpoint(
        frozenset({FM, AUDITOR}), lambda api, loan: ("GET", "/api/v1/payments/export", {"params": {"pool": "subsidy"}}), 200),
    ("POST", "/api/v1/payments/confirmations"): Endpoint(
        frozenset({FM}), lambda api, loan: ("POST", "/api/v1/payments/confirmations", {"json": {"items": [
            {"instruction_id": 999999, "status": "confirmed", "date": "2026-10-31", "bank_reference": "X"}]}}), 422),
    # A valid call names a returned instruction: the fund manager gets 201 (a 404 in the matrix means
    # another bank's loan, loan_not_found; an unknown instruction is payment_not_found, tested below).
    ("POST", "/api/v1/payments/{instruction_id}/reissue"): Endpoint(
        frozenset({FM}), lambda api, loan: ("POST", f"/api/v1/payments/{_returned_instruction(api)}/reissue", {"json": {}}), 201),
}


def _returned_instruction(api) -> int:
    """A returned subsidy payment (made once per database: the April run's part paid to one enterprise,
    reported returned by the custodian)."""
    with unit_of_work(api.session_factory) as s:
        known = s.scalar(select(PaymentInstruction.id).where(PaymentInstruction.status == "returned")
                         .order_by(PaymentInstruction.id).limit(1))
    if known is not None:
        return known
    _subsidy_book(api, 2_000_000)
    fm = api.actors["FM"]
    with unit_of_work(api.session_factory) as s:  # other rows may have run April (empty): then May pays
        latest = s.scalar(select(func.max(SubsidyRun.month)))
        month = "2024-05" if latest == "2024-04" else "2024-04"
        assert run_month(s, month, BD, actor=fm).paid_fen > 0, f"no subsidy paid in {month} (latest run {latest})"
    with unit_of_work(api.session_factory) as s:
        first = list_instructions(s, fm, pool="subsidy")[0]
        import_confirmations(s, fm, [{"instruction_id": str(first.id), "status": "returned", "date": BD.isoformat(),
                                      "bank_reference": "", "note": "account closed"}], BD)
    return first.id


def _subsidy_book(api, pool_fen: int):
    """Three enterprises' loans repaid in April 2024 (1,736,201 fen of subsidy each); ``pool_fen`` in the subsidy pool."""
    loans = []
    with unit_of_work(api.session_factory) as s:
        for n in (911, 912, 913):
            app = application(drawdown=DRAWDOWN, contract_rate_bp=385, borrower_n=n, borrower=borrower(n),
                              maturity_date=add_months(DRAWDOWN, 12),
                              schedule=bullet_schedule(1_000_000_000, DRAWDOWN, 12, interest=3_875_000))
            loans.append(register_loan(s, api.actors["BANK1"], app, BD))
        appropriate(s, pool="subsidy", amount_fen=pool_fen, policy_id="gz-2023", business_date=BD)
    with unit_of_work(api.session_factory) as s:
        for loan in loans:
            for due in (dt.date(2024, 4, 15), dt.date(2024, 5, 15)):
                record_repayment(s, api.actors["BANK1"], loan.id, due, due, 0, 3_875_000, BD)
    return loans


def _clean(api):
    with unit_of_work(api.session_factory) as s:
        return check_ledger(s)


def _state(api):
    with unit_of_work(api.session_factory) as s:
        statuses = dict(s.execute(select(PaymentInstruction.id, PaymentInstruction.status)).all())
        return statuses, balances(s)


def test_instructions_confirmations_returns_and_reissues(sub_api):
    api = sub_api
    fm = api.actors["FM"]
    _subsidy_book(api, 2_000_000)  # the April run needs 3 x 1,736,201: 2,000,000 paid, the rest deferred
    with unit_of_work(api.session_factory) as s:
        april = run_month(s, "2024-04", BD, actor=fm)
    assert (april.paid_fen, april.deferred_fen) == (2_000_000, 3 * 1_736_201 - 2_000_000)
    with unit_of_work(api.session_factory) as s:
        made = list_instructions(s, fm, pool="subsidy")
    # the lines take the cash in S3 order: the first enterprise in full, the second in part
    assert [(i.payee_type, i.amount_fen, i.status) for i in made] == [
        ("enterprise", 1_736_201, "instructed"), ("enterprise", 2_000_000 - 1_736_201, "instructed")]
    assert _clean(api) == []
    b = _state(api)[1]
    assert (b["pool:subsidy:in_transit"], b["liability:subsidy_payable"]) == (2_000_000, -2_000_000)

    # the custodian's batch
    batch = api.get("/api/v1/payments/export", who="FM", params={"pool": "subsidy", "lang": "en"})
    assert batch.status_code == 200
    rows = [r for r in csv.DictReader(io.StringIO(batch.content.decode("utf-8")[1:])) if r["No."].isdigit()]
    assert [int(r["Instruction"]) for r in rows] == [i.id for i in made]

    # all or nothing: a bad row refuses the file, naming it, and nothing changes
    before = _state(api)
    first, second = made
    bad = api.post("/api/v1/payments/confirmations", {"items": [
        {"instruction_id": first.id, "status": "confirmed", "date": BD.isoformat(), "bank_reference": "CUST-1"},
        {"instruction_id": 999_999, "status": "confirmed", "date": BD.isoformat(), "bank_reference": "CUST-2"},
        {"instruction_id": second.id, "status": "returned", "date": "2024-01-01", "note": "account closed"},
    ]}, who="FM")
    assert bad.status_code == 422
    detail = bad.json()["detail"]
    assert "line 3: no instruction 999999" in detail and "line 4" in detail and "line 2" not in detail
    assert _state(api) == before
    with pytest.raises(DomainError) as twice:
        with unit_of_work(api.session_factory) as s:
            import_confirmations(s, fm, [{"instruction_id": str(first.id), "status": "confirmed", "date": BD.isoformat(),
                                          "bank_reference": "A"}] * 2, BD)
    assert "named again" in twice.value.message
    assert _state(api) == before

    # the good file: one confirmed, one returned
    good = api.post("/api/v1/payments/confirmations", {"items": [
        {"instruction_id": first.id, "status": "confirmed", "date": BD.isoformat(), "bank_reference": "CUST-1"},
        {"instruction_id": second.id, "status": "returned", "date": BD.isoformat(), "note": "account closed"},
    ]}, who="FM")
    assert good.status_code == 200, good.text
    assert good.json() == {"confirmed": 1, "returned": 1, "confirmed_fen": 1_736_201, "returned_fen": second.amount_fen}
    assert _clean(api) == []
    b = _state(api)[1]
    assert b["pool:subsidy:in_transit"] == 0 and b["liability:subsidy_payable"] == -second.amount_fen
    assert b["pool:subsidy:cash"] == second.amount_fen  # back in cash, held for the enterprise
    again = api.post("/api/v1/payments/confirmations", {"items": [
        {"instruction_id": first.id, "status": "returned", "date": BD.isoformat()}]}, who="FM")
    assert again.status_code == 422 and "already confirmed" in again.json()["detail"]

    # first in line: the May run cannot spend the returned money (it waits for its payee) ...
    with unit_of_work(api.session_factory) as s:
        may = run_month(s, "2024-05", BD, actor=fm)
    assert (may.paid_fen, may.deferred_fen) == (0, 3 * 1_736_201)
    assert _clean(api) == []
    owed = api.get("/api/v1/payments", who="AUD", params={"status": "owed_again"}).json()["items"]
    assert [o["id"] for o in owed] == [second.id]
    # ... and it is instructed again from that cash, before any deferral is settled
    answer = api.post(f"/api/v1/payments/{second.id}/reissue", {"note": "new account"}, who="FM")
    assert answer.status_code == 201, answer.text
    assert (answer.json()["reissue_of"], answer.json()["amount_fen"]) == (second.id, second.amount_fen)
    assert api.post(f"/api/v1/payments/{second.id}/reissue", {}, who="FM").status_code == 409
    unknown = api.post("/api/v1/payments/999999/reissue", {}, who="FM")
    assert (unknown.status_code, problem_of(unknown)["code"]) == (404, "payment_not_found")
    assert _clean(api) == []
    b = _state(api)[1]
    assert b["pool:subsidy:cash"] == 0 and b["pool:subsidy:in_transit"] == second.amount_fen

    # an inflow settles the deferrals first-in first-out: each settlement is instructed to its enterprises
    with unit_of_work(api.session_factory) as s:
        inflow = appropriate(s, pool="subsidy", amount_fen=10_000_000, policy_id="gz-2023", business_date=BD)
        settled = s.scalar(select(func.sum(PaymentInstruction.amount_fen)).where(PaymentInstruction.source_type == "deferral"))
    assert inflow.settled_fen == settled == (3 * 1_736_201 - 2_000_000) + 3 * 1_736_201
    assert _clean(api) == []
    with unit_of_work(api.session_factory) as s:
        per_enterprise = dict(s.execute(select(PaymentInstruction.payee_code, func.sum(PaymentInstruction.amount_fen))
                                        .where(PaymentInstruction.status != "returned")
                                        .group_by(PaymentInstruction.payee_code)).all())
    assert sorted(per_enterprise.values()) == [2 * 1_736_201] * 3  # every enterprise paid both months in full
