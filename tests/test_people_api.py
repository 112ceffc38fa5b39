"""People, proposals and the audit trail over HTTP: the authorisation matrix rows of /users,
/proposals and /audit; the fund manager's personal keys act as their person (rule G1 applies to them
as to a signed-in person); the request id ties the audit record and the problem details together."""

from __future__ import annotations

import pytest

from fund.adapters.db import unit_of_work
from fund.services import people, proposals
from tests.people_support import add_staff, fast_passwords  # noqa: F401
from tests.test_api_support import Endpoint, api, new_key, problem_of  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("fast_passwords")
FM, AUDITOR = "fund_manager", "auditor"
READERS = frozenset({FM, AUDITOR})
ONLY_FM = frozenset({FM})


def _staff(api):
    """The test staff once per app, and one open proposal (for the rows that read one)."""
    if not hasattr(api, "staff"):
        with unit_of_work(api.session_factory) as session:
            api.staff = add_staff(session)
        api.proposal = proposals.propose(api.session_factory, api.staff["fm.officer"], NOOP.name, {}).id
    return api.staff


# A kind of this test's own: another area registers its kinds the same way.
NOOP = proposals.register_kind(proposals.ProposalKind(
    "test_noop", "a decision that does nothing", lambda p: {}, lambda p: "test:noop", lambda s, a, p, d: {"done": True}))


def _proposal(api) -> int:
    _staff(api)
    return api.proposal


# An institutional fund manager key reads; deciding and managing users need a person (403
# person_required / not_admin): the flows below use personal keys.
API_MATRIX = {
    ("GET", "/api/v1/users"): Endpoint(READERS, lambda api, loan: ("GET", "/api/v1/users", {}), 200),
    ("POST", "/api/v1/users"): Endpoint(ONLY_FM, lambda api, loan: ("POST", "/api/v1/users", {"json": {
        "institution": "BANK2", "login": "someone", "display_name": "Some One", "roles": ["staff"],
        "password": "long enough password"}}), 403),
    ("POST", "/api/v1/users/{login}/disable"): Endpoint(
        ONLY_FM, lambda api, loan: ("POST", "/api/v1/users/bank1.staff/disable", {}), 403),
    ("POST", "/api/v1/users/{login}/password"): Endpoint(
        ONLY_FM, lambda api, loan: ("POST", "/api/v1/users/bank1.staff/password", {"json": {"password": "another long one"}}), 403),
    ("GET", "/api/v1/proposals"): Endpoint(READERS, lambda api, loan: ("GET", "/api/v1/proposals", {}), 200),
    ("GET", "/api/v1/proposals/{proposal_id}"): Endpoint(
        READERS, lambda api, loan: ("GET", f"/api/v1/proposals/{_proposal(api)}", {}), 200),
    ("POST", "/api/v1/proposals"): Endpoint(ONLY_FM, lambda api, loan: ("POST", "/api/v1/proposals", {"json": {
        "kind": "lpr_checked_through", "params": {"through": "2026-10-30"}}}), 403),
    ("POST", "/api/v1/proposals/{proposal_id}/approve"): Endpoint(
        ONLY_FM, lambda api, loan: ("POST", f"/api/v1/proposals/{_proposal(api)}/approve", {}), 403),
    ("POST", "/api/v1/proposals/{proposal_id}/decline"): Endpoint(
        ONLY_FM, lambda api, loan: ("POST", f"/api/v1/proposals/{_proposal(api)}/decline", {"json": {"reason": "no"}}), 403),
    ("POST", "/api/v1/proposals/{proposal_id}/withdraw"): Endpoint(
        ONLY_FM, lambda api, loan: ("POST", f"/api/v1/proposals/{_proposal(api)}/withdraw", {}), 403),
    ("GET", "/api/v1/audit"): Endpoint(READERS, lambda api, loan: ("GET", "/api/v1/audit", {}), 200),
    ("POST", "/api/v1/loans/{loan_id}/repayments/{repayment_id}/reverse"): Endpoint(
        frozenset({"bank"}), lambda api, loan: ("POST", f"/api/v1/loans/{loan['id']}/repayments/{_repaid(api, loan)}/reverse",
                                                {"json": {"reason": "entered twice"}}), 201, other_bank=404, needs_loan=True),
}


