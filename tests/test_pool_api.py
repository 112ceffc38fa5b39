"""Banks in the pool through the API, SQLite and PostgreSQL (docs/rules.md section 12; RULES 10's
suspension example): an agreement recorded through rule G opens coverage from its date (B1); the
approval that passes the 300 bp line suspends the bank (B2); a lift through rule G ends it."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import delete, select

from fund.adapters.db import unit_of_work
from fund.adapters.models.pool import PoolAgreement
from fund.adapters.models.registry import Institution
from fund.services.claims import ledger_violations
from tests.factories import application
from tests.people_support import fast_passwords  # noqa: F401  (fixture)
from tests.test_api_support import Endpoint, api, loan_body, problem_of  # noqa: F401  (fixture)
from tests.test_claims_api import _decide, _file, _keys, _ok, on  # noqa: F401  (fixture)

D = dt.date
READ = frozenset({"bank", "fund_manager", "auditor"})
FM = frozenset({"fund_manager"})

API_MATRIX = {
    ("GET", "/api/v1/agreements"): Endpoint(READ, lambda api, loan: ("GET", "/api/v1/agreements", {}), 200),
    ("GET", "/api/v1/agreements/{agreement_id}"): Endpoint(READ, lambda api, loan: (
        "GET", f"/api/v1/agreements/{_agreement_of(api, 'BANK1')}", {}), 200),
    ("POST", "/api/v1/agreements"): Endpoint(FM, lambda api, loan: ("POST", "/api/v1/agreements", {"json": {
        "bank_code": "BANK1", "policy_id": "gz-2023", "agreed_on": "2024-01-01", "reference": "R-1"}}), 403),
    ("GET", "/api/v1/agreements/loss-ratios"): Endpoint(READ, lambda api, loan: ("GET", "/api/v1/agreements/loss-ratios", {}), 200),
    ("GET", "/api/v1/suspensions"): Endpoint(READ, lambda api, loan: ("GET", "/api/v1/suspensions", {}), 200),
    ("POST", "/api/v1/suspensions/{suspension_id}/lift"): Endpoint(FM, lambda api, loan: (
        "POST", "/api/v1/suspensions/1/lift", {"json": {"reason": "losses recovered"}}), 403),
}


def _agreement_of(api, bank: str) -> int:
    with unit_of_work(api.session_factory) as session:
        return session.scalar(select(PoolAgreement.id).join(Institution, Institution.id == PoolAgreement.bank_id)
                              .where(Institution.code == bank).order_by(PoolAgreement.id).limit(1))


def _loan(api, who: str, drawdown: dt.date) -> dict:
    response = api.post("/api/v1/loans", loan_body(application(drawdown=drawdown, borrower_n=_next())), who=who)
    assert response.status_code == 201, response.text
    return response.json()


_borrowers = iter(range(5000, 9000))


def _next() -> int:
    return next(_borrowers)


def _propose(api, path: str, body: dict) -> dict:
    return _ok(api.post(path, body, who=_keys(api)["fm.officer"]), 202)


def _sign(api, proposal: dict) -> dict:
    return _ok(api.post(f"/api/v1/proposals/{proposal['id']}/approve", who=_keys(api)["fm.approver"]))


def test_an_agreement_through_rule_g_opens_coverage_from_its_date(api, on, fast_passwords):
    on(D(2026, 3, 1))
    with unit_of_work(api.session_factory) as session:
        bank2 = session.scalar(select(Institution.id).where(Institution.code == "BANK2"))
        session.execute(delete(PoolAgreement).where(PoolAgreement.bank_id == bank2, PoolAgreement.policy_id == "gz-2023"))
    outside = _loan(api, "BANK2", D(2026, 2, 1))
    assert outside["coverage"] == "ineligible" and outside["ineligible_reasons"] == ["bank_not_in_pool"]
    assert outside["covered_fen"] == 0
    body = {"bank_code": "BANK2", "policy_id": "gz-2023", "agreed_on": "2026-02-15", "reference": "穗金入池〔2026〕2号"}
    proposal = _propose(api, "/api/v1/agreements", body)
    assert proposal["kind"] == "pool_agreement" and proposal["preview"]["agreed_on"] == "2026-02-15"
    assert "BANK2" not in {a["bank_code"] for a in api.get("/api/v1/agreements?policy_id=gz-2023", who="FM").json()["items"]}
    done = _sign(api, proposal)
    assert done["status"] == "executed"
    mine = api.get("/api/v1/agreements?bank_code=BANK2", who="BANK1").json()["items"]
    assert {(a["policy_id"], a["agreed_on"], a["reference"]) for a in mine} >= {("gz-2023", "2026-02-15", body["reference"])}
    assert {a["bank_code"] for a in mine} == {"BANK2"}  # who is in the pool is public; losses are not (below)
    before = _loan(api, "BANK2", D(2026, 2, 14))
    assert before["ineligible_reasons"] == ["bank_not_in_pool"]
    from_date = _loan(api, "BANK2", D(2026, 2, 15))
    assert from_date["coverage"] == "eligible" and from_date["covered_fen"] == 1_000_000_000
    again = api.post("/api/v1/agreements", body, who=_keys(api)["fm.officer"])
    assert again.status_code == 409 and problem_of(again)["code"] == "agreement_exists"
    assert api.get("/api/v1/agreements/999999", who="BANK2").status_code == 404


def test_rules_10_suspension_example(api, on, fast_passwords):
    """In-pool lending 10 000 000 000, line 300 bp: 300 000 000. Approved L 120 000 000 and 150 000 000
    (270 000 000) do not suspend; a third of 40 000 000 (310 000 000) suspends from that approval's date."""
    on(D(2026, 6, 1))
    loans = [_loan(api, "BANK1", D(2026, 1, 15)) for _ in range(10)]
    assert sum(l["covered_fen"] for l in loans) == 10_000_000_000
    for loan, loss in zip(loans, (120_000_000, 150_000_000)):
        claim = _decide(api, _file(api, loan["id"], loss), "approve")
        assert claim["status"] == "approved"
    ratios = {(r["bank_code"], r["policy_id"]): r for r in api.get("/api/v1/agreements/loss-ratios", who="FM").json()["items"]}
    bank1 = ratios[("BANK1", "gz-2023")]
    assert (bank1["losses_fen"], bank1["in_pool_lending_fen"], bank1["line_fen"], bank1["ratio_bp"], bank1["suspended"]) == (
        270_000_000, 10_000_000_000, 300_000_000, 270, False)
    assert api.get("/api/v1/suspensions", who="FM").json()["items"] == []
    _decide(api, _file(api, loans[2]["id"], 40_000_000), "approve")
    suspensions = api.get("/api/v1/suspensions", who="BANK1").json()["items"]
    assert [(s["bank_code"], s["policy_id"], s["suspended_on"], s["losses_fen"], s["line_fen"]) for s in suspensions] == [
        ("BANK1", "gz-2023", "2026-06-01", 310_000_000, 300_000_000)]
    assert api.get("/api/v1/suspensions", who="BANK2").json()["items"] == []
    assert api.get("/api/v1/agreements/loss-ratios", who="BANK1").json()["items"][-1]["suspended_since"] == "2026-06-01"
    from fund.services.overview import dashboard

    board = dashboard(api.session_factory, api.actors["FM"])  # the console's dashboard read model
    assert [(a.figures["bank"], a.figures["since"]) for a in board.alerts if a.code == "bank_suspended"] == [("BANK1", D(2026, 6, 1))]
    assert {(r.bank_code, r.policy_id): r.losses_fen for r in board.loss_ratios}[("BANK1", "gz-2023")] == 310_000_000
    # loans drawn from that date are bank_suspended whenever registered; earlier ones keep coverage; BANK2 lends on
    assert _loan(api, "BANK1", D(2026, 6, 1))["ineligible_reasons"] == ["bank_suspended"]
    assert _loan(api, "BANK1", D(2026, 5, 31))["coverage"] == "eligible"
    assert _loan(api, "BANK2", D(2026, 6, 1))["coverage"] == "eligible"
    on(D(2026, 6, 10))
    assert _loan(api, "BANK1", D(2026, 6, 5))["ineligible_reasons"] == ["bank_suspended"]
    no_reason = api.post(f"/api/v1/suspensions/{suspensions[0]['id']}/lift", {"reason": ""}, who=_keys(api)["fm.officer"])
    assert no_reason.status_code in (400, 422)
    lift = _propose(api, f"/api/v1/suspensions/{suspensions[0]['id']}/lift", {"reason": "recoveries reported; bank's plan accepted"})
    assert lift["kind"] == "lift_suspension"
    assert _sign(api, lift)["figures"]["lifted_on"] == "2026-06-10"
    assert _loan(api, "BANK1", D(2026, 6, 10))["coverage"] == "eligible"
    assert _loan(api, "BANK1", D(2026, 6, 9))["ineligible_reasons"] == ["bank_suspended"]
    after = {(r["bank_code"], r["policy_id"]): r for r in api.get("/api/v1/agreements/loss-ratios", who="AUD").json()["items"]}
    assert after[("BANK1", "gz-2023")]["losses_fen"] == 0 and not after[("BANK1", "gz-2023")]["suspended"]
    with unit_of_work(api.session_factory) as session:
        assert ledger_violations(session) == []
