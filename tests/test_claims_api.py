"""Claims, appropriations, the journal and the fund report through the HTTP API, on both backends:
RULES section 10's worked examples on splits, recoveries, the bank cap and cash; who reads which
claim; refusals as problem details; idempotent approvals. Approvals, rejections and appropriations
are proposals (docs/rules.md section 11, G1): an officer's personal key proposes, an approver's signs
off. Also the endpoints' rows of the authorisation matrix (``tests/test_api_auth.py``)."""

from __future__ import annotations

import datetime as dt

import pytest

from fund.adapters.db import unit_of_work
from fund.services import claims as claims_service
from fund.services.common import business_date
from fund.settings import reset_settings_cache
from tests.factories import application
from tests.people_support import add_staff, fast_passwords  # noqa: F401
from tests.test_api_support import Endpoint, api, loan_body, new_key, problem_of  # noqa: F401  (fixture)

pytestmark = [pytest.mark.db, pytest.mark.usefixtures("fast_passwords")]
D = dt.date
BANK, INSURER, APPRAISER, FM, AUDITOR = "bank", "insurer_or_guarantor", "appraiser", "fund_manager", "auditor"
READ = frozenset({BANK, FM, AUDITOR})


def _claim(api, loan, *, approve: bool = False) -> int:
    """A claim of 100 000 fen filed (and approved) on ``loan`` by the services, as of the business date."""
    with unit_of_work(api.session_factory) as session:
        day = business_date(session)
        claim = claims_service.file_claim(session, api.actors["BANK1"], loan["id"], 100_000, day)
        if approve:
            claims_service.approve_claim(session, api.actors["FM"], claim.id, day)
        return claim.id


def _on_claim(suffix: str, *, approve: bool = False, body=None):
    def request(api, loan):
        url = f"/api/v1/loans/{loan['id']}/claims/{_claim(api, loan, approve=approve)}{suffix}"
        return ("POST" if suffix else "GET", url, {} if body is None else {"json": body})

    return request


# Rows of the authorisation matrix (tests/test_api_auth.py).
API_MATRIX = {
    ("POST", "/api/v1/loans/{loan_id}/claims"): Endpoint(
        frozenset({BANK}), lambda api, loan: ("POST", f"/api/v1/loans/{loan['id']}/claims", {"json": {"loss_fen": 100_000}}),
        201, other_bank=404, needs_loan=True),
    ("GET", "/api/v1/loans/{loan_id}/claims"): Endpoint(
        READ, lambda api, loan: ("GET", f"/api/v1/loans/{loan['id']}/claims", {}), 200, other_bank=404, needs_loan=True),
    ("GET", "/api/v1/loans/{loan_id}/claims/{claim_id}"): Endpoint(READ, _on_claim(""), 200, other_bank=404, needs_loan=True),
    ("POST", "/api/v1/loans/{loan_id}/claims/{claim_id}/loss"): Endpoint(
        frozenset({BANK}), _on_claim("/loss", body={"loss_fen": 50_000}), 200, other_bank=404, needs_loan=True),
    ("POST", "/api/v1/loans/{loan_id}/claims/{claim_id}/withdraw"): Endpoint(
        frozenset({BANK}), _on_claim("/withdraw"), 200, other_bank=404, needs_loan=True),
    # Deciding needs a person (rule G1): the fund manager's institutional key is refused, 403 person_required;
    # the flows below decide with personal keys.
    ("POST", "/api/v1/loans/{loan_id}/claims/{claim_id}/approve"): Endpoint(
        frozenset({FM}), _on_claim("/approve"), 403, needs_loan=True),
    ("POST", "/api/v1/loans/{loan_id}/claims/{claim_id}/reject"): Endpoint(
        frozenset({FM}), _on_claim("/reject", body={"reason": "incomplete file"}), 403, needs_loan=True),
    ("POST", "/api/v1/loans/{loan_id}/claims/{claim_id}/recoveries"): Endpoint(
        frozenset({BANK}), _on_claim("/recoveries", approve=True, body={"gross_fen": 1_000}), 201, other_bank=404, needs_loan=True),
    ("POST", "/api/v1/loans/{loan_id}/claims/{claim_id}/close"): Endpoint(
        frozenset({BANK}), _on_claim("/close", approve=True), 200, other_bank=404, needs_loan=True),
    ("GET", "/api/v1/claims"): Endpoint(
        frozenset({BANK, INSURER, APPRAISER, FM, AUDITOR}), lambda api, loan: ("GET", "/api/v1/claims", {}), 200),
    ("POST", "/api/v1/fund/appropriations"): Endpoint(
        frozenset({FM}), lambda api, loan: ("POST", "/api/v1/fund/appropriations",
                                             {"json": {"pool": "compensation", "amount_fen": 1_000, "reference": "R-1"}}), 403),
    ("GET", "/api/v1/ledger/journal"): Endpoint(frozenset({FM, AUDITOR}), lambda api, loan: ("GET", "/api/v1/ledger/journal", {}), 200),
    ("GET", "/api/v1/ledger/check"): Endpoint(frozenset({FM, AUDITOR}), lambda api, loan: ("GET", "/api/v1/ledger/check", {}), 200),
    ("GET", "/api/v1/reports/fund"): Endpoint(frozenset({FM, AUDITOR}), lambda api, loan: ("GET", "/api/v1/reports/fund", {}), 200),
}