def _repaid(api, loan) -> int:
    """A repayment of BANK1 on ``loan`` (recorded by the service)."""
    import datetime as dt

    from fund.services.registry import record_repayment

    due = dt.date.fromisoformat(loan["schedule"][0]["due_date"])
    with unit_of_work(api.session_factory) as session:
        return record_repayment(session, api.actors["BANK1"], loan["id"], due, due, 0, 1, due).id


def _personal_keys(api) -> dict[str, str]:
    staff = _staff(api)
    keys = {}
    for login in ("fm.officer", "fm.approver", "fm.admin"):
        keys[login] = people.issue_person_key(api.session_factory, staff["fm.admin"], login).key
    return keys


def test_a_personal_key_acts_as_its_person(api):
    keys = _personal_keys(api)
    made = api.post("/api/v1/proposals", {"kind": "lpr_checked_through", "params": {"through": "2026-10-30"}},
                    who=keys["fm.officer"])
    assert made.status_code == 202, made.text
    body = made.json()
    assert (body["status"], body["proposed_by"], body["target"]) == ("open", "fm.officer", "lpr:checked_through")
    own = api.client.post(f"/api/v1/proposals/{body['id']}/approve",
                          headers={**api.headers(keys["fm.officer"], new_key()), "X-Request-ID": "req-own-signoff"})
    assert own.status_code == 403 and problem_of(own)["code"] == "same_person"
    assert own.json()["request_id"] == "req-own-signoff" and own.headers["x-request-id"] == "req-own-signoff"
    signed = api.post(f"/api/v1/proposals/{body['id']}/approve", who=keys["fm.approver"])
    assert signed.status_code == 200 and signed.json()["status"] == "executed"
    assert signed.json()["decided_by"] == "fm.approver" and signed.headers["x-request-id"]
    trail = api.get("/api/v1/audit", who="AUD", params={"target": "lpr:checked_through"}).json()["items"]
    steps = [(r["action"], r["outcome"], r["login"], r["error_code"]) for r in trail]
    assert ("lpr_checked_through.sign_off", "refused", "fm.officer", "same_person") in steps
    assert steps[-1] == ("lpr_checked_through.sign_off", "done", "fm.approver", None)
    refused = next(r for r in trail if r["error_code"] == "same_person")
    assert refused["request_id"] == "req-own-signoff" and refused["display_name"] == "Fm Officer"
    listed = api.get("/api/v1/proposals", who="FM", params={"status": "executed"}).json()["items"]
    assert [p["id"] for p in listed] == [body["id"]]


def test_two_people_with_one_idempotency_key_get_their_own_answers(api):
    keys = _personal_keys(api)
    shared = new_key()
    first = api.post("/api/v1/proposals", {"kind": "lpr_checked_through", "params": {"through": "2026-10-30"}},
                     who=keys["fm.officer"], key=shared)
    assert first.status_code == 202
    other = api.post(f"/api/v1/proposals/{first.json()['id']}/approve", who=keys["fm.approver"], key=shared)
    assert other.status_code == 200 and other.json()["status"] == "executed" and "Idempotent-Replayed" not in other.headers