@pytest.fixture
def on(monkeypatch):
    def set_business_date(day: dt.date) -> None:
        monkeypatch.setenv("IPFUND_BUSINESS_DATE", day.isoformat())
        reset_settings_cache()

    return set_business_date


def _ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


def _register(api, app) -> dict:
    return api.register(body=loan_body(app))


def _file(api, loan_id: int, loss: int, who: str = "BANK1") -> dict:
    return _ok(api.post(f"/api/v1/loans/{loan_id}/claims", {"loss_fen": loss}, who=who), 201)


def _keys(api) -> dict[str, str]:
    """Personal keys of the fund manager's officer and approver (made once per app)."""
    if not hasattr(api, "personal"):
        from fund.services.people import issue_person_key

        with unit_of_work(api.session_factory) as session:
            staff = add_staff(session, {"fm.officer": ("FM", ("officer",)), "fm.approver": ("FM", ("approver",)),
                                        "fm.admin": ("FM", ("admin",))})
        api.personal = {login: issue_person_key(api.session_factory, staff["fm.admin"], login).key
                        for login in ("fm.officer", "fm.approver")}
    return api.personal


def _act(api, claim: dict, action: str, body=None, who: str = "FM", status: int = 200, key: str | None = None):
    return api.post(f"/api/v1/loans/{claim['loan_id']}/claims/{claim['id']}/{action}", body, who=who, key=key)


def _sign_off(api, proposal: dict) -> dict:
    """The approver signs off the officer's proposal; the executed proposal."""
    own = api.post(f"/api/v1/proposals/{proposal['id']}/approve", who=_keys(api)["fm.officer"])
    assert own.status_code == 403 and problem_of(own)["code"] == "same_person"
    return _ok(api.post(f"/api/v1/proposals/{proposal['id']}/approve", who=_keys(api)["fm.approver"]))


def _decide(api, claim: dict, action: str, body=None) -> dict:
    """``approve`` or ``reject`` the claim the G1 way (officer proposes, approver signs off): the claim after."""
    proposal = _ok(_act(api, claim, action, body, who=_keys(api)["fm.officer"]), 202)
    done = _sign_off(api, proposal)
    assert done["status"] == "executed" and done["figures"]["status"] == ("approved" if action == "approve" else "rejected")
    return _ok(api.get(f"/api/v1/loans/{claim['loan_id']}/claims/{claim['id']}", who="FM"))


_references = iter(range(1, 10_000))


def _appropriate(api, amount: int, policy_id: str | None = None) -> dict:
    """An appropriation proposed and signed off; what it did (the proposal's figures)."""
    body = {"pool": "compensation", "amount_fen": amount, "reference": f"穗财〔2026〕{next(_references)}号"} | (
        {"policy_id": policy_id} if policy_id else {})
    proposal = _ok(api.post("/api/v1/fund/appropriations", body, who=_keys(api)["fm.officer"]), 202)
    assert proposal["preview"]["amount_fen"] == amount
    return _sign_off(api, proposal)["figures"]


def _split(claim: dict) -> tuple[int, ...]:
    a = claim["allocation"]
    return a["base_fen"], a["fund_fen"], a["insurer_fen"], a["appraiser_fen"], a["bank_fen"]


def _ledger_ok(api) -> None:
    check = _ok(api.get("/api/v1/ledger/check", who="AUD"))
    assert check == {"ok": True, "violations": []}


def test_split_and_recovery_examples_through_the_api(api, on):
    """gz-2020 scheme 5311: the two splits of RULES section 10, then the recovery of the first, whole
    and in two, and the later total of 700 000 000."""
    drawdown = D(2022, 1, 10)
    on(drawdown)
    _appropriate(api, 4_000_000_000, "gz-2020")
    terms = dict(principal=1_000_000_000, drawdown=drawdown, scheme="5311", insurer_code="INS1", appraiser_code="APR1")
    loans = [_register(api, application(borrower_n=600 + k, ip_share_bp=share, **terms)) for k, share in enumerate((8000, 7000, 8000))]
    assert [loan["covered_fen"] for loan in loans] == [800_000_000, 700_000_000, 800_000_000]

    on(D(2022, 6, 1))
    claims = [_file(api, loan["id"], loss) for loan, loss in zip(loans, (600_000_000, 100_000_005, 600_000_000))]
    approved = [_decide(api, claim, "approve") for claim in claims]
    assert _split(approved[0]) == _split(approved[2]) == (480_000_000, 240_000_000, 144_000_000, 48_000_000, 168_000_000)
    assert _split(approved[1]) == (70_000_003, 35_000_001, 21_000_000, 7_000_000, 37_000_004)
    assert approved[0]["cap"]["cap_bp"] is None and approved[0]["policy_id"] == "gz-2020"
    assert approved[0]["payment"]["paid_at_approval_fen"] == 240_000_000

    on(D(2022, 9, 1))
    whole = _ok(_act(api, claims[0], "recoveries", {"gross_fen": 120_000_001, "costs_fen": 20_000_000}, who="BANK1"), 201)
    r = whole["recovery"]
    assert (r["net_fen"], r["fund_fen"], r["insurer_fen"], r["appraiser_fen"], r["bank_fen"]) == (
        100_000_001, 40_000_000, 24_000_000, 8_000_000, 28_000_001)
    first = _ok(_act(api, claims[2], "recoveries", {"gross_fen": 50_000_000}, who="BANK1"), 201)["recovery"]
    second = _ok(_act(api, claims[2], "recoveries", {"gross_fen": 50_000_001}, who="BANK1"), 201)
    assert (first["bank_fen"], second["recovery"]["bank_fen"]) == (14_000_000, 14_000_001)
    assert second["claim"]["recovered"] == {**whole["claim"]["recovered"], "gross_fen": 100_000_001, "costs_fen": 0}

    on(D(2023, 3, 1))
    for claim in (claims[0], claims[2]):
        done = _ok(_act(api, claim, "recoveries", {"gross_fen": 700_000_000 - 100_000_001}, who="BANK1"), 201)["claim"]["recovered"]
        assert (done["net_fen"], done["fund_fen"], done["insurer_fen"], done["appraiser_fen"], done["bank_fen"]) == (
            700_000_000, 240_000_000, 144_000_000, 48_000_000, 268_000_000)
    closed = _ok(_act(api, claims[0], "close", who="BANK1"))
    assert closed["status"] == "closed" and [e["event"] for e in closed["events"]] == [
        "filed", "approved", "recovery", "recovery", "closed"]
    assert _ok(api.get(f"/api/v1/loans/{loans[0]['id']}"))["status"] == "closed"

    # Insurers, guarantors and appraisers read the claims carrying a share of theirs.
    seen_by_insurer = _ok(api.get("/api/v1/claims", who="INS1"))["items"]
    assert [c["id"] for c in seen_by_insurer] == [c["id"] for c in claims]
    assert seen_by_insurer[1]["allocation"]["insurer_fen"] == 21_000_000 and seen_by_insurer[1]["cap"] is not None
    assert [c["id"] for c in _ok(api.get("/api/v1/claims", who="APR1"))["items"]] == [c["id"] for c in claims]
    assert _ok(api.get("/api/v1/claims", who="GUA1"))["items"] == []
    assert _ok(api.get("/api/v1/claims", who="BANK2"))["items"] == []
    _ledger_ok(api)