def test_admin_manages_users_by_personal_key(api):
    keys = _personal_keys(api)
    added = api.post("/api/v1/users", {"institution": "BANK2", "login": "bank2.staff", "display_name": "Wang Fang",
                                       "roles": ["staff"], "password": "long enough password"}, who=keys["fm.admin"])
    assert added.status_code == 201, added.text
    assert added.json()["roles"] == ["staff"] and "password" not in added.text
    weak = api.post("/api/v1/users", {"institution": "BANK2", "login": "x.y", "display_name": "X", "roles": ["staff"],
                                      "password": "short"}, who=keys["fm.admin"])
    assert weak.status_code == 422
    wrong_role = api.post("/api/v1/users", {"institution": "BANK2", "login": "x.z", "display_name": "X", "roles": ["approver"],
                                            "password": "long enough password"}, who=keys["fm.admin"])
    assert wrong_role.status_code == 422 and problem_of(wrong_role)["code"] == "invalid_roles"
    not_admin = api.post("/api/v1/users/bank2.staff/disable", who=keys["fm.officer"])
    assert not_admin.status_code == 403 and problem_of(not_admin)["code"] == "not_admin"
    disabled = api.post("/api/v1/users/bank2.staff/disable", who=keys["fm.admin"])
    assert disabled.status_code == 200 and disabled.json()["active"] is False
    users = {u["login"]: u for u in api.get("/api/v1/users", who="AUD").json()["items"]}
    assert users["bank2.staff"]["active"] is False and users["fm.officer"]["language"] == "zh"
    actions = [(r["action"], r["outcome"]) for r in
               api.get("/api/v1/audit", who="FM", params={"person": "fm.admin", "limit": 50}).json()["items"]]
    assert ("user.add", "done") in actions and ("user.disable", "done") in actions and ("user.add", "refused") in actions


def test_a_disabled_persons_key_is_refused(api):
    keys = _personal_keys(api)
    people.disable_user(api.session_factory, api.staff["fm.admin"], "fm.officer")
    response = api.get("/api/v1/proposals", who=keys["fm.officer"])
    assert response.status_code == 401 and problem_of(response)["code"] == "user_disabled"


def test_a_bank_reverses_a_repayment(api):
    loan = api.register()
    repayment_id = _repaid(api, loan)
    url = f"/api/v1/loans/{loan['id']}/repayments/{repayment_id}/reverse"
    done = api.post(url, {"reason": "entered twice"})
    assert done.status_code == 201, done.text
    assert (done.json()["repayment_id"], done.json()["interest_fen"], done.json()["loan_status"]) == (repayment_id, 1, "active")
    again = api.post(url, {"reason": "entered twice"})
    assert again.status_code == 409 and problem_of(again)["code"] == "already_reversed"
    trail = api.get("/api/v1/audit", who="AUD", params={"target": f"repayment:{repayment_id}"}).json()["items"]
    assert [(r["institution"], r["outcome"], r["error_code"]) for r in trail] == [("BANK1", "done", None),
                                                                                  ("BANK1", "refused", "already_reversed")]


def test_every_change_through_the_api_is_an_audit_record(api):
    loan = api.register()
    refused = api.post(f"/api/v1/loans/{loan['id']}/claims", {"loss_fen": 2_000_000_000})  # more than outstanding
    assert refused.status_code == 422
    trail = api.get("/api/v1/audit", who="AUD", params={"target": f"loan:{loan['id']}"}).json()["items"]
    assert [(r["action"], r["institution"], r["outcome"], r["error_code"]) for r in trail] == [
        ("POST /loans/{loan_id}/claims", "BANK1", "refused", problem_of(refused)["code"])]
    registered = api.get("/api/v1/audit", who="AUD", params={"action": "POST /loans"}).json()["items"]
    assert len(registered) == 1 and registered[0]["key_prefix"] and registered[0]["outcome"] == "done"


def test_audit_paging_and_filters(api):
    _personal_keys(api)
    first = api.get("/api/v1/audit", who="AUD", params={"limit": 2}).json()
    assert len(first["items"]) == 2 and first["next_after_id"] == first["items"][-1]["id"]
    rest = api.get("/api/v1/audit", who="AUD", params={"after_id": first["next_after_id"], "limit": 500}).json()
    assert rest["items"][0]["id"] > first["next_after_id"] and rest["next_after_id"] is None
    assert api.get("/api/v1/audit", who="AUD", params={"action": "key.create"}).json()["items"]
    assert api.get("/api/v1/audit", who="AUD", params={"from": "2999-01-01T00:00:00Z"}).json()["items"] == []
    assert api.get("/api/v1/audit", who="AUD", params={"institution": "BANK1"}).json()["items"] == []