def test_bank_cap_and_cash_example_through_the_api(api, on):
    """In-pool lending 2e10 (cap 500 bp: room 1e9 a year), cash 1e9; approvals of 400M, 450M, 150M of
    300M, then 50M deferred in 2027; an appropriation of 5e9 settles the 50M first."""
    drawdown = D(2026, 1, 15)
    on(drawdown)
    apps = []
    for n in range(1, 12):
        count = 2 if n < 10 else 1
        apps += [application(borrower_n=700 + n, principal=1_000_000_000, drawdown=drawdown) for _ in range(count)]
    halves = [application(borrower_n=700 + n, principal=1_000_000_000, ip_share_bp=5000, drawdown=drawdown) for n in (10, 11)]
    apps = apps[:19] + halves
    response = api.post("/api/v1/loans/batch", {"items": [loan_body(a) for a in apps]})
    loans = _ok(response, 201)["items"]
    assert sum(loan["covered_fen"] for loan in loans) == 20_000_000_000
    _appropriate(api, 1_000_000_000, "gz-2023")

    on(D(2026, 6, 1))
    expected = [(800_000_000, 400_000_000, 400_000_000, 0), (900_000_000, 450_000_000, 450_000_000, 0),
                (600_000_000, 150_000_000, 150_000_000, 150_000_000)]
    for loan, (loss, fund, paid, cut) in zip(loans, expected):
        claim = _decide(api, _file(api, loan["id"], loss), "approve")
        assert (claim["allocation"]["fund_fen"], claim["allocation"]["bank_fen"], claim["payment"]["paid_at_approval_fen"]) == (
            fund, loss - fund, paid)
        assert (claim["cap"]["in_pool_lending_fen"], claim["cap"]["cap_fen"], claim["cap"]["cut_fen"]) == (
            20_000_000_000, 1_000_000_000, cut)
    report = _ok(api.get("/api/v1/reports/fund", who="AUD"))
    assert report["pools"][0]["cash_fen"] == 0
    assert [(c["bank"], c["room_fen"], c["used_fen"]) for c in report["caps"]] == [("BANK1", 0, 1_000_000_000)]

    on(D(2027, 1, 5))
    late = _decide(api, _file(api, loans[19]["id"], 200_000_000), "approve")
    assert (late["allocation"]["base_fen"], late["allocation"]["fund_fen"], late["allocation"]["bank_fen"]) == (
        100_000_000, 50_000_000, 150_000_000)
    assert (late["payment"]["paid_at_approval_fen"], late["payment"]["deferred_at_approval_fen"]) == (0, 50_000_000)

    on(D(2027, 2, 1))
    inflow = _appropriate(api, 5_000_000_000, "gz-2023")
    assert (inflow["settled_fen"], inflow["to_cash_fen"]) == (50_000_000, 4_950_000_000)
    assert [(s["ref_type"], s["ref_id"], s["amount_fen"]) for s in inflow["settlements"]] == [("claim", late["id"], 50_000_000)]
    report = _ok(api.get("/api/v1/reports/fund", who="FM"))
    assert report["pools"][0] == {"pool": "compensation", "cash_fen": 4_950_000_000, "deferred_fen": 0, "appropriated_fen": 6_000_000_000}
    assert [(c["year"], c["claims"], c["approved_fen"], c["paid_fen"]) for c in report["compensation"]] == [
        (2026, 3, 1_000_000_000, 1_000_000_000), (2027, 1, 50_000_000, 50_000_000)]
    journal = _ok(api.get("/api/v1/ledger/journal", who="AUD", params={"cause": "deferral_settlement"}))["items"]
    assert [{p["account"]: p["amount_fen"] for p in e["postings"]} for e in journal] == [
        {"liability:compensation_deferred": 50_000_000, "pool:compensation:cash": -50_000_000,
         "pool:compensation:in_transit": 50_000_000, "liability:compensation_payable": -50_000_000}]  # RULES 6 (revision 2)
    _ledger_ok(api)


def test_refusals_are_problem_details_and_approval_is_idempotent(api, on):
    on(D(2026, 1, 20))
    loan = api.register()  # drawn 2026-01-15 under gz-2023; first installment due 2026-02-15
    on(D(2026, 5, 15))
    early = api.post(f"/api/v1/loans/{loan['id']}/claims", {"loss_fen": 1_000})
    assert early.status_code == 422 and problem_of(early)["code"] == "claim_too_early"
    on(D(2026, 6, 1))
    too_much = api.post(f"/api/v1/loans/{loan['id']}/claims", {"loss_fen": 1_000_000_001})
    assert too_much.status_code == 422 and problem_of(too_much)["field"] == "loss_fen"
    strict = api.post(f"/api/v1/loans/{loan['id']}/claims", {"loss_fen": "1000"})
    assert strict.status_code == 422
    claim = _file(api, loan["id"], 1_000)
    again = api.post(f"/api/v1/loans/{loan['id']}/claims", {"loss_fen": 1_000})
    assert again.status_code == 409 and problem_of(again)["code"] == "claim_exists"
    other_loan = api.register()
    wrong_pair = api.get(f"/api/v1/loans/{other_loan['id']}/claims/{claim['id']}")
    assert wrong_pair.status_code == 404 and problem_of(wrong_pair)["code"] == "claim_not_found"
    hidden = api.get(f"/api/v1/loans/{loan['id']}/claims/{claim['id']}", who="BANK2")
    assert hidden.status_code == 404 and problem_of(hidden)["code"] == "loan_not_found"
    officer = _keys(api)["fm.officer"]
    no_reason = _act(api, claim, "reject", {"reason": ""}, who=officer)
    assert no_reason.status_code == 422

    _appropriate(api, 10_000)
    key = new_key()
    first = _act(api, claim, "approve", who=officer, key=key)
    replay = _act(api, claim, "approve", who=officer, key=key)
    assert first.status_code == replay.status_code == 202
    assert replay.headers.get("Idempotent-Replayed") == "true" and replay.json() == first.json()
    pending = _act(api, claim, "approve", who=officer)  # one open proposal per decision
    assert pending.status_code == 409 and problem_of(pending)["code"] == "proposal_exists"
    assert _sign_off(api, first.json())["figures"]["status"] == "approved"
    twice = _act(api, claim, "approve", who=officer)
    assert twice.status_code == 409 and problem_of(twice)["code"] == "invalid_claim_status"
    journal = _ok(api.get("/api/v1/ledger/journal", who="FM", params={"cause": "claim_approval"}))["items"]
    assert len(journal) == 1 and journal[0]["ref_id"] == claim["id"]
    assert _ok(api.get(f"/api/v1/loans/{loan['id']}/claims"))["items"][0]["status"] == "approved"
    bad_pool = api.post("/api/v1/fund/appropriations", {"pool": "bonus", "amount_fen": 1, "reference": "X"}, who=officer)
    assert bad_pool.status_code == 422
    _ledger_ok(api)
